package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/swardnet/sward/examples/site"
	"github.com/swardnet/sward/internal/cluster"
	"github.com/swardnet/sward/schemas"
)

// upOptions configures `sward up`, the whole network on one machine.
type upOptions struct {
	dataDir      string
	nodes        int
	sitePort     int
	siteHosts    int
	sitePages    int
	maxDepth     int
	maxPages     int
	dashPort     int
	feedAddr     string
	apiAddr      string
	curatorAddr  string
	exitWhenDone bool
	hostDelay    time.Duration
}

func newUpCommand() *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the example site, a coordinator, scraper nodes, the feed and dashboards on loopback",
		Long: `up starts the whole network on this machine: the example website on
loopback, a coordinator and scraper nodes (each its own libp2p host, joined by
gossipsub), the node dashboards and the LLM feed. It submits the example job,
shows progress, publishes the dataset version and prints its CID and the
command to pull it from another terminal. It keeps serving until Ctrl-C.

Run again with the same --data, it resumes the job where it stopped; when
nothing is left to fetch it prints the dataset's latest version and keeps the
network up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUp(cmd.Context(), o, cmd.OutOrStdout()) },
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data", "", "data directory (default: a new temporary directory)")
	f.IntVar(&o.nodes, "nodes", 3, "number of scraper nodes")
	f.IntVar(&o.sitePort, "site-port", 8480, "port of the example site's hosts (0 = any free port)")
	f.IntVar(&o.siteHosts, "site-hosts", 0, "example site hosts (0 = default)")
	f.IntVar(&o.sitePages, "site-pages", 0, "example site pages per host (0 = default)")
	f.IntVar(&o.maxDepth, "max-depth", 4, "crawl depth limit of the example job")
	f.IntVar(&o.maxPages, "max-pages", 5000, "page limit of the example job")
	f.IntVar(&o.dashPort, "dashboard-port", 7777, "first node dashboard port (nodes take consecutive ports; 0 = none)")
	f.StringVar(&o.feedAddr, "feed", "127.0.0.1:8088", "address of the LLM feed API (empty = none)")
	f.StringVar(&o.apiAddr, "api", "127.0.0.1:7700", "address of the coordinator's job API (empty = none)")
	f.StringVar(&o.curatorAddr, "curator", "127.0.0.1:7790", "address of the curator review queue (empty = none)")
	f.BoolVar(&o.exitWhenDone, "exit", false, "exit once the dataset is published instead of serving it")
	f.DurationVar(&o.hostDelay, "host-delay", 200*time.Millisecond, "minimum delay between requests to one host")
	return cmd
}

func runUp(ctx context.Context, o upOptions, out io.Writer) error {
	if o.dataDir == "" {
		d, err := os.MkdirTemp("", "sward-demo-")
		if err != nil {
			return fmt.Errorf("creating data directory: %w", err)
		}
		o.dataDir = d
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cl, err := cluster.Start(ctx, cluster.Options{
		DataDir: o.dataDir, Nodes: o.nodes,
		Site:     site.Config{Port: o.sitePort, Hosts: o.siteHosts, PagesPerHost: o.sitePages},
		DashPort: o.dashPort, FeedAddr: o.feedAddr, APIAddr: o.apiAddr, CuratorAddr: o.curatorAddr,
		HostDelay: o.hostDelay,
	})
	if err != nil {
		return err
	}
	defer cl.Close()
	fmt.Fprintf(out, "sward up: data in %s\n", o.dataDir)
	fmt.Fprintf(out, "  example site: %d hosts, e.g. %s\n", len(cl.Site().Hosts()), cl.Site().Seeds()[0])
	fmt.Fprintf(out, "  coordinator:  %s\n", cl.CoordinatorAddr())
	for _, u := range cl.URLs() {
		fmt.Fprintf(out, "  %s\n", u)
	}
	if addr, file := cl.APIAddr(), cl.APITokenFile(); addr != "" {
		printJobAPI(out, addr, file)
	}

	spec := cl.Site().JobSpec("demo", o.maxDepth, o.maxPages)
	spec.Politeness.MinDelay = schemas.Duration(o.hostDelay)
	jobID, resumed, err := cl.SubmitOrResume(ctx, spec)
	if err != nil {
		return fmt.Errorf("submitting the example job: %w", err)
	}
	if resumed {
		fmt.Fprintf(out, "  resuming job %s from %s\n", jobID, o.dataDir)
	}
	res, err := cl.WaitAndPublish(ctx, jobID, out)
	if err != nil {
		return err
	}
	if res.Unchanged {
		fmt.Fprintf(out, "\nnothing new since the last run: dataset version %s\n", res.CID)
	} else {
		fmt.Fprintf(out, "\ndataset version %s\n", res.CID)
	}
	fmt.Fprintf(out, "  pages fetched %d, accepted %d, rejected %d, review %d\n",
		res.Progress.Captured, res.Progress.Accepted, res.Progress.Rejected, res.Progress.Review)
	fmt.Fprintf(out, "  rows in dataset %d in %d shard(s)\n", res.Manifest.Rows, len(res.Manifest.Shards))
	fmt.Fprintf(out, "\npull it from another terminal:\n  %s\n", res.PullCmd)
	if o.exitWhenDone {
		return nil
	}
	fmt.Fprintln(out, "\nserving the dataset; press Ctrl-C to stop")
	<-ctx.Done()
	fmt.Fprintln(out, "stopping")
	return nil
}

// printJobAPI tells the user where the job API is and how to pass its
// token to sward crawl.
func printJobAPI(out io.Writer, addr, tokenFile string) {
	fmt.Fprintf(out, "  job API: http://%s/v1/jobs; submit with:\n", addr)
	fmt.Fprintf(out, "    export SWARD_API=http://%s SWARD_API_TOKEN=$(cat %s)\n", addr, tokenFile)
	fmt.Fprintf(out, "    sward crawl submit JOB.yaml\n")
}
