package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/boxo/bitswap/client"
	"github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	pebbleds "github.com/ipfs/go-ds-pebble"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/swardnet/sward/schemas"
)

// PullOptions configures PullWithOptions.
type PullOptions struct {
	// Peers to fetch from; Pull connects to each.
	Peers []peer.AddrInfo
	// Progress, when set, is called with bytes fetched (or found from an
	// earlier, interrupted pull) and the dataset's total size.
	Progress func(done, total int64)
	// StallTimeout aborts the pull when no block arrives for this long
	// (default 60 s).
	StallTimeout time.Duration
	// Concurrency is the number of DAG nodes walked at once (default 8);
	// each asks for up to 32 leaves at a time.
	Concurrency int
}

// ErrNoProviders is wrapped when no peer could be reached or none sent the
// root block.
var ErrNoProviders = errors.New("no providers")

// Pull fetches the dataset version root from peers over bitswap into outDir
// (manifest.json, README.md, data/, chunks/, ...), verifying every block,
// and finally re-verifies the directory against root. An interrupted pull
// resumes from the blocks it kept in outDir/.sward-pull; those are re-hashed
// first and any corrupt one is fetched again.
func Pull(ctx context.Context, h host.Host, peers []peer.AddrInfo, root cid.Cid, outDir string, progress func(done, total int64)) (*schemas.Manifest, error) {
	return PullWithOptions(ctx, h, root, outDir, PullOptions{Peers: peers, Progress: progress})
}

// PullWithOptions is Pull with every knob.
func PullWithOptions(ctx context.Context, h host.Host, root cid.Cid, outDir string, o PullOptions) (*schemas.Manifest, error) {
	if o.StallTimeout <= 0 {
		o.StallTimeout = 60 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if err := connectAny(ctx, h, o.Peers); err != nil {
		return nil, err
	}
	state := filepath.Join(outDir, pullStateDir)
	if err := os.MkdirAll(state, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", state, err)
	}
	pds, err := pebbleds.NewDatastore(filepath.Join(state, "blocks"))
	if err != nil {
		return nil, fmt.Errorf("opening pull state in %s (another pull running?): %w", state, err)
	}
	closeDS := sync.OnceFunc(func() { pds.Close() })
	defer closeDS()
	local := blockstore.NewBlockstore(pds)

	var done atomic.Int64
	var lastBlock atomic.Int64
	have, bad, err := checkLocalBlocks(ctx, local)
	if err != nil {
		return nil, err
	}
	if bad > 0 {
		slog.Warn("pull: dropped corrupt blocks from an earlier run; fetching them again", "count", bad, "cid", root.String())
	}
	done.Store(have)
	lastBlock.Store(time.Now().UnixNano())
	counting := &countingBlockstore{Blockstore: local, onPut: func(n int) {
		done.Add(int64(n))
		lastBlock.Store(time.Now().UnixNano())
	}}

	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	n := bsnet.NewFromIpfsHost(h)
	bs := client.New(pctx, n, nil, counting, client.ProviderSearchDelay(time.Second))
	n.Start(bs)
	defer func() {
		n.Stop()
		bs.Close()
	}()
	bsvc := blockservice.New(counting, bs)
	dag := merkledag.NewDAGService(bsvc)

	// Watchdog: a pull that makes no progress ends with a clear error.
	var stalled atomic.Value
	var wg sync.WaitGroup
	stopWatch := make(chan struct{})
	stopWatchOnce := sync.OnceFunc(func() { close(stopWatch) })
	defer stopWatchOnce()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopWatch:
				return
			case <-pctx.Done():
				return
			case <-t.C:
				if time.Since(time.Unix(0, lastBlock.Load())) > o.StallTimeout {
					stalled.Store(true)
					cancel(fmt.Errorf("no block arrived for %s", o.StallTimeout))
					return
				}
			}
		}
	}()
	defer wg.Wait()
	explain := func(what string, err error) error {
		if s, _ := stalled.Load().(bool); s {
			return fmt.Errorf("%s: none of the %d peers sent the next block of %s for %s (%w); check the CID and that a peer still serves it, then re-run to resume", what, len(o.Peers), root, o.StallTimeout, ErrNoProviders)
		}
		return fmt.Errorf("%s: %w", what, err)
	}

	m, err := readManifest(pctx, dag, root)
	if err != nil {
		return nil, explain("fetching manifest of "+root.String(), err)
	}
	total := int64(0)
	for _, sh := range allShards(m) {
		total += sh.Bytes
	}
	report := func() {
		if o.Progress != nil {
			o.Progress(min(done.Load(), total), total)
		}
	}
	stopReport := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopReport:
				return
			case <-t.C:
				report()
			}
		}
	}()
	err = fetchAll(pctx, dag, root, o.Concurrency)
	close(stopReport)
	rwg.Wait()
	stopWatchOnce()
	if err != nil {
		return nil, explain("fetching "+root.String(), err)
	}
	if o.Progress != nil {
		o.Progress(total, total)
	}

	// Materialise the files from verified local blocks only.
	offline := merkledag.NewDAGService(blockservice.New(&blockstore.ValidatingBlockstore{Blockstore: local}, nil))
	if err := writeTree(ctx, offline, root, outDir); err != nil {
		return nil, err
	}
	if err := VerifyDir(ctx, outDir, root); err != nil {
		return nil, fmt.Errorf("pulled files do not verify: %w", err)
	}
	closeDS()
	if err := os.RemoveAll(state); err != nil {
		slog.Warn("pull: removing state", "path", state, "err", err)
	}
	return m, nil
}

