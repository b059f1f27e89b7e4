package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/swardnet/sward/network"
	"github.com/swardnet/sward/node"
)

// nodeFlags are the node command's own flags; the operator controls (caps,
// hours, blocklist, ...) come from node.AddFlags and override the config file.
type nodeFlags struct {
	join        []string
	trust       []string
	coordinator string
	dataDir     string
	configFile  string
	listen      string
	dashboard   string
	mdns        bool
	dht         bool
	operator    *node.Flags
}

func init() {
	var o nodeFlags
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a scraper node that donates bandwidth to a coordinator's crawl jobs",
		Long: `node runs a scraper node: it takes URLs from the coordinator it joins,
fetches them politely under its guards and caps, and gossips signed captures.
It never fetches private, loopback, link-local or cloud-metadata addresses
unless --allow-private is given. Its dashboard is at --dashboard.

Which coordinator it works for:
  --coordinator <peer id>   that one coordinator (it must be trusted);
  --trust <peer id>,...     any of these coordinators that announces pending
                            work on the jobs topic, in turn (reach the network
                            with --join, --mdns or --dht);
  neither                   the coordinator of the first --join address.
Nodes execute jobs only from trusted coordinators: those given by --trust,
or, without --trust, the peers given by --join.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runNode(cmd, o) },
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.join, "join", nil, "peer multiaddr(s) with /p2p/ to connect to, usually coordinators (required unless --trust is given with --mdns or --dht)")
	f.StringSliceVar(&o.trust, "trust", nil, "peer IDs of the coordinators this node takes work from (default: the --join peers); with --trust and no --coordinator, the node finds work by the trusted coordinators' job announcements")
	f.StringVar(&o.coordinator, "coordinator", "", "peer ID of the one coordinator to take work from (optional: default the first --join peer, or, with --trust, every trusted coordinator that announces work)")
	f.StringVar(&o.dataDir, "data", filepath.Join(defaultDataDir(), "node"), "data directory (identity key, usage counters)")
	f.StringVar(&o.configFile, "config", "", "YAML config file (see docs/node.md); flags override it")
	f.StringVar(&o.listen, "listen", "/ip4/0.0.0.0/tcp/0", "libp2p listen multiaddr")
	f.StringVar(&o.dashboard, "dashboard", "127.0.0.1:7777", "dashboard address (loopback by default; empty = off)")
	f.BoolVar(&o.mdns, "mdns", false, "discover peers on the LAN with mDNS")
	f.BoolVar(&o.dht, "dht", false, "join the Kademlia DHT")
	o.operator = node.AddFlags(f)
	addNodeStatus(cmd)
	rootCmd.AddCommand(cmd)
}

func runNode(cmd *cobra.Command, o nodeFlags) error {
	ctx := cmd.Context()
	discover := o.coordinator == "" && len(o.trust) > 0
	switch {
	case len(o.join) == 0 && !discover && o.coordinator == "":
		return errors.New("node: pass --join with the coordinator's multiaddr (sward up and sward coordinator print it), or --trust with the coordinators' peer IDs and --mdns or --dht to find them")
	case len(o.join) == 0 && !o.mdns && !o.dht:
		return errors.New("node: no way to reach the network: pass --join with a peer's multiaddr, or --mdns or --dht")
	}
	var pinned peer.ID
	if o.coordinator != "" {
		id, err := peer.Decode(o.coordinator)
		if err != nil {
			return fmt.Errorf("node: --coordinator %q is not a peer ID: %w", o.coordinator, err)
		}
		pinned = id
	}
	cfg := node.Config{}
	if o.configFile != "" {
		var err error
		if cfg, err = node.LoadConfigFile(o.configFile); err != nil {
			return err
		}
	}
	if err := o.operator.Apply(&cfg); err != nil {
		return err
	}
	if cfg.DataDir == "" {
		cfg.DataDir = o.dataDir
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return err
	}
	h, err := network.New(ctx, network.Config{
		ListenAddrs: []string{o.listen},
		KeyFile:     filepath.Join(cfg.DataDir, "identity.key"),
		Bootstrap:   o.join, MDNS: o.mdns, DHT: o.dht, Trusted: o.trust,
	})
	if err != nil {
		return fmt.Errorf("starting libp2p host: %w", err)
	}
	defer h.Close()
	// Every node listens to the jobs topic, so that it relays coordinators'
	// announcements even when it works for one coordinator only.
	jobs, err := h.JoinJobs(network.JobsConfig{})
	if err != nil {
		return err
	}
	defer jobs.Close()
	scfg := node.ServiceConfig{Coordinator: pinned}
	switch {
	case pinned != "":
		if !h.IsTrusted(pinned) {
			return fmt.Errorf("node: --coordinator %s is not trusted: add it to --trust (or to --join when --trust is not given)", pinned)
		}
	case discover:
		scfg.Announcements = jobs
	default:
		if scfg.Coordinator, err = h.Connect(ctx, o.join[0]); err != nil {
			return fmt.Errorf("joining coordinator %s: %w", o.join[0], err)
		}
	}
	fetcher, err := node.NewFetcher(cfg)
	if err != nil {
		return err
	}
	svc, err := node.NewService(scfg, h, network.SignCapture, fetcher)
	if err != nil {
		return err
	}
	// Large bodies wait here for the coordinator, then are collected
	// (after an hour, or beyond 512 MiB, oldest first).
	bodies, err := node.OpenLargeBodies(ctx, h.Libp2p(), filepath.Join(cfg.DataDir, "store"), node.BlobConfig{})
	if err != nil {
		return err
	}
	defer bodies.Close()
	svc.SetBlobs(bodies.Blobs)
	if o.dashboard != "" {
		ln, err := net.Listen("tcp", o.dashboard)
		if err != nil {
			return fmt.Errorf("dashboard on %s (in use? pass --dashboard): %w", o.dashboard, err)
		}
		dash := node.NewDashboard(fetcher, h.ID().String())
		dash.ShowBodies(bodies.Blobs)
		srv := &http.Server{Handler: dash.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		fmt.Fprintf(cmd.OutOrStdout(), "dashboard: http://%s\n", o.dashboard)
	}
	if scfg.Coordinator != "" {
		fmt.Fprintf(cmd.OutOrStdout(), "node %s working for coordinator %s; Ctrl-C stops (unfinished URLs are returned)\n", h.ID(), scfg.Coordinator)
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "node %s working for the trusted coordinators %v that announce work; Ctrl-C stops (unfinished URLs are returned)\n", h.ID(), h.Trusted())
	}
	return svc.Serve(ctx)
}
