package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/swardnet/sward/coordinator"
	"github.com/swardnet/sward/feed"
	"github.com/swardnet/sward/network"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

func init() {
	var (
		dataDir, listen, api, feedAddr string
		dht                            bool
	)
	cmd := &cobra.Command{
		Use:   "coordinator",
		Short: "Run a coordinator: job API, frontier, leases, ingest, datasets over bitswap",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return fmt.Errorf("creating data directory: %w", err)
			}
			h, err := network.New(ctx, network.Config{
				ListenAddrs: []string{listen}, KeyFile: filepath.Join(dataDir, "identity.key"), DHT: dht,
			})
			if err != nil {
				return fmt.Errorf("starting libp2p host: %w", err)
			}
			defer h.Close()
			frontier, err := coordinator.OpenFrontier(ctx, filepath.Join(dataDir, "frontier.db"))
			if err != nil {
				return err
			}
			defer frontier.Close()
			store, err := storage.Open(ctx, filepath.Join(dataDir, "store"))
			if err != nil {
				return err
			}
			defer store.Close()
			pcfg := pipeline.Config{}
			pcfg.Default()
			pipe, err := pipeline.New(pcfg)
			if err != nil {
				return err
			}
			coord, err := coordinator.New(ctx, coordinator.Config{}, h, frontier, store, pipe)
			if err != nil {
				return err
			}
			h.ServeLeases(coord)
			// Open jobs are announced on the jobs topic, where nodes that
			// trust this coordinator find work (sward node --trust).
			jobs, err := h.JoinJobs(network.JobsConfig{})
			if err != nil {
				return fmt.Errorf("joining the jobs topic: %w", err)
			}
			defer jobs.Close()
			ann, err := coordinator.NewAnnouncer(coordinator.AnnounceConfig{ExtraWork: coord.OpenChecks}, frontier, jobs)
			if err != nil {
				return err
			}
			annCtx, stopAnn := context.WithCancel(ctx)
			annDone := make(chan struct{})
			go func() {
				defer close(annDone)
				_ = ann.Serve(annCtx)
			}()
			defer func() {
				stopAnn()
				<-annDone
			}()
			var sopts []storage.ServeOption
			if r := h.Routing(); r != nil {
				// Every dataset head, and each new version as it is
				// published, gets provider records in the DHT.
				sopts = append(sopts, storage.WithRouting(r))
			}
			bsrv, err := storage.Serve(ctx, h.Libp2p(), store, sopts...)
			if err != nil {
				return fmt.Errorf("serving blocks: %w", err)
			}
			defer bsrv.Close()
			coord.SetBodyFetcher(bsrv)
			if err := serveHTTP(ctx, api, coordinator.NewAPI(coord, frontier).Handler()); err != nil {
				return fmt.Errorf("job API: %w", err)
			}
			if feedAddr != "" {
				fcfg := feed.Config{Addr: feedAddr, Fetcher: coord, IndexDir: filepath.Join(dataDir, "feed")}
				fcfg.Default()
				fd, err := feed.New(ctx, fcfg)
				if err != nil {
					return err
				}
				defer fd.Close()
				coord.OnAccept(func(d schemas.Document) {
					if !fd.Offer(d) {
						slog.Warn("feed: queue full, document not indexed", "url", d.URL)
					}
				})
				coord.OnExclude(func(_, docID string) {
					if _, err := fd.RemoveDocument(ctx, docID, time.Now().UTC()); err != nil {
						slog.Warn("feed: removing excluded document", "doc", docID, "err", err)
					}
				})
				coord.OnGone(func(url string, at time.Time) {
					// A recrawl found the page deleted: subscribers get a "removed" event.
					if _, err := fd.MarkRemoved(ctx, url, at); err != nil {
						slog.Warn("feed: marking a page removed", "url", url, "err", err)
					}
				})
				if err := serveHTTP(ctx, feedAddr, fd.Handler()); err != nil {
					return fmt.Errorf("feed API: %w", err)
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "coordinator %s\n", h.ID())
			for _, a := range h.Addrs() {
				fmt.Fprintf(out, "  nodes join with: sward node --join %s\n", a)
			}
			fmt.Fprintf(out, "  job API: http://%s/v1/jobs  (sward crawl submit JOB.yaml --api http://%s)\n", api, api)
			return coord.Serve(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", filepath.Join(defaultDataDir(), "coordinator"), "data directory (frontier, blocks, identity)")
	f.StringVar(&listen, "listen", "/ip4/127.0.0.1/tcp/4001", "libp2p listen multiaddr")
	f.StringVar(&api, "api", "127.0.0.1:7700", "job API address (loopback by default)")
	f.StringVar(&feedAddr, "feed", "", "also serve the LLM feed on this address")
	f.BoolVar(&dht, "dht", false, "join the Kademlia DHT and provide datasets there")
	rootCmd.AddCommand(cmd)
}

// serveHTTP serves h on addr until ctx ends.
func serveHTTP(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s (in use? pick another address): %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return nil
}
