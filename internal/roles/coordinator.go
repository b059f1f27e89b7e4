package roles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/swardnet/sward/coordinator"
	"github.com/swardnet/sward/feed"
	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/network"
	"github.com/swardnet/sward/node"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// CoordinatorConfig says how StartCoordinator builds a coordinator.
type CoordinatorConfig struct {
	// DataDir holds the identity, frontier, block store and API token
	// (required). A coordinator started on a directory an earlier one used
	// resumes its jobs.
	DataDir string
	// Listen are the libp2p listen multiaddrs (default
	// network.DefaultListenAddr).
	Listen []string
	// DHT joins the Kademlia DHT and provides every dataset head there.
	DHT bool
	// Coordinator is the coordinator's own configuration (lease time,
	// workers, verification, ...); zero fields take its defaults.
	Coordinator coordinator.Config
	// HostDelay is the frontier's default gap between fetches to one host
	// (0 keeps the frontier's default of one second).
	HostDelay time.Duration
	// FrontierSync is the frontier's SQLite synchronous mode ("FULL", the
	// default, or "NORMAL").
	FrontierSync string
	// Pipeline configures the pipeline; zero fields take its defaults.
	Pipeline pipeline.Config
	// APIAddr serves the job API there; empty means no job API.
	APIAddr string
	// APIToken is the job API's token; empty means the one in
	// DataDir/api.token, created on first start.
	APIToken string
	// Feed, when set, also runs the LLM feed over this coordinator (live
	// fetch through its nodes, accepted documents indexed). An empty
	// IndexDir means DataDir/feed.
	Feed *feed.Config
	// TrustedFetcher, when set, runs a fetcher of the coordinator's own
	// (the node package's Fetcher, with its address guard and politeness)
	// as Coordinator.TrustedFetch: checks that keep lapsing, or find no
	// eligible verifier, are fetched by it, so a staller cannot void a
	// check (docs/verification.md). An empty DataDir means
	// DataDir/trusted-fetcher. Ignored when Coordinator.TrustedFetch is set.
	TrustedFetcher *node.Config
	// Logger receives the role's logs (default slog.Default()).
	Logger *slog.Logger
}

// Default fills unset fields.
func (c *CoordinatorConfig) Default() {
	if len(c.Listen) == 0 {
		c.Listen = []string{network.DefaultListenAddr}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Pipeline.Default()
	if c.Feed != nil && c.Feed.IndexDir == "" {
		c.Feed.IndexDir = filepath.Join(c.DataDir, "feed")
	}
	if c.TrustedFetcher != nil && c.TrustedFetcher.DataDir == "" {
		c.TrustedFetcher.DataDir = filepath.Join(c.DataDir, "trusted-fetcher")
	}
}

// Validate reports a configuration StartCoordinator cannot run.
func (c CoordinatorConfig) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("coordinator: no data directory: pass --data"))
	}
	if c.HostDelay < 0 {
		errs = append(errs, fmt.Errorf("coordinator: negative host delay %v", c.HostDelay))
	}
	switch c.FrontierSync {
	case "", "FULL", "NORMAL":
	default:
		errs = append(errs, fmt.Errorf("coordinator: frontier sync %q: want FULL or NORMAL", c.FrontierSync))
	}
	return errors.Join(errs...)
}

// Coordinator is a running coordinator role: its host, frontier, store,
// pipeline, announcer, bitswap server and HTTP surfaces.
type Coordinator struct {
	// Host is the coordinator's libp2p host.
	Host *network.Host
	// Frontier is its durable frontier.
	Frontier *frontier.Frontier
	// Store holds its datasets.
	Store *storage.Store
	// Coord is the coordinator service.
	Coord *coordinator.Coordinator
	// Feed is the LLM feed, or nil.
	Feed *Feed
	// APIToken is the job API's token ("" without a job API).
	APIToken string
	// APIAddr is where the job API listens ("" without one).
	APIAddr string

	cfg     CoordinatorConfig
	jobs    *network.Jobs
	ann     *coordinator.Announcer
	bitswap *storage.Server
	api     *coordinator.API
	apiLn   net.Listener
	closers closers
}

