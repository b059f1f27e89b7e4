package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// Removing files.
//
// The block store keeps no reference counts: identical bodies share a root
// CID and files with a common 1 MiB chunk share a raw leaf, so a block may
// belong to several files. RemoveFiles therefore marks before it sweeps:
// it collects the blocks under the roots to remove, then walks every root
// the caller keeps and every dataset version the store records, and deletes
// only the blocks no kept DAG reaches. Walking reads only the dag-pb nodes
// (raw leaves are known by their CID), so the cost is small next to the
// bytes it frees.
//
// A dataset publish, CAR import or AddFile running in the same store at
// the same moment writes blocks before anything records them; RemoveFiles
// cannot see those as kept. The caller must not remove a file while the
// same bytes may be added again (node.BlobStore holds a lock across both),
// and should not collect a store that is importing datasets concurrently.
// Pebble frees the disk space of deleted blocks at its next compaction.

// RemoveFile deletes the blocks of the UnixFS DAG under root, keeping every
// block that the DAGs under keep or any recorded dataset version also
// reach. It returns the bytes of the blocks it deleted; removing a root the
// store does not hold frees nothing and is not an error.
func (s *Store) RemoveFile(ctx context.Context, root cid.Cid, keep ...cid.Cid) (int64, error) {
	return s.RemoveFiles(ctx, []cid.Cid{root}, keep)
}