func allShards(m *schemas.Manifest) []schemas.Shard {
	out := append([]schemas.Shard{}, m.Shards...)
	for _, t := range m.Tables {
		out = append(out, t...)
	}
	return out
}

func connectAny(ctx context.Context, h host.Host, peers []peer.AddrInfo) error {
	if len(peers) == 0 {
		return fmt.Errorf("pull: give at least one peer with --from: %w", ErrNoProviders)
	}
	var errs []error
	ok := 0
	for _, p := range peers {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := h.Connect(cctx, p)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.ID, err))
			slog.Warn("pull: cannot reach peer", "peer", p.ID.String(), "err", err)
			continue
		}
		ok++
	}
	if ok == 0 {
		return fmt.Errorf("pull: could not connect to any of %d peers (is `sward up` or `sward serve` running there?): %w: %w", len(peers), ErrNoProviders, errors.Join(errs...))
	}
	return nil
}

// checkLocalBlocks re-hashes blocks kept by an interrupted pull, deleting
// corrupt ones; it returns the bytes of good blocks and the number dropped.
func checkLocalBlocks(ctx context.Context, bs blockstore.Blockstore) (int64, int, error) {
	keys, err := bs.AllKeysChan(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("checking blocks of an earlier pull: %w", err)
	}
	var good int64
	bad := 0
	for c := range keys {
		b, err := bs.Get(ctx, c)
		if err != nil {
			return 0, 0, fmt.Errorf("checking block %s: %w", c, err)
		}
		// Keys are multihashes; raw and dag-pb blocks hash alike.
		sum, err := c.Prefix().Sum(b.RawData())
		if err != nil || !sum.Equals(c) {
			slog.Warn("pull: corrupt block on disk; fetching it again", "cid", c.String())
			if err := bs.DeleteBlock(ctx, c); err != nil {
				return 0, 0, fmt.Errorf("dropping corrupt block %s: %w", c, err)
			}
			bad++
			continue
		}
		if c.Prefix().Codec == cid.Raw {
			good += int64(len(b.RawData()))
		}
	}
	return good, bad, ctx.Err()
}

// leafBatch is how many raw leaves one walker requests at once.
const leafBatch = 32

