package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ipfs/boxo/bitswap/client"
	"github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/bitswap/server"
	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/swardnet/sward/internal/logkey"
)

// Server serves a store's blocks over bitswap on a libp2p host, and fetches
// blocks it lacks from the host's peers (FetchFile). With a Routing in its
// ServeConfig it also keeps provider records for its versions in the content routing (the
// DHT), so pullers find it by CID alone.
type Server struct {
	net       interface{ Stop() }
	srv       *server.Server
	cl        *client.Client
	store     *Store
	routing   routing.ContentRouting
	reprovide time.Duration

	// The provider loop: owned by the server, stopped by Close.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	extra  map[cid.Cid]bool // versions given to Provide, re-announced with the heads
}

// ServeConfig configures Serve.
type ServeConfig struct {
	// Routing, when set, makes the server announce provider records (for
	// example in the DHT) for every dataset head when it starts (retrying
	// until the routing accepts them), for the versions it is asked to
	// Provide, and again every Reprovide so the records do not expire. A
	// version is announced under its root, its directories and the root of
	// every file in it (shards, manifest.json, README.md): a puller that
	// already holds the root, or wants a single shard, finds providers for
	// what it asks for.
	Routing routing.ContentRouting
	// Reprovide is how often the records are announced again (default
	// ReprovideInterval).
	Reprovide time.Duration
}

// Default fills zero fields.
func (c *ServeConfig) Default() {
	if c.Reprovide == 0 {
		c.Reprovide = ReprovideInterval
	}
}

// Validate reports settings Serve cannot run with.
func (c ServeConfig) Validate() error {
	if c.Reprovide < time.Minute {
		return fmt.Errorf("storage serve config: reprovide interval %s is shorter than a minute", c.Reprovide)
	}
	return nil
}

// ReprovideInterval is how often a serving node announces its versions
// again. DHT provider records expire after 48 hours; like kubo, sward
// renews them well before.
const ReprovideInterval = 22 * time.Hour

// provideConcurrency bounds the provider announcements in flight; each is a
// DHT lookup.
const provideConcurrency = 4

// Serve starts a bitswap server for s on h. Blocks are re-hashed before they
// are sent, so a block corrupted on this disk is never served (peers fetch
// it from another provider instead). Close stops it.
func Serve(ctx context.Context, h host.Host, s *Store, cfg ServeConfig) (*Server, error) {
	if h == nil || s == nil {
		return nil, errors.New("serving datasets: nil host or store")
	}
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := bsnet.NewFromIpfsHost(h)
	srv := server.New(ctx, n, &blockstore.ValidatingBlockstore{Blockstore: s.bs},
		server.MaxOutstandingBytesPerPeer(16<<20), server.MaxQueuedWantlistEntriesPerPeer(4096))
	// The client shares the host's bitswap network with the server; it
	// asks connected peers and stores what it gets (hash-checked) in s.
	cl := client.New(ctx, n, nil, s.bs)
	n.Start(srv, cl)
	out := &Server{net: n, srv: srv, cl: cl, store: s, extra: map[cid.Cid]bool{}, routing: cfg.Routing, reprovide: cfg.Reprovide}
	out.ctx, out.cancel = context.WithCancel(ctx)
	if out.routing != nil {
		out.wg.Add(1)
		go func() {
			defer out.wg.Done()
			out.provideLoop()
		}()
	}
	return out, nil
}

// Provide announces the version root (its directories and file roots too)
// to the content routing and keeps re-announcing it while the server runs.
// It returns when the announcement is done; without routing it does
// nothing. Call it after publishing a version that should be pullable by
// CID alone (heads known when Serve started are announced by Serve).
func (s *Server) Provide(ctx context.Context, root cid.Cid) error {
	if s.routing == nil {
		return nil
	}
	s.mu.Lock()
	s.extra[root] = true
	s.mu.Unlock()
	return s.announce(ctx, root)
}

// announce provides every key of the version root.
func (s *Server) announce(ctx context.Context, root cid.Cid) error {
	keys, err := versionKeys(ctx, s.store.dag, root)
	if err != nil {
		return fmt.Errorf("announcing %s: %w", root, err)
	}
	sem := make(chan struct{}, provideConcurrency)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, k := range keys {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := s.routing.Provide(pctx, k, true); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", k, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("announcing %s: %w", root, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("announcing %s: %d of %d provider records failed, the first: %w", root, len(errs), len(keys), errs[0])
	}
	s.store.log.Debug("announced dataset version", logkey.CID, root.String(), "records", len(keys))
	return nil
}

