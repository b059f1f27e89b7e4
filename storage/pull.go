package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/renameio/v2"
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
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// PullOptions configures PullWithOptions.
type PullOptions struct {
	// Peers to fetch from; Pull connects to each.
	Peers []peer.AddrInfo
	// Routing, when set, finds providers by CID: a DHT (*dht.IpfsDHT
	// satisfies it) or any other content routing. When none of Peers is
	// reachable (or none is given) Pull looks up the providers of the root
	// and connects to them; the bitswap client also asks it for providers
	// of blocks no connected peer has.
	Routing routing.ContentDiscovery
	// Progress, when set, is called with bytes fetched (or found from an
	// earlier, interrupted pull, or reused from files already in the
	// output directory) and the dataset's total size.
	Progress func(done, total int64)
	// StallTimeout aborts the pull when no block arrives for this long
	// (default 60 s); it also bounds the search for providers.
	StallTimeout time.Duration
	// Concurrency is the number of DAG nodes walked at once (default 8);
	// each asks for up to 32 leaves at a time.
	Concurrency int
	// Logger receives the pull's log records (default slog.Default()).
	Logger *slog.Logger
}

// PullResult says what a pull fetched and from where.
type PullResult struct {
	// Manifest is the pulled version's manifest.
	Manifest *schemas.Manifest
	// Total is the bytes of the version's shards.
	Total int64
	// Fetched is the bytes of raw blocks received over the network (shard
	// data, manifest.json and README.md; directory and inner file nodes,
	// a few hundred bytes each, are not counted).
	Fetched int64
	// Reused is the bytes of shards taken from files already in the output
	// directory (a previous version, or copies) whose CIDs matched.
	Reused int64
	// ReusedFiles is how many files were reused.
	ReusedFiles int
	// Resumed is the bytes kept by an earlier, interrupted pull.
	Resumed int64
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
	res, err := PullVersion(ctx, h, root, outDir, o)
	if err != nil {
		return nil, err
	}
	return res.Manifest, nil
}