// fetchAll walks the whole DAG under root, fetching missing blocks.
func fetchAll(ctx context.Context, dag ipld.DAGService, root cid.Cid, concurrency int) error {
	ng := merkledag.NewSession(ctx, dag)
	seen := map[cid.Cid]bool{}
	var mu sync.Mutex
	visit := func(c cid.Cid) bool {
		mu.Lock()
		defer mu.Unlock()
		if seen[c] {
			return false
		}
		seen[c] = true
		return true
	}
	// Fetch every node, raw leaves included (ipld.GetLinks skips those):
	// the raw children of a node are requested together in one batch.
	getLinks := func(ctx context.Context, c cid.Cid) ([]*ipld.Link, error) {
		nd, err := ng.Get(ctx, c)
		if err != nil {
			return nil, err
		}
		var inner []*ipld.Link
		var raw []cid.Cid
		for _, l := range nd.Links() {
			if l.Cid.Prefix().Codec == cid.Raw {
				if visit(l.Cid) {
					raw = append(raw, l.Cid)
				}
				continue
			}
			inner = append(inner, l)
		}
		// Ask in small batches: servers cap the wants they queue per peer
		// (boxo: 1024), and wants over the cap are silently dropped.
		for len(raw) > 0 {
			batch := raw[:min(len(raw), leafBatch)]
			raw = raw[len(batch):]
			got := 0
			for opt := range ng.GetMany(ctx, batch) {
				if opt.Err != nil {
					return nil, opt.Err
				}
				got++
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if got < len(batch) {
				return nil, fmt.Errorf("fetched %d of %d blocks under %s", got, len(batch), c)
			}
		}
		return inner, nil
	}
	return merkledag.Walk(ctx, getLinks, root, visit, merkledag.Concurrency(concurrency))
}

// writeTree writes the UnixFS tree under root into dir, each file through a
// temporary name so a crash never leaves a half file under its real name.
func writeTree(ctx context.Context, dag ipld.DAGService, root cid.Cid, dir string) error {
	nd, err := dag.Get(ctx, root)
	if err != nil {
		return fmt.Errorf("reading %s: %w", root, err)
	}
	var write func(nd ipld.Node, path string) error
	write = func(nd ipld.Node, path string) error {
		if d, err := uio.NewDirectoryFromNode(dag, nd); err == nil {
			if err := os.MkdirAll(path, 0o755); err != nil {
				return fmt.Errorf("creating %s: %w", path, err)
			}
			links, err := d.Links(ctx)
			if err != nil {
				return fmt.Errorf("listing %s: %w", path, err)
			}
			for _, l := range links {
				if l.Name == "" || l.Name == "." || l.Name == ".." || strings.ContainsAny(l.Name, `/\`) || l.Name == pullStateDir {
					return fmt.Errorf("refusing unsafe entry name %q in %s", l.Name, path)
				}
				child, err := l.GetNode(ctx, dag)
				if err != nil {
					return fmt.Errorf("reading %s/%s: %w", path, l.Name, err)
				}
				if err := write(child, filepath.Join(path, l.Name)); err != nil {
					return err
				}
			}
			return nil
		}
		r, err := uio.NewDagReader(ctx, nd, dag)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		tmp := path + ".part"
		f, err := os.Create(tmp)
		if err != nil {
			return fmt.Errorf("creating %s: %w", tmp, err)
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			if errors.Is(err, blockstore.ErrHashMismatch) {
				return fmt.Errorf("writing %s: a block on disk in %s is corrupt; re-run the pull: %w", path, pullStateDir, err)
			}
			return fmt.Errorf("writing %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("syncing %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("closing %s: %w", path, err)
		}
		return os.Rename(tmp, path)
	}
	return write(nd, dir)
}

// countingBlockstore reports the payload of raw leaves as they arrive.
type countingBlockstore struct {
	blockstore.Blockstore
	onPut func(n int)
}

func (c *countingBlockstore) Put(ctx context.Context, b blocks.Block) error {
	return c.PutMany(ctx, []blocks.Block{b})
}

// PutMany stores blocks, counting only those that are new (the bitswap
// client and the block service both store what arrives).
func (c *countingBlockstore) PutMany(ctx context.Context, bs []blocks.Block) error {
	n := 0
	for _, b := range bs {
		if len(b.RawData()) > MaxBlockSize {
			return fmt.Errorf("block %s is %d bytes, over the %d limit", b.Cid(), len(b.RawData()), MaxBlockSize)
		}
		if b.Cid().Prefix().Codec == cid.Raw {
			if has, err := c.Blockstore.Has(ctx, b.Cid()); err == nil && !has {
				n += len(b.RawData())
			}
		}
	}
	if err := c.Blockstore.PutMany(ctx, bs); err != nil {
		return err
	}
	c.onPut(n)
	return nil
}
