package roles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/network"
	"github.com/swardnet/sward/node"
)

// NodeConfig says how StartNode builds a scraper node.
type NodeConfig struct {
	// Node is the fetcher's configuration (caps, guards, politeness);
	// Node.DataDir is required and holds the identity, usage counters and
	// large bodies.
	Node node.Config
	// Listen are the libp2p listen multiaddrs (default
	// network.DefaultListenAddr).
	Listen []string
	// Join are peer multiaddrs (with /p2p/) to connect to, usually
	// coordinators.
	Join []string
	// Trusted are the peer IDs of the coordinators the node takes work
	// from; empty means the Join peers.
	Trusted []string
	// MDNS and DHT are the other ways to reach the network.
	MDNS, DHT bool
	// Coordinator pins the one coordinator to take work from (it must be
	// trusted). It may be down at start: lease requests back off until it
	// is up.
	Coordinator peer.ID
	// Discover takes work from every trusted coordinator that announces
	// pending work on the jobs topic, in turn. Without it and without
	// Coordinator, the node works for the coordinator of Join[0], which
	// must be reachable at start.
	Discover bool
	// Service tunes the lease service (lease size, backoff, ...); its
	// Coordinator and Announcements are set from the fields above.
	Service node.ServiceConfig
	// Sign signs captures; nil means network.SignCapture. Tests pass a
	// dishonest signer to play a node that alters what it fetched.
	Sign node.Signer
	// Blobs configures the store of large bodies.
	Blobs node.BlobConfig
	// DashboardAddr serves the node's dashboard there (loopback only:
	// node.Dashboard.Serve refuses anything else); empty means none.
	DashboardAddr string
	// Logger receives the role's logs (default slog.Default()).
	Logger *slog.Logger
}

// Default fills unset fields.
func (c *NodeConfig) Default() {
	if len(c.Listen) == 0 {
		c.Listen = []string{network.DefaultListenAddr}
	}
	if c.Sign == nil {
		c.Sign = network.SignCapture
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Node.Logger == nil {
		c.Node.Logger = c.Logger
	}
	if c.Service.Logger == nil {
		c.Service.Logger = c.Logger
	}
	if c.Blobs.Logger == nil {
		c.Blobs.Logger = c.Logger
	}
	c.Node.Default()
}

// Validate reports a configuration StartNode cannot run.
func (c NodeConfig) Validate() error {
	var errs []error
	if c.Node.DataDir == "" {
		errs = append(errs, errors.New("node: no data directory: pass --data"))
	}
	switch {
	case len(c.Join) == 0 && !c.Discover && c.Coordinator == "":
		errs = append(errs, errors.New("node: pass --join with the coordinator's multiaddr (sward up and sward coordinator print it), or --trust with the coordinators' peer IDs and --mdns or --dht to find them"))
	case len(c.Join) == 0 && !c.MDNS && !c.DHT:
		errs = append(errs, errors.New("node: no way to reach the network: pass --join with a peer's multiaddr, or --mdns or --dht"))
	}
	if err := c.Node.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Node is a running scraper node: its host, fetcher, lease service, large
// bodies and dashboard.
type Node struct {
	// Host is the node's libp2p host.
	Host *network.Host
	// Fetcher fetches under the node's guards and caps.
	Fetcher *node.Fetcher
	// Bodies holds bodies too large for gossip until they are collected.
	Bodies *node.BlobStore
	// Coordinator is the coordinator it works for ("" when it takes work
	// from the trusted coordinators' announcements).
	Coordinator peer.ID

	cfg     NodeConfig
	svc     *node.Service
	dash    *node.Dashboard
	closers closers
}

// StartNode starts a node's host, joins the jobs topic (every node relays
// announcements), opens its fetcher and large-body store and builds its
// lease service. Serve sets it working; Close releases it.
func StartNode(ctx context.Context, cfg NodeConfig) (_ *Node, err error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg}
	defer func() {
		if err != nil {
			_ = n.closers.close()
		}
	}()
	dir := cfg.Node.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the node's data directory: %w", err)
	}
	n.Host, err = network.New(ctx, network.Config{
		ListenAddrs: cfg.Listen,
		KeyFile:     filepath.Join(dir, "identity.key"),
		Bootstrap:   cfg.Join, MDNS: cfg.MDNS, DHT: cfg.DHT, Trusted: cfg.Trusted,
		Logger: cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the node's libp2p host: %w", err)
	}
	n.closers.add(n.Host.Close)
	// Every node listens to the jobs topic, so that it relays
	// coordinators' announcements even when it works for one only.
	jobs, err := n.Host.JoinJobs(network.JobsConfig{})
	if err != nil {
		return nil, fmt.Errorf("joining the jobs topic: %w", err)
	}
	n.closers.add(jobs.Close)
	scfg := cfg.Service
	scfg.Coordinator, scfg.Announcements = "", nil
	switch {
	case cfg.Coordinator != "":
		if !n.Host.IsTrusted(cfg.Coordinator) {
			return nil, fmt.Errorf("node: coordinator %s is not trusted: add it to --trust (or to --join when --trust is not given)", cfg.Coordinator)
		}
		scfg.Coordinator = cfg.Coordinator
		if len(cfg.Join) > 0 {
			// Best effort: the coordinator may be down; lease requests
			// back off until it is up.
			if _, err := n.Host.Connect(ctx, cfg.Join[0]); err != nil {
				cfg.Logger.Debug("coordinator not reachable yet", logkey.Addr, cfg.Join[0], logkey.Err, err)
			}
		}
	case cfg.Discover:
		scfg.Announcements = jobs
	default:
		if scfg.Coordinator, err = n.Host.Connect(ctx, cfg.Join[0]); err != nil {
			return nil, fmt.Errorf("joining coordinator %s: %w", cfg.Join[0], err)
		}
	}
	n.Coordinator = scfg.Coordinator
	n.Fetcher, err = node.NewFetcher(cfg.Node)
	if err != nil {
		return nil, err
	}
	// Closing the fetcher saves the month's usage: without it the bytes
	// of the last seconds would not count against the monthly cap.
	n.closers.add(n.Fetcher.Close)
	n.svc, err = node.NewService(scfg, n.Host, cfg.Sign, n.Fetcher)
	if err != nil {
		return nil, err
	}
	// Large bodies wait here for the coordinator, served over bitswap,
	// then are collected (after a TTL, or beyond a size cap).
	bodies, err := node.OpenLargeBodies(ctx, n.Host.Libp2p(), filepath.Join(dir, "store"), cfg.Blobs)
	if err != nil {
		return nil, err
	}
	n.closers.add(bodies.Close)
	n.Bodies = bodies.Blobs
	n.svc.SetBlobs(bodies.Blobs)
	if cfg.DashboardAddr != "" {
		n.dash = node.NewDashboard(n.Fetcher, n.Host.ID().String())
		n.dash.ShowBodies(bodies.Blobs)
	}
	return n, nil
}

// Serve runs the lease service and the dashboard until ctx ends or one of
// them fails (a dashboard address that is not loopback fails at once).
// Unfinished URLs are returned to the coordinator when ctx ends.
func (n *Node) Serve(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return n.svc.Serve(gctx) })
	if n.dash != nil {
		g.Go(func() error { return n.dash.Serve(gctx, n.cfg.DashboardAddr) })
	}
	err := g.Wait()
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Close releases everything in the reverse order of StartNode: the large
// bodies, the fetcher (which saves the month's usage), the jobs topic and
// the host. Call it after Serve has returned.
func (n *Node) Close() error { return n.closers.close() }
