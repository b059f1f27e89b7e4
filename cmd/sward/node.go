package main

import (
	"fmt"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/swardnet/sward/internal/roles"
	"github.com/swardnet/sward/node"
)

// nodeOptions are the node command's own flags; the operator controls
// (caps, hours, blocklist, ...) come from node.AddFlags and override the
// config file.
type nodeOptions struct {
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

func newNodeCommand() *cobra.Command {
	var o nodeOptions
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a scraper node that donates bandwidth to a coordinator's crawl jobs",
		Long: `node runs a scraper node: it takes URLs from the coordinator it joins,
fetches them politely under its guards and caps, and gossips signed captures.
It never fetches private, loopback, link-local or cloud-metadata addresses
unless --allow-private is given. Its dashboard is at --dashboard (loopback
addresses only).

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
	f.StringVar(&o.dashboard, "dashboard", node.DefaultDashboardAddr, "dashboard address (loopback only; empty = off)")
	f.BoolVar(&o.mdns, "mdns", false, "discover peers on the LAN with mDNS")
	f.BoolVar(&o.dht, "dht", false, "join the Kademlia DHT")
	o.operator = node.AddFlags(f)
	cmd.AddCommand(newNodeStatusCommand())
	return cmd
}

// nodeConfig turns the flags into the node role's configuration.
func (o nodeOptions) nodeConfig() (roles.NodeConfig, error) {
	cfg := roles.NodeConfig{
		Listen: []string{o.listen}, Join: o.join, Trusted: o.trust,
		MDNS: o.mdns, DHT: o.dht, DashboardAddr: o.dashboard,
		Discover: o.coordinator == "" && len(o.trust) > 0,
	}
	if o.coordinator != "" {
		id, err := peer.Decode(o.coordinator)
		if err != nil {
			return cfg, fmt.Errorf("node: --coordinator %q is not a peer ID: %w", o.coordinator, err)
		}
		cfg.Coordinator = id
	}
	if o.configFile != "" {
		var err error
		if cfg.Node, err = node.LoadConfigFile(o.configFile); err != nil {
			return cfg, err
		}
	}
	if err := o.operator.Apply(&cfg.Node); err != nil {
		return cfg, err
	}
	if cfg.Node.DataDir == "" {
		cfg.Node.DataDir = o.dataDir
	}
	return cfg, nil
}

func runNode(cmd *cobra.Command, o nodeOptions) error {
	ctx := cmd.Context()
	cfg, err := o.nodeConfig()
	if err != nil {
		return err
	}
	n, err := roles.StartNode(ctx, cfg)
	if err != nil {
		return err
	}
	defer n.Close()
	out := cmd.OutOrStdout()
	if cfg.DashboardAddr != "" {
		fmt.Fprintf(out, "dashboard: http://%s\n", cfg.DashboardAddr)
	}
	if n.Coordinator != "" {
		fmt.Fprintf(out, "node %s working for coordinator %s; Ctrl-C stops (unfinished URLs are returned)\n", n.Host.ID(), n.Coordinator)
	} else {
		fmt.Fprintf(out, "node %s working for the trusted coordinators %v that announce work; Ctrl-C stops (unfinished URLs are returned)\n", n.Host.ID(), n.Host.Trusted())
	}
	return n.Serve(ctx)
}
