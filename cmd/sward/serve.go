package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/swardnet/sward/feed"
	"github.com/swardnet/sward/internal/roles"
)

// feedFlags are the flags shared by `sward serve` and `sward mcp`.
type feedFlags struct {
	indexDir string
	datasets []string
}

func (ff *feedFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&ff.indexDir, "index", "", "directory of the persistent search index (default: in memory)")
	cmd.Flags().StringArrayVar(&ff.datasets, "dataset", nil, "pulled dataset directory (with data/*.parquet) to index at start; repeatable")
}

// startFeed builds a standalone feed (no network attached: live fetches
// answer from the cache only) with the datasets indexed. noListen is for
// sward mcp, which answers over stdio.
func (ff *feedFlags) startFeed(ctx context.Context, cfg feed.Config, noListen bool) (*roles.Feed, error) {
	cfg.IndexDir = ff.indexDir
	return roles.StartFeed(ctx, roles.FeedConfig{Feed: cfg, Datasets: ff.datasets, NoListen: noListen})
}

func newServeCommand() *cobra.Command {
	var (
		ff          feedFlags
		cfg         feed.Config
		keys        []string
		newKey      string
		allowRemote bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the LLM feed API (search, documents, live fetch, SSE, export, webhooks, MCP at /mcp)",
		Long: `Serve the feed API on loopback: BM25 search, documents with provenance,
live fetch, a resumable Server-Sent Events feed, Arrow export, webhooks and an
MCP endpoint at /mcp. The OpenAPI 3.1 document is at /openapi.json.

Standalone, the server indexes the datasets given with --dataset and answers
/v1/fetch from its cache only (stale captures are marked so); a live fetch
needs a running network, which 'sward up' wires in.

API keys are given as NAME:SHA256 (the hex SHA-256 of the key); make one with
'sward serve --new-key NAME'. Without keys the API is open, which is only
allowed on a loopback address.`,
		Example: `  sward serve --dataset ./my-dataset
  sward serve --new-key myapp
  sward serve --index ~/.sward/feed --api-key myapp:3b1f...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if newKey != "" {
				key, sha, err := feed.NewAPIKey()
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "key (give to the client, shown once): %s\nflag for the server:                  --api-key %s:%s\n", key, newKey, sha)
				return nil
			}
			for _, k := range keys {
				name, sha, ok := strings.Cut(k, ":")
				if !ok {
					return fmt.Errorf("--api-key %q: want NAME:SHA256", k)
				}
				cfg.APIKeys = append(cfg.APIKeys, feed.APIKey{Name: name, SHA256: strings.ToLower(sha)})
			}
			cfg.AllowRemote = allowRemote
			ctx := cmd.Context()
			f, err := ff.startFeed(ctx, cfg, false)
			if err != nil {
				return err
			}
			defer f.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "feed API at http://%s (OpenAPI at /openapi.json, MCP at /mcp)\n", f.Addr)
			return f.Serve(ctx)
		},
	}
	ff.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&cfg.Addr, "addr", "127.0.0.1:8088", "listen address (loopback unless --allow-remote)")
	fl.BoolVar(&allowRemote, "allow-remote", false, "allow a non-loopback --addr (requires --api-key)")
	fl.IntVar(&cfg.Retention, "retention", 10000, "feed events kept for SSE resume (Last-Event-ID)")
	fl.StringArrayVar(&keys, "api-key", nil, "accepted API key as NAME:SHA256; repeatable")
	fl.Float64Var(&cfg.RateLimit.PerSecond, "rate", 20, "requests per second allowed per key (or per client IP without keys)")
	fl.IntVar(&cfg.RateLimit.Burst, "burst", 40, "request burst allowed per key")
	fl.Int64Var(&cfg.MaxRequestBytes, "max-request-bytes", 1<<20, "largest request body accepted")
	fl.StringVar(&newKey, "new-key", "", "print a new API key for NAME and its --api-key flag, then exit")
	return cmd
}
