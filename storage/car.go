package storage

import (
	"context"
	"errors"
	"fmt"
	"io"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"
	"github.com/swardnet/sward/internal/logkey"
)

// ExportCAR writes the DAG under root as a CARv1 stream (root first, blocks
// in depth-first order, each once), as `ipfs dag export` does.
func (s *Store) ExportCAR(ctx context.Context, root cid.Cid, w io.Writer) error {
	car, err := carstorage.NewWritable(w, []cid.Cid{root}, carv2.WriteAsCarV1(true))
	if err != nil {
		return fmt.Errorf("starting CAR of %s: %w", root, err)
	}
	seen := map[cid.Cid]bool{}
	var walk func(c cid.Cid) error
	walk = func(c cid.Cid) error {
		if seen[c] {
			return nil
		}
		seen[c] = true
		nd, err := s.dag.Get(ctx, c)
		if err != nil {
			return fmt.Errorf("exporting %s: block %s: %w", root, c, err)
		}
		if err := car.Put(ctx, c.KeyString(), nd.RawData()); err != nil {
			return fmt.Errorf("writing CAR: %w", err)
		}
		for _, l := range nd.Links() {
			if err := walk(l.Cid); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return err
	}
	return car.Finalize()
}

// ImportCAR reads a CAR (v1 or v2), checks every block's hash, stores the
// blocks and returns the CAR's roots. A root that is a dataset version
// becomes a version of its dataset, and its head when the dataset had none
// or the version's parent is the current head.
func (s *Store) ImportCAR(ctx context.Context, r io.Reader) ([]cid.Cid, error) {
	br, err := carv2.NewBlockReader(r)
	if err != nil {
		return nil, fmt.Errorf("reading CAR header: %w", err)
	}
	var batch []blocks.Block
	var size int
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := s.bs.PutMany(ctx, batch); err != nil {
			return fmt.Errorf("storing CAR blocks: %w", err)
		}
		batch, size = batch[:0], 0
		return nil
	}
	n := 0
	for {
		b, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading CAR block %d (the file is corrupt or truncated; get it again): %w", n, err)
		}
		if len(b.RawData()) > MaxBlockSize {
			return nil, fmt.Errorf("CAR block %s is %d bytes, over the %d limit", b.Cid(), len(b.RawData()), MaxBlockSize)
		}
		sum, err := b.Cid().Prefix().Sum(b.RawData())
		if err != nil || !sum.Equals(b.Cid()) {
			return nil, fmt.Errorf("CAR block %d (%s) is corrupt: its data hashes to %s", n, b.Cid(), sum)
		}
		batch = append(batch, b)
		size += len(b.RawData())
		n++
		if size > 32<<20 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if err := s.sync(ctx); err != nil {
		return nil, err
	}
	for _, root := range br.Roots {
		m, err := s.Manifest(ctx, root)
		if err != nil {
			s.log.Debug("CAR root is not a dataset version", logkey.CID, root.String(), logkey.Err, err)
			continue
		}
		if err := s.recordImported(ctx, root, m.Dataset, m.Parent); err != nil {
			return nil, err
		}
	}
	return br.Roots, nil
}

// recordImported adds an imported version to a dataset's history.
func (s *Store) recordImported(ctx context.Context, root cid.Cid, name, parent string) error {
	if err := ValidateDatasetName(name); err != nil {
		return fmt.Errorf("imported version %s: %w", root, err)
	}
	m, err := s.Manifest(ctx, root)
	if err != nil {
		return err
	}
	vs, err := s.Versions(ctx, name)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if v.CID == root.String() {
			return nil
		}
	}
	head, err := s.Head(ctx, name)
	info := versionInfo(root, m, int64(len(vs)+1))
	if err == nil && parent != head.String() {
		// Keep the head; only note the version in the history.
		info.CID = root.String()
		return s.commitHistory(ctx, name, info)
	}
	return s.commitVersion(ctx, name, info, -1, nil, nil)
}

func (s *Store) commitHistory(ctx context.Context, name string, info VersionInfo) error {
	rec, err := jsonMarshal(info)
	if err != nil {
		return err
	}
	if err := s.meta.Put(ctx, versionKey(name, info.Seq), rec); err != nil {
		return fmt.Errorf("recording version of %q: %w", name, err)
	}
	return s.sync(ctx)
}