// PullVersion is PullWithOptions that also reports where the bytes came
// from. Files already in outDir whose UnixFS CID (CIDv1, raw leaves, 1 MiB
// chunks, as Publish imports them) equals a shard of the version are
// reused instead of fetched: pulling a new version into the directory of
// the previous one fetches only the new shards, manifest.json and
// README.md. Files of the previous version that the new one does not have
// (those its manifest.json listed, and reused files under old names) are
// removed, so the directory verifies as the new version.
func PullVersion(ctx context.Context, h host.Host, root cid.Cid, outDir string, o PullOptions) (*PullResult, error) {
	o.Default()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	connected, err := connectAny(ctx, o.Logger, h, root, o.Peers, o.Routing != nil)
	if err != nil {
		return nil, err
	}
	if connected == 0 {
		if err := findProviders(ctx, o.Logger, h, o.Routing, root, o.StallTimeout); err != nil {
			return nil, err
		}
	}
	// Files of the version already in outDir (read before anything is
	// written there) may be removed once the new version is in place.
	stale := previousFiles(o.Logger, outDir)

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

	res := &PullResult{}
	var fetched, reused atomic.Int64
	var lastBlock atomic.Int64
	have, bad, err := checkLocalBlocks(ctx, o.Logger, local)
	if err != nil {
		return nil, err
	}
	if bad > 0 {
		o.Logger.Warn("pull: dropped corrupt blocks from an earlier run; fetching them again", logkey.Count, bad, logkey.CID, root.String())
	}
	res.Resumed = have
	lastBlock.Store(time.Now().UnixNano())
	counting := &countingBlockstore{Blockstore: local, onPut: func(n int) {
		fetched.Add(int64(n))
		lastBlock.Store(time.Now().UnixNano())
	}}
	done := func() int64 { return have + reused.Load() + fetched.Load() }

	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	n := bsnet.NewFromIpfsHost(h)
	bs := client.New(pctx, n, o.Routing, counting, client.ProviderSearchDelay(time.Second))
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
			why := fmt.Sprintf("no peer sent its next block for %s; check the CID and that a peer still serves it, then re-run to resume", o.StallTimeout)
			return fmt.Errorf("%s: %w", what, noProviders(root, why, o.Routing != nil))
		}
		return fmt.Errorf("%s: %w", what, err)
	}

	m, err := readManifest(pctx, dag, root)
	if err != nil {
		return nil, explain("fetching manifest of "+root.String(), err)
	}
	res.Manifest = m
	for _, sh := range allShards(m) {
		res.Total += sh.Bytes
	}
	report := func() {
		if o.Progress != nil {
			o.Progress(min(done(), res.Total), res.Total)
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
	stopReporter := sync.OnceFunc(func() {
		close(stopReport)
		rwg.Wait()
	})
	defer stopReporter()

	// Reading local files counts as progress for the stall watchdog.
	touch := func() { lastBlock.Store(time.Now().UnixNano()) }
	reusedPaths, err := reuseLocalFiles(pctx, o.Logger, local, outDir, allShards(m), touch, func(n int64) { reused.Add(n) })
	if err != nil {
		return nil, explain("reusing files in "+outDir, err)
	}
	res.ReusedFiles = len(reusedPaths)
	stale = append(stale, reusedPaths...)
	if len(reusedPaths) > 0 {
		o.Logger.Info("pull: reusing files already in the output directory", logkey.CID, root.String(), "files", len(reusedPaths), "bytes", reused.Load())
	}
	touch()

	err = fetchAll(pctx, dag, root, o.Concurrency)
	stopReporter()
	stopWatchOnce()
	if err != nil {
		return nil, explain("fetching "+root.String(), err)
	}
	if o.Progress != nil {
		o.Progress(res.Total, res.Total)
	}
	res.Fetched, res.Reused = fetched.Load(), reused.Load()

	// Materialise the files from verified local blocks only.
	offline := merkledag.NewDAGService(blockservice.New(&blockstore.ValidatingBlockstore{Blockstore: local}, nil))
	written, err := writeTree(ctx, offline, root, outDir)
	if err != nil {
		return nil, err
	}
	pruneStale(o.Logger, outDir, stale, written)
	if err := VerifyDir(ctx, outDir, root); err != nil {
		return nil, fmt.Errorf("pulled files do not verify: %w", err)
	}
	closeDS()
	if err := os.RemoveAll(state); err != nil {
		o.Logger.Warn("pull: removing state", logkey.Path, state, logkey.Err, err)
	}
	return res, nil
}

func allShards(m *schemas.Manifest) []schemas.Shard {
	out := append([]schemas.Shard{}, m.Shards...)
	for _, t := range m.Tables {
		out = append(out, t...)
	}
	return out
}

// noProviders is the error for a pull that has nowhere to fetch from; it
// says what to do: name a peer, or (when it is off) use the DHT.
func noProviders(root cid.Cid, why string, dhtOn bool) error {
	if why != "" {
		why = " (" + why + ")"
	}
	if dhtOn {
		return fmt.Errorf("%w for %s%s: pass --from <multiaddr> of a peer that serves it", ErrNoProviders, root, why)
	}
	return fmt.Errorf("%w for %s%s: pass --from <multiaddr> or enable the DHT", ErrNoProviders, root, why)
}

// connectAny connects h to the given peers and returns how many it reached.
// Reaching none is an error unless content routing can still find
// providers.
func connectAny(ctx context.Context, log *slog.Logger, h host.Host, root cid.Cid, peers []peer.AddrInfo, haveRouting bool) (int, error) {
	if len(peers) == 0 {
		if haveRouting {
			return 0, nil
		}
		return 0, noProviders(root, "", false)
	}
	var errs []error
	ok := 0
	for _, p := range peers {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := h.Connect(cctx, p)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.ID, err))
			log.Warn("pull: cannot reach peer", logkey.Peer, p.ID.String(), logkey.Err, err)
			continue
		}
		ok++
	}
	if ok == 0 && !haveRouting {
		return 0, fmt.Errorf("pull: could not connect to any of %d peers (is `sward up`, `sward coordinator` or `sward dataset serve` running there?): %w: %w",
			len(peers), noProviders(root, "", false), errors.Join(errs...))
	}
	return ok, nil
}