// StartCoordinator opens a coordinator's stores on cfg.DataDir, starts its
// host, serves leases and blocks, and opens the listeners of its HTTP
// surfaces. Serve runs it; Close releases it.
func StartCoordinator(ctx context.Context, cfg CoordinatorConfig) (_ *Coordinator, err error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Coordinator{cfg: cfg}
	defer func() {
		if err != nil {
			_ = c.closers.close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the coordinator's data directory: %w", err)
	}
	c.Host, err = network.New(ctx, network.Config{
		ListenAddrs: cfg.Listen, KeyFile: filepath.Join(cfg.DataDir, "identity.key"), DHT: cfg.DHT,
		Logger: cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the coordinator's libp2p host: %w", err)
	}
	c.closers.add(c.Host.Close)
	fcfg := frontier.Config{Logger: cfg.Logger, Synchronous: cfg.FrontierSync}
	if cfg.HostDelay > 0 {
		// Local demo hosts: a shorter default gap than the network's one
		// second, while politeness still holds per host.
		fcfg.DefaultHostPolicy = frontier.HostPolicy{MinDelay: cfg.HostDelay, MaxConcurrency: 1}
	}
	c.Frontier, err = frontier.Open(ctx, filepath.Join(cfg.DataDir, "frontier.db"), fcfg)
	if err != nil {
		return nil, fmt.Errorf("opening the frontier: %w", err)
	}
	c.closers.add(c.Frontier.Close)
	c.Store, err = storage.OpenWithConfig(ctx, filepath.Join(cfg.DataDir, "store"), storage.Config{Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("opening the block store: %w", err)
	}
	c.closers.add(c.Store.Close)
	pipe, err := pipeline.New(cfg.Pipeline)
	if err != nil {
		return nil, fmt.Errorf("building the pipeline: %w", err)
	}
	ccfg := cfg.Coordinator
	if ccfg.Logger == nil {
		ccfg.Logger = cfg.Logger
	}
	if cfg.TrustedFetcher != nil && ccfg.TrustedFetch == nil {
		f, err := node.NewFetcher(*cfg.TrustedFetcher)
		if err != nil {
			return nil, fmt.Errorf("building the coordinator's trusted fetcher: %w", err)
		}
		c.closers.add(f.Close)
		ccfg.TrustedFetch = TrustedFetch(f)
	}
	c.Coord, err = coordinator.New(ctx, ccfg, c.Host, c.Frontier, c.Store, pipe)
	if err != nil {
		return nil, fmt.Errorf("starting the coordinator: %w", err)
	}
	c.Host.ServeLeases(c.Coord)
	// Open jobs are announced on the jobs topic, where nodes that trust
	// this coordinator find work.
	c.jobs, err = c.Host.JoinJobs(network.JobsConfig{})
	if err != nil {
		return nil, fmt.Errorf("joining the jobs topic: %w", err)
	}
	c.closers.add(c.jobs.Close)
	c.ann, err = coordinator.NewAnnouncer(coordinator.AnnounceConfig{ExtraWork: c.Coord.OpenChecks, Logger: cfg.Logger}, c.Frontier, c.jobs)
	if err != nil {
		return nil, err
	}
	var scfg storage.ServeConfig
	if r := c.Host.Routing(); r != nil {
		// Every dataset head, and each new version as it is published,
		// gets provider records in the DHT.
		scfg.Routing = r
	}
	c.bitswap, err = storage.Serve(ctx, c.Host.Libp2p(), c.Store, scfg)
	if err != nil {
		return nil, fmt.Errorf("serving blocks over bitswap: %w", err)
	}
	c.closers.add(c.bitswap.Close)
	// Bodies over the gossip inline limit are fetched from their node's
	// block store over bitswap.
	c.Coord.SetBodyFetcher(c.bitswap)

	if cfg.Feed != nil {
		c.Feed, err = StartFeed(ctx, FeedConfig{Feed: *cfg.Feed, Source: c.Coord, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		c.closers.add(c.Feed.Close)
	}
	if cfg.APIAddr != "" {
		tok := cfg.APIToken
		if tok == "" {
			if tok, err = coordinator.LoadOrCreateAPIToken(c.APITokenFile()); err != nil {
				return nil, err
			}
		}
		c.APIToken = tok
		if c.api, err = coordinator.NewAPI(c.Coord, c.Frontier, coordinator.APIConfig{Token: tok}); err != nil {
			return nil, err
		}
		if c.apiLn, err = listen("job API", cfg.APIAddr); err != nil {
			return nil, err
		}
		c.APIAddr = c.apiLn.Addr().String()
		c.closers.add(func() error {
			// Serve closes it; this covers a Start that fails later.
			if err := c.apiLn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				return err
			}
			return nil
		})
	}
	return c, nil
}

// APITokenFile is where the job API token is kept.
func (c *Coordinator) APITokenFile() string {
	return filepath.Join(c.cfg.DataDir, coordinator.APITokenFile)
}

// Addr is the coordinator's first full multiaddr (with /p2p/), the one
// nodes join.
func (c *Coordinator) Addr() string { return c.Host.Addrs()[0] }

// Serve runs the coordinator (ingest, leases, announcements, job API,
// feed) until ctx ends or one of them fails.
func (c *Coordinator) Serve(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.Coord.Serve(gctx) })
	g.Go(func() error { return c.ann.Serve(gctx) })
	if c.api != nil {
		g.Go(func() error { return c.api.Serve(gctx, c.apiLn) })
	}
	if c.Feed != nil {
		g.Go(func() error { return c.Feed.Serve(gctx) })
	}
	err := g.Wait()
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Close releases everything in the reverse order of StartCoordinator: the
// feed, the bitswap server, the jobs topic, the store, the frontier and
// the host. Call it after Serve has returned.
func (c *Coordinator) Close() error { return c.closers.close() }

// TrustedFetch adapts a node Fetcher to coordinator.TrustedFetchFunc: the
// page is fetched under the fetcher's guard (no private address unless its
// config allows it), robots rules and per-host politeness. A fetch that
// fails comes back as a capture with Error set, as a node's would: it
// then confirms an original error answer, and leaves any other check to
// its next try.
func TrustedFetch(f *node.Fetcher) coordinator.TrustedFetchFunc {
	return func(ctx context.Context, url string) (*schemas.Capture, error) {
		capt := f.Fetch(ctx, schemas.LeaseItem{URL: url}, schemas.HostBudget{MaxConcurrency: 1})
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("trusted fetch of %s: %w", url, err)
		}
		return capt, nil
	}
}