// RemoveFiles is RemoveFile for many roots with one marking walk. A root
// that also appears in keep, or that a dataset version reaches, is kept.
func (s *Store) RemoveFiles(ctx context.Context, roots, keep []cid.Cid) (int64, error) {
	doomed := map[string]cid.Cid{}
	for _, r := range roots {
		if err := s.walkDAG(ctx, r, doomed); err != nil {
			return 0, fmt.Errorf("removing %s: %w", r, err)
		}
	}
	if len(doomed) == 0 {
		return 0, nil
	}
	kept, err := s.reachable(ctx, keep)
	if err != nil {
		return 0, fmt.Errorf("removing files: %w", err)
	}
	// Delete in a fixed order so a failure part-way is reproducible.
	keys := make([]string, 0, len(doomed))
	for k := range doomed {
		if _, ok := kept[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var freed int64
	for _, k := range keys {
		c := doomed[k]
		n, err := s.bs.GetSize(ctx, c)
		if ipld.IsNotFound(err) {
			continue
		}
		if err != nil {
			return freed, fmt.Errorf("removing block %s: reading its size: %w", c, err)
		}
		if err := s.bs.DeleteBlock(ctx, c); err != nil {
			return freed, fmt.Errorf("removing block %s: %w", c, err)
		}
		freed += int64(n)
	}
	return freed, nil
}

// reachable walks the roots in keep and every dataset version (and head)
// the store records, returning the blocks they reach keyed by multihash.
func (s *Store) reachable(ctx context.Context, keep []cid.Cid) (map[string]cid.Cid, error) {
	seen := map[string]cid.Cid{}
	for _, r := range keep {
		if err := s.walkDAG(ctx, r, seen); err != nil {
			return nil, fmt.Errorf("walking kept file %s: %w", r, err)
		}
	}
	roots, err := s.datasetRoots(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range roots {
		if err := s.walkDAG(ctx, r, seen); err != nil {
			return nil, fmt.Errorf("walking dataset version %s: %w", r, err)
		}
	}
	return seen, nil
}

// datasetRoots lists the head and every recorded version of every dataset.
func (s *Store) datasetRoots(ctx context.Context) ([]cid.Cid, error) {
	names, err := s.Datasets(ctx)
	if err != nil {
		return nil, err
	}
	var roots []cid.Cid
	for _, name := range names {
		head, err := s.Head(ctx, name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if err == nil {
			roots = append(roots, head)
		}
		vs, err := s.Versions(ctx, name)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			c, err := cid.Decode(v.CID)
			if err != nil {
				// An unreadable record could hide a version's blocks:
				// refuse to delete anything rather than guess.
				return nil, fmt.Errorf("version %d of dataset %q has a bad CID %q: %w", v.Seq, name, v.CID, err)
			}
			roots = append(roots, c)
		}
	}
	return roots, nil
}

// walkDAG adds every block under root to seen, keyed by multihash (the
// block store's own key, so a CID's version or codec does not matter).
// Blocks the store lacks are recorded but not followed: nothing can reach
// their children through them.
func (s *Store) walkDAG(ctx context.Context, root cid.Cid, seen map[string]cid.Cid) error {
	stack := []cid.Cid{root}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		k := string(c.Hash())
		if _, ok := seen[k]; ok {
			continue
		}
		seen[k] = c
		if c.Type() == cid.Raw {
			continue
		}
		nd, err := s.dag.Get(ctx, c)
		if ipld.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading block %s: %w", c, err)
		}
		for _, l := range nd.Links() {
			stack = append(stack, l.Cid)
		}
	}
	return nil
}

// LooseFile is a file in the store that nothing else refers to.
type LooseFile struct {
	// Root is the file's root CID: dag-pb for a UnixFS file of several
	// chunks, raw for a single-block one.
	Root cid.Cid
	// Bytes is the total size of the blocks under Root.
	Bytes int64
}

// LooseFiles lists the files in the store that no other block links to and
// no dataset version reaches: what AddFile stored, for an owner that lost
// its own list of them. It reads every block smaller than ChunkSize once
// (larger ones are raw leaves), so it costs a pass over the store's
// metadata-sized blocks. Loose UnixFS directories and other dag-pb nodes
// are not files and are not listed.
func (s *Store) LooseFiles(ctx context.Context) ([]LooseFile, error) {
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	keys, done, err := allKeys(lctx, s.bs)
	if err != nil {
		return nil, fmt.Errorf("listing blocks: %w", err)
	}
	linked := map[string]bool{}
	var candidates []cid.Cid
	var scanErr error
	for k := range keys {
		if scanErr != nil {
			continue // drain the channel so the producer ends
		}
		c, links, err := s.classify(ctx, k)
		if err != nil {
			scanErr = err
			stop() // end the listing early; the loop drains what is queued
			continue
		}
		for _, l := range links {
			linked[string(l.Cid.Hash())] = true
		}
		if c.Defined() {
			candidates = append(candidates, c)
		}
	}
	if err := done(); err != nil && scanErr == nil {
		scanErr = fmt.Errorf("listing blocks: %w", err)
	}
	if scanErr != nil {
		return nil, scanErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	inDatasets, err := s.reachable(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("finding loose files: %w", err)
	}
	var out []LooseFile
	for _, c := range candidates {
		if linked[string(c.Hash())] {
			continue
		}
		if _, ok := inDatasets[string(c.Hash())]; ok {
			continue
		}
		n, err := s.dagBytes(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("sizing loose file %s: %w", c, err)
		}
		out = append(out, LooseFile{Root: c, Bytes: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Root.String() < out[j].Root.String() })
	return out, nil
}

// classify reads the block k (a raw-codec CID from the block store's key
// list) and returns the CID it would have as a file root (undefined when it
// is not a file) and the links it holds.
func (s *Store) classify(ctx context.Context, k cid.Cid) (cid.Cid, []*ipld.Link, error) {
	size, err := s.bs.GetSize(ctx, k)
	if ipld.IsNotFound(err) {
		return cid.Undef, nil, nil // removed since it was listed
	}
	if err != nil {
		return cid.Undef, nil, fmt.Errorf("reading size of block %s: %w", k, err)
	}
	if size >= ChunkSize {
		// A full chunk: AddFile's dag-pb nodes are a few KiB at most.
		return k, nil, nil
	}
	blk, err := s.bs.Get(ctx, k)
	if ipld.IsNotFound(err) {
		return cid.Undef, nil, nil
	}
	if err != nil {
		return cid.Undef, nil, fmt.Errorf("reading block %s: %w", k, err)
	}
	pn, err := merkledag.DecodeProtobuf(blk.RawData())
	if err != nil {
		return k, nil, nil // not dag-pb: a raw leaf or single-block file
	}
	fsn, err := unixfs.FSNodeFromBytes(pn.Data())
	if err != nil || fsn.Type() != unixfs.TFile {
		return cid.Undef, pn.Links(), nil
	}
	return cid.NewCidV1(cid.DagProtobuf, k.Hash()), pn.Links(), nil
}

// dagBytes sums the sizes of the blocks the store holds under root.
func (s *Store) dagBytes(ctx context.Context, root cid.Cid) (int64, error) {
	seen := map[string]cid.Cid{}
	if err := s.walkDAG(ctx, root, seen); err != nil {
		return 0, err
	}
	var total int64
	for _, c := range seen {
		n, err := s.bs.GetSize(ctx, c)
		if ipld.IsNotFound(err) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("reading size of block %s: %w", c, err)
		}
		total += int64(n)
	}
	return total, nil
}

// allKeys lists the block store's keys and, when the block store can tell,
// whether the listing was complete.
func allKeys(ctx context.Context, bs blockstore.Blockstore) (<-chan cid.Cid, func() error, error) {
	if e, ok := bs.(blockstore.AllKeysChanWithErrer); ok {
		return e.AllKeysChanWithErr(ctx)
	}
	ch, err := bs.AllKeysChan(ctx)
	return ch, func() error { return nil }, err
}
