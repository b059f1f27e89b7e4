package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/swardnet/sward/feed"
	"github.com/swardnet/sward/internal/roles"
)

// coordinatorOptions are the flags of `sward coordinator`.
type coordinatorOptions struct {
	dataDir, listen, api, feedAddr string
	dht                            bool
}

func newCoordinatorCommand() *cobra.Command {
	var o coordinatorOptions
	cmd := &cobra.Command{
		Use:   "coordinator",
		Short: "Run a coordinator: job API, frontier, leases, ingest, datasets over bitswap",
		Long: `coordinator runs a coordinator: its job API (loopback by default), durable
frontier, leases, ingest and pipeline, and serves its datasets over bitswap.

Jobs come only from the coordinator's owner: submit, pause, resume, cancel and
publish need the API token kept in DATA/api.token (created on first start);
sward crawl reads it with --data DATA, --token or $SWARD_API_TOKEN.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCoordinator(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data", filepath.Join(defaultDataDir(), "coordinator"), "data directory (frontier, blocks, identity, API token)")
	f.StringVar(&o.listen, "listen", "/ip4/127.0.0.1/tcp/4001", "libp2p listen multiaddr")
	f.StringVar(&o.api, "api", "127.0.0.1:7700", "job API address (loopback by default)")
	f.StringVar(&o.feedAddr, "feed", "", "also serve the LLM feed on this address")
	f.BoolVar(&o.dht, "dht", false, "join the Kademlia DHT and provide datasets there")
	return cmd
}

func runCoordinator(cmd *cobra.Command, o coordinatorOptions) error {
	ctx := cmd.Context()
	cfg := roles.CoordinatorConfig{
		DataDir: o.dataDir, Listen: []string{o.listen}, DHT: o.dht, APIAddr: o.api,
	}
	if o.feedAddr != "" {
		cfg.Feed = &feed.Config{Addr: o.feedAddr}
	}
	c, err := roles.StartCoordinator(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "coordinator %s\n", c.Host.ID())
	for _, a := range c.Host.Addrs() {
		fmt.Fprintf(out, "  nodes join with: sward node --join %s\n", a)
	}
	if c.APIAddr != "" {
		printJobAPI(out, c.APIAddr, c.APITokenFile())
	}
	if c.Feed != nil {
		fmt.Fprintf(out, "  LLM feed API: http://%s/v1/search?q=...\n", c.Feed.Addr)
	}
	return c.Serve(ctx)
}