// findProviders looks root up in the content routing until it has
// connected to at least one provider, retrying with backoff (a provider
// may announce a moment after the pull starts) for up to timeout.
func findProviders(ctx context.Context, log *slog.Logger, h host.Host, r routing.ContentDiscovery, root cid.Cid, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	wait := 250 * time.Millisecond
	for {
		lctx, cancel := context.WithTimeout(ctx, min(15*time.Second, timeout))
		n := 0
		for ai := range r.FindProvidersAsync(lctx, root, 8) {
			if ai.ID == h.ID() || ai.ID == "" {
				continue
			}
			cctx, ccancel := context.WithTimeout(lctx, 10*time.Second)
			err := h.Connect(cctx, ai)
			ccancel()
			if err != nil {
				log.Debug("pull: provider unreachable", logkey.Peer, ai.ID.String(), logkey.CID, root.String(), logkey.Err, err)
				continue
			}
			log.Info("pull: found provider", logkey.Peer, ai.ID.String(), logkey.CID, root.String())
			n++
		}
		cancel()
		if n > 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("looking up providers of %s: %w", root, err)
		}
		if time.Now().Add(wait).After(deadline) {
			return noProviders(root, fmt.Sprintf("the DHT found no reachable provider in %s; check the CID and that its publisher serves it with the DHT on", timeout), true)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("looking up providers of %s: %w", root, ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// previousFiles lists the files of the version already in dir, as its
// manifest.json names them (nothing when there is none or it does not
// parse).
func previousFiles(log *slog.Logger, dir string) []string {
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil
	}
	m, err := schemas.ParseManifest(data)
	if err != nil {
		log.Debug("pull: the output directory's manifest.json does not parse; leaving its files alone", logkey.Path, dir, logkey.Err, err)
		return nil
	}
	var out []string
	for _, sh := range allShards(m) {
		out = append(out, sh.Path)
	}
	return out
}

// reuseLocalFiles imports into local every file under dir whose UnixFS CID
// is the root of a shard in shards that local lacks, so the pull need not
// fetch it. Only files of a wanted size are hashed; a match is hashed twice
// (once to compare, once to import), which costs far less than the network.
// It calls touch as it reads and onReuse with the size of each file reused,
// and returns the files' slash paths.
func reuseLocalFiles(ctx context.Context, log *slog.Logger, local blockstore.Blockstore, dir string, shards []schemas.Shard, touch func(), onReuse func(int64)) ([]string, error) {
	want := map[cid.Cid]bool{}
	sizes := map[int64]bool{}
	for _, sh := range shards {
		c, err := cid.Decode(sh.CID)
		if err != nil {
			return nil, fmt.Errorf("shard %s has a bad CID: %w", sh.Path, err)
		}
		has, err := local.Has(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("checking shard %s: %w", sh.Path, err)
		}
		if !has {
			want[c] = true
			sizes[sh.Bytes] = true
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	store := merkledag.NewDAGService(blockservice.New(local, nil))
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			log.Debug("pull: skipping unreadable entry", logkey.Path, path, logkey.Err, err)
			return nil
		}
		if path != dir && strings.HasPrefix(d.Name(), ".sward") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil || !sizes[info.Size()] {
			return nil
		}
		c, err := hashFile(ctx, path, newHashDAG(), touch)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Debug("pull: cannot hash local file", logkey.Path, path, logkey.Err, err)
			return nil
		}
		if !want[c] {
			return nil
		}
		got, err := hashFile(ctx, path, store, touch)
		if err != nil {
			return fmt.Errorf("importing %s: %w", path, err)
		}
		if !got.Equals(c) {
			// Changed between the two reads: fetch it instead.
			log.Warn("pull: local file changed while reused; fetching it", logkey.Path, path, logkey.CID, c.String())
			return nil
		}
		delete(want, c)
		onReuse(info.Size())
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return fmt.Errorf("reusing %s: %w", path, err)
		}
		paths = append(paths, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return paths, nil
}

// hashFile imports the file at path into dag as Publish does and returns
// its CID; touch is called on every read.
func hashFile(ctx context.Context, path string, dag ipld.DAGService, touch func()) (cid.Cid, error) {
	f, err := os.Open(path)
	if err != nil {
		return cid.Undef, err
	}
	defer f.Close()
	return addFile(ctx, dag, touchReader{f, touch})
}

// touchReader calls touch on every Read.
type touchReader struct {
	r     io.Reader
	touch func()
}

func (t touchReader) Read(p []byte) (int, error) {
	t.touch()
	return t.r.Read(p)
}

// pruneStale removes the files named in stale (slash paths below dir) that
// the new version did not write, and then their directories if empty. A
// name that is not a plain local path is ignored.
func pruneStale(log *slog.Logger, dir string, stale []string, written map[string]bool) {
	for _, p := range stale {
		if written[p] || strings.HasPrefix(p, ".sward") {
			continue
		}
		rel := filepath.FromSlash(p)
		if !filepath.IsLocal(rel) {
			continue
		}
		path := filepath.Join(dir, rel)
		if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if err := os.Remove(path); err != nil {
			log.Warn("pull: removing a file of the previous version", logkey.Path, path, logkey.Err, err)
			continue
		}
		for d := filepath.Dir(rel); d != "."; d = filepath.Dir(d) {
			if os.Remove(filepath.Join(dir, d)) != nil {
				break
			}
		}
	}
}

// checkLocalBlocks re-hashes blocks kept by an interrupted pull, deleting
// corrupt ones; it returns the bytes of good blocks and the number dropped.
func checkLocalBlocks(ctx context.Context, log *slog.Logger, bs blockstore.Blockstore) (int64, int, error) {
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
			log.Warn("pull: corrupt block on disk; fetching it again", logkey.CID, c.String())
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
// It returns the slash paths of the files written.
func writeTree(ctx context.Context, dag ipld.DAGService, root cid.Cid, dir string) (map[string]bool, error) {
	nd, err := dag.Get(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", root, err)
	}
	written := map[string]bool{}
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
		// Written beside path and renamed over it once complete and
		// synced, so path is never a partial file.
		f, err := renameio.NewPendingFile(path, renameio.WithPermissions(0o644))
		if err != nil {
			return fmt.Errorf("creating %s: %w", path, err)
		}
		defer f.Cleanup()
		if _, err := io.Copy(f, r); err != nil {
			if errors.Is(err, blockstore.ErrHashMismatch) {
				return fmt.Errorf("writing %s: a block on disk in %s is corrupt; re-run the pull: %w", path, pullStateDir, err)
			}
			return fmt.Errorf("writing %s: %w", path, err)
		}
		if err := f.CloseAtomicallyReplace(); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		if rel, err := filepath.Rel(dir, path); err == nil {
			written[filepath.ToSlash(rel)] = true
		}
		return nil
	}
	if err := write(nd, dir); err != nil {
		return nil, err
	}
	return written, nil
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