// provideLoop announces every head and every Provided version, retrying
// failures (a DHT whose routing table is still empty refuses) with backoff,
// then renews all of them every reprovide interval. A version that becomes
// a head while the server runs (a publish, a CAR import) is announced at
// once.
func (s *Server) provideLoop() {
	const minRetry, maxRetry = 2 * time.Second, 5 * time.Minute
	retry := minRetry
	announced := map[cid.Cid]bool{}
	for {
		changed := s.store.headsChanged()
		failed := s.announceAll(announced)
		wait := s.reprovide
		if failed {
			wait, retry = retry, min(retry*2, maxRetry)
		} else {
			retry = minRetry
		}
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-changed:
			// Only the new heads; the others keep their schedule.
			t.Stop()
			continue
		case <-t.C:
		}
		clear(announced)
	}
}

// announceAll provides every head and Provided version not in done, adding
// those it announced to done; it reports whether any announcement failed.
func (s *Server) announceAll(done map[cid.Cid]bool) bool {
	roots := map[cid.Cid]bool{}
	failed := false
	names, err := s.store.Datasets(s.ctx)
	if err != nil {
		s.store.log.Warn("listing datasets to announce", logkey.Err, err)
		failed = true
	}
	for _, name := range names {
		head, err := s.store.Head(s.ctx, name)
		if err != nil {
			s.store.log.Warn("reading dataset head to announce", logkey.Dataset, name, logkey.Err, err)
			failed = true
			continue
		}
		roots[head] = true
	}
	s.mu.Lock()
	for c := range s.extra {
		roots[c] = true
	}
	s.mu.Unlock()
	for root := range roots {
		if s.ctx.Err() != nil {
			return false
		}
		if done[root] {
			continue
		}
		if err := s.announce(s.ctx, root); err != nil {
			if s.ctx.Err() == nil {
				s.store.log.Warn("announcing dataset version; will retry", logkey.CID, root.String(), logkey.Err, err)
			}
			failed = true
			continue
		}
		done[root] = true
	}
	return failed
}

// versionKeys lists what a version is announced under: the root, every
// directory below it and the root of every file. Raw leaves and inner file
// nodes are left out; a puller reaches them through the file root's
// provider.
func versionKeys(ctx context.Context, dag ipld.DAGService, root cid.Cid) ([]cid.Cid, error) {
	var out []cid.Cid
	var walk func(c cid.Cid) error
	walk = func(c cid.Cid) error {
		out = append(out, c)
		if c.Prefix().Codec == cid.Raw {
			return nil
		}
		nd, err := dag.Get(ctx, c)
		if err != nil {
			return fmt.Errorf("reading %s: %w", c, err)
		}
		dir, err := uio.NewDirectoryFromNode(dag, nd)
		if err != nil {
			return nil // a file
		}
		links, err := dir.Links(ctx)
		if err != nil {
			return fmt.Errorf("listing %s: %w", c, err)
		}
		for _, l := range links {
			if err := walk(l.Cid); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return nil, err
	}
	return out, nil
}

// Close stops serving and announcing.
func (s *Server) Close() error {
	s.cancel()
	s.wg.Wait()
	s.net.Stop()
	s.srv.Close()
	s.cl.Close()
	return nil
}

// FetchFile returns the bytes of the UnixFS file named by root, fetching
// missing blocks from connected peers over bitswap (each block is checked
// against its CID). A file larger than max is an error. The coordinator uses
// it for capture bodies too large to travel inline in gossip.
func (s *Server) FetchFile(ctx context.Context, root cid.Cid, max int64) ([]byte, error) {
	dag := merkledag.NewDAGService(blockservice.New(s.store.bs, s.cl))
	nd, err := dag.Get(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", root, err)
	}
	r, err := uio.NewDagReader(ctx, nd, dag)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", root, err)
	}
	if int64(r.Size()) > max {
		return nil, fmt.Errorf("file %s is %d bytes, over the %d limit", root, r.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", root, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("file %s is over the %d limit", root, max)
	}
	return b, nil
}
