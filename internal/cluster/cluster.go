// Package cluster runs a whole sward network in one process: the example
// site, a coordinator, scraper nodes (each its own libp2p host on its own
// loopback address), the LLM feed and the dashboards. `sward up` and the
// end-to-end tests use it; it holds wiring only, no logic of its own.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/swardnet/sward/coordinator"
	"github.com/swardnet/sward/curator"
	"github.com/swardnet/sward/examples/site"
	"github.com/swardnet/sward/feed"
	"github.com/swardnet/sward/internal/progress"
	"github.com/swardnet/sward/network"
	"github.com/swardnet/sward/node"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// Options configures a cluster.
type Options struct {
	DataDir  string // required
	Nodes    int    // scraper nodes (default 3)
	Site     site.Config
	DashPort int    // first node dashboard port; 0 = no dashboards
	FeedAddr string // empty = no feed
	APIAddr  string // empty = no job API
	// CuratorAddr serves the review queue; empty = no human review (items
	// the pipeline routes to review then stay out of the dataset).
	CuratorAddr string
	HostDelay   time.Duration
	// LeaseTTL overrides the coordinator's lease time (tests use short ones).
	LeaseTTL time.Duration
	// Discover starts the nodes without the coordinator's peer ID: they
	// trust it and find its jobs through its announcements on the jobs
	// topic, as `sward node --trust` does.
	Discover bool
}

// Result is what a finished crawl produced.
type Result struct {
	CID      string
	Manifest *schemas.Manifest
	Progress coordinator.JobProgress
	PullCmd  string
}

// Cluster is a running network.
type Cluster struct {
	site      *site.Site
	coordHost *network.Host
	coord     *coordinator.Coordinator
	frontier  *coordinator.Frontier
	store     *storage.Store
	feed      *feed.Feed
	curator   *curator.Curator
	// curatorSync serves late-joining curators the open queue and votes.
	curatorSync *curator.Sync
	dataDir     string
	mu          sync.Mutex
	nodes       []*Node
	servers     []*http.Server
	urls        []string
	wg          sync.WaitGroup
	cancel      context.CancelFunc
}

// Start brings the whole network up; Close stops it.
func Start(parent context.Context, o Options) (_ *Cluster, err error) {
	ctx, cancel := context.WithCancel(parent)
	cl := &Cluster{cancel: cancel, dataDir: o.DataDir}
	defer func() {
		if err != nil {
			cl.Close()
		}
	}()

	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.DataDir == "" {
		return cl, errors.New("cluster: no data directory")
	}
	cl.site, err = site.New(o.Site)
	if err != nil {
		return cl, err
	}
	if err := cl.site.Start(ctx); err != nil {
		return cl, fmt.Errorf("starting the example site (is port %d free? pass --site-port): %w", o.Site.Port, err)
	}

	coordDir := filepath.Join(o.DataDir, "coordinator")
	if err := os.MkdirAll(coordDir, 0o700); err != nil {
		return cl, err
	}
	cl.coordHost, err = network.New(ctx, network.Config{
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		KeyFile:     filepath.Join(coordDir, "identity.key"),
	})
	if err != nil {
		return cl, fmt.Errorf("starting the coordinator's libp2p host: %w", err)
	}
	var fopts []coordinator.FrontierOption
	if o.HostDelay > 0 {
		// The demo's hosts are local: a shorter default gap than the
		// network's one second keeps the demo quick while politeness still
		// holds per host (and robots.txt crawl-delay still wins).
		fopts = append(fopts, coordinator.WithDefaultHostPolicy(coordinator.HostPolicy{MinDelay: o.HostDelay, MaxConcurrency: 1}))
	}
	cl.frontier, err = coordinator.OpenFrontier(ctx, filepath.Join(coordDir, "frontier.db"), fopts...)
	if err != nil {
		return cl, err
	}
	cl.store, err = storage.Open(ctx, filepath.Join(coordDir, "store"))
	if err != nil {
		return cl, err
	}
	pcfg := pipeline.Config{}
	pcfg.Default()
	pipe, err := pipeline.New(pcfg)
	if err != nil {
		return cl, err
	}
	cl.coord, err = coordinator.New(ctx, coordinator.Config{LeaseTTL: o.LeaseTTL}, cl.coordHost, cl.frontier, cl.store, pipe)
	if err != nil {
		return cl, err
	}
	cl.coordHost.ServeLeases(cl.coord)
	// The coordinator announces its open jobs on the jobs topic, where
	// nodes that trust it find work.
	jobs, err := cl.coordHost.JoinJobs(network.JobsConfig{})
	if err != nil {
		return cl, fmt.Errorf("joining the jobs topic: %w", err)
	}
	ann, err := coordinator.NewAnnouncer(coordinator.AnnounceConfig{ExtraWork: cl.coord.OpenChecks}, cl.frontier, jobs)
	if err != nil {
		return cl, err
	}
	cl.goServe(func() error { return ann.Serve(ctx) })
	bsrv, err := storage.Serve(ctx, cl.coordHost.Libp2p(), cl.store)
	if err != nil {
		return cl, fmt.Errorf("serving blocks over bitswap: %w", err)
	}
	cl.coord.SetBodyFetcher(bsrv)
	cl.goServe(func() error { return cl.coord.Serve(ctx) })

	if o.FeedAddr != "" {
		// On disk, scorch merges its segments; in memory it would keep one
		// per batch for as long as the demo runs.
		fcfg := feed.Config{Addr: o.FeedAddr, Fetcher: cl.coord, IndexDir: filepath.Join(o.DataDir, "feed")}
		fcfg.Default()
		cl.feed, err = feed.New(ctx, fcfg)
		if err != nil {
			return cl, err
		}
		cl.coord.OnAccept(func(d schemas.Document) {
			if !cl.feed.Offer(d) {
				slog.Warn("feed: queue full, document not indexed", "url", d.URL)
			}
		})
		cl.coord.OnExclude(func(_, docID string) {
			if _, err := cl.feed.RemoveDocument(ctx, docID, time.Now().UTC()); err != nil {
				slog.Warn("feed: removing excluded document", "doc", docID, "err", err)
			}
		})
		cl.coord.OnGone(func(url string, at time.Time) {
			// A recrawl found the page deleted: subscribers get a "removed" event.
			if _, err := cl.feed.MarkRemoved(ctx, url, at); err != nil {
				slog.Warn("feed: marking a page removed", "url", url, "err", err)
			}
		})
		if err := cl.listen(o.FeedAddr, cl.feed.Handler()); err != nil {
			return cl, fmt.Errorf("feed API: %w", err)
		}
		cl.urls = append(cl.urls, fmt.Sprintf("LLM feed API: http://%s/v1/search?q=climate  (MCP at /mcp)", o.FeedAddr))
	}
	if o.CuratorAddr != "" {
		if err := cl.startCurator(ctx, o); err != nil {
			return cl, err
		}
	}
	if o.APIAddr != "" {
		if err := cl.listen(o.APIAddr, coordinator.NewAPI(cl.coord, cl.frontier).Handler()); err != nil {
			return cl, fmt.Errorf("coordinator API: %w", err)
		}
		cl.urls = append(cl.urls, fmt.Sprintf("coordinator API: http://%s/v1/jobs", o.APIAddr))
	}

	for i := 0; i < o.Nodes; i++ {
		n, err := cl.AddNode(ctx, NodeOptions{HostDelay: o.HostDelay, Discover: o.Discover})
		if err != nil {
			return cl, err
		}
		if o.DashPort != 0 {
			addr := fmt.Sprintf("127.0.0.1:%d", o.DashPort+i)
			dash := node.NewDashboard(n.Fetcher, n.Host.ID().String())
			dash.ShowBodies(n.Bodies)
			if err := cl.listen(addr, dash.Handler()); err != nil {
				return cl, fmt.Errorf("node %d dashboard: %w", n.Index, err)
			}
			cl.urls = append(cl.urls, fmt.Sprintf("node %d dashboard: http://%s", n.Index, addr))
		}
	}
	return cl, nil
}

// NodeOptions configures one scraper node of the cluster.
type NodeOptions struct {
	// HostDelay is the node's minimum gap between requests to one host.
	HostDelay time.Duration
	// BandwidthBytesPerSec caps the node's reads (0 = unlimited).
	BandwidthBytesPerSec int64
	// Sign signs captures; nil means network.SignCapture. Tests pass a
	// dishonest signer to play a node that alters what it fetched.
	Sign node.Signer
	// Discover: see Options.Discover.
	Discover bool
}

// Node is one scraper node of the cluster.
type Node struct {
	Index   int // 1-based, in start order
	Host    *network.Host
	Fetcher *node.Fetcher
	// Bodies holds the node's large bodies until they are collected.
	Bodies *node.BlobStore
	cancel context.CancelFunc
	done   chan struct{}
}

// Kill stops the node abruptly, as a crash or a pulled plug would: its
// leases are not returned (they expire at the coordinator) and its host
// goes away. It is safe to call more than once.
func (n *Node) Kill() {
	n.cancel()
	_ = n.Host.Close()
	<-n.done
}

// AddNode starts one more scraper node on its own loopback address, joins
// it to the coordinator and sets it working.
func (cl *Cluster) AddNode(ctx context.Context, o NodeOptions) (*Node, error) {
	cl.mu.Lock()
	idx := len(cl.nodes) + 1
	cl.mu.Unlock()
	if idx > 200 {
		return nil, errors.New("cluster: at most 200 nodes (127.0.0.2-201)")
	}
	ip := fmt.Sprintf("127.0.0.%d", 1+idx)
	nodeDir := filepath.Join(cl.dataDir, fmt.Sprintf("node%d", idx))
	if err := os.MkdirAll(nodeDir, 0o700); err != nil {
		return nil, err
	}
	coordAddr := cl.coordHost.Addrs()[0]
	h, err := network.New(ctx, network.Config{
		ListenAddrs: []string{"/ip4/" + ip + "/tcp/0"},
		KeyFile:     filepath.Join(nodeDir, "identity.key"),
		Bootstrap:   []string{coordAddr},
		Trusted:     []string{cl.coordHost.ID().String()},
	})
	if err != nil {
		return nil, fmt.Errorf("starting node %d: %w", idx, err)
	}
	// Every node relays job announcements; a discovering node also works
	// from them.
	jobs, err := h.JoinJobs(network.JobsConfig{})
	if err != nil {
		_ = h.Close()
		return nil, fmt.Errorf("node %d joining the jobs topic: %w", idx, err)
	}
	if _, err := h.Connect(ctx, coordAddr); err != nil {
		_ = h.Close()
		return nil, fmt.Errorf("node %d joining the coordinator: %w", idx, err)
	}
	ncfg := node.Config{DataDir: nodeDir, AllowPrivate: true, LocalAddr: ip, BandwidthBytesPerSec: o.BandwidthBytesPerSec}
	ncfg.Default()
	if o.HostDelay > 0 {
		ncfg.MinHostDelay = o.HostDelay
	}
	fetcher, err := node.NewFetcher(ncfg)
	if err != nil {
		_ = h.Close()
		return nil, err
	}
	sign := o.Sign
	if sign == nil {
		sign = network.SignCapture
	}
	scfg := node.ServiceConfig{Coordinator: cl.coordHost.ID()}
	if o.Discover {
		scfg = node.ServiceConfig{Announcements: jobs}
	}
	svc, err := node.NewService(scfg, h, sign, fetcher)
	if err != nil {
		_ = h.Close()
		return nil, err
	}
	// Bodies over the gossip inline limit wait in the node's own block
	// store, served over bitswap, until the coordinator fetches them; they
	// are collected after a TTL and beyond a size cap.
	bodies, err := node.OpenLargeBodies(ctx, h.Libp2p(), filepath.Join(nodeDir, "store"), node.BlobConfig{})
	if err != nil {
		_ = fetcher.Close()
		_ = h.Close()
		return nil, err
	}
	svc.SetBlobs(bodies.Blobs)
	nctx, cancel := context.WithCancel(ctx)
	n := &Node{Index: idx, Host: h, Fetcher: fetcher, Bodies: bodies.Blobs, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		if err := svc.Serve(nctx); err != nil {
			slog.Error("node stopped", "peer", h.ID().String(), "err", err)
		}
		_ = fetcher.Close()
		_ = bodies.Close()
	}()
	cl.mu.Lock()
	cl.nodes = append(cl.nodes, n)
	cl.mu.Unlock()
	return n, nil
}

// startCurator opens the review queue on the coordinator's host: the
// pipeline's review items go in, and documents the curators settle as
// accepted go into the job's next dataset version.
func (cl *Cluster) startCurator(ctx context.Context, o Options) error {
	bus, err := curator.JoinPubSub(cl.coordHost.PubSub())
	if err != nil {
		return fmt.Errorf("curator: joining the decisions topic: %w", err)
	}
	cl.curator, err = curator.Open(ctx, filepath.Join(o.DataDir, "curator"), curator.Config{Bus: bus})
	if err != nil {
		return err
	}
	cl.curatorSync, err = curator.StartSync(ctx, cl.coordHost.Libp2p(), cl.curator, curator.SyncConfig{})
	if err != nil {
		return fmt.Errorf("curator: serving backfill: %w", err)
	}
	cl.coord.SetRules(cl.curator.Rules)
	cl.coord.OnReview(func(capt *schemas.Capture, res pipeline.Result) {
		if res.Doc == nil {
			return
		}
		it := curator.Item{
			ID: res.Doc.ID, Kind: curator.KindReview, Doc: *res.Doc, HTML: string(capt.Body),
			Scores: res.Scores, Reasons: res.Reasons,
		}
		if err := cl.curator.Enqueue(ctx, it); err != nil {
			slog.Warn("curator: queueing review item", "url", capt.URL, "err", err)
		}
	})
	cl.goServe(func() error { return cl.pumpSettled(ctx) })
	if err := cl.listen(o.CuratorAddr, cl.curator.Handler()); err != nil {
		return fmt.Errorf("curator UI: %w", err)
	}
	cl.urls = append(cl.urls, fmt.Sprintf("curator review queue: http://%s  (more curators: sward curate --join %s --item-source %s)",
		o.CuratorAddr, cl.coordHost.Addrs()[0], cl.curator.PeerID()))
	return nil
}

// pumpSettled moves documents the curators accepted into their job's
// dataset until ctx ends.
func (cl *Cluster) pumpSettled(ctx context.Context) error {
	var cursor int64
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		settled, next, err := cl.curator.Settled(ctx, cursor)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			slog.Warn("curator: reading settled items", "err", err)
			continue
		}
		for _, st := range settled {
			if st.Decision != schemas.ActionAccept {
				if st.Decision == schemas.ActionReject {
					_ = cl.coord.ReviewRejected(st.Doc.JobID)
				}
				continue
			}
			doc := st.Doc
			for _, f := range st.Edited {
				if f == "text" {
					doc.TokenCount = int64(pipeline.ApproxTokens(doc.Text))
				}
			}
			if err := cl.coord.AddReviewed(ctx, doc); err != nil {
				slog.Warn("curator: storing settled document", "url", doc.URL, "err", err)
			}
		}
		cursor = next
	}
}

// Curator returns the review queue, or nil when none runs.
func (cl *Cluster) Curator() *curator.Curator { return cl.curator }

// listen serves h on addr until the cluster closes.
func (cl *Cluster) listen(addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s (in use? pick another address with the flag): %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	cl.servers = append(cl.servers, srv)
	cl.goServe(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	return nil
}

func (cl *Cluster) goServe(fn func() error) {
	cl.wg.Add(1)
	go func() {
		defer cl.wg.Done()
		if err := fn(); err != nil {
			slog.Error("service stopped", "err", err)
		}
	}()
}

// WaitAndPublish shows progress on out until the job has nothing left to
// fetch, then publishes the dataset version.
func (cl *Cluster) WaitAndPublish(ctx context.Context, jobID string, out io.Writer) (*Result, error) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
	var last int64
	line := progress.New(out)
	defer line.Done()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		p, err := cl.coord.Progress(ctx, jobID)
		if err != nil {
			return nil, err
		}
		rate := p.Captured - last
		last = p.Captured
		done, err := cl.coord.Finished(ctx, jobID)
		if err != nil {
			return nil, err
		}
		line.Draw(done, "  %5.0fs  fetched %5d  accepted %5d  rejected %5d  queued %5d  leased %4d  nodes %2d  %3d pages/s",
			time.Since(start).Seconds(), p.Captured, p.Accepted, p.Rejected, p.Queued, p.Leased, p.Nodes, rate)
		if !done {
			continue
		}
		line.Done()
		cid, m, err := cl.coord.Publish(ctx, jobID)
		if err != nil {
			return nil, err
		}
		final, err := cl.coord.Progress(ctx, jobID)
		if err != nil {
			return nil, err
		}
		return &Result{
			CID: cid, Manifest: m, Progress: final,
			PullCmd: fmt.Sprintf("sward dataset pull %s --from %s --out ./%s", cid, cl.coordHost.Addrs()[0], m.Dataset),
		}, nil
	}
}

// Close stops every service and releases every store, in reverse order.
func (cl *Cluster) Close() {
	cl.cancel()
	for _, s := range cl.servers {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.Shutdown(sctx)
		cancel()
	}
	cl.wg.Wait()
	cl.mu.Lock()
	nodes := append([]*Node(nil), cl.nodes...)
	cl.mu.Unlock()
	for _, n := range nodes {
		n.Kill()
	}
	if cl.feed != nil {
		_ = cl.feed.Close()
	}
	if cl.curatorSync != nil {
		_ = cl.curatorSync.Close()
	}
	if cl.curator != nil {
		_ = cl.curator.Close()
	}
	if cl.coordHost != nil {
		_ = cl.coordHost.Close()
	}
	if cl.store != nil {
		_ = cl.store.Close()
	}
	if cl.frontier != nil {
		_ = cl.frontier.Close()
	}
	if cl.site != nil {
		_ = cl.site.Close()
	}
}

// Site returns the example site.
func (cl *Cluster) Site() *site.Site { return cl.site }

// Coordinator returns the coordinator service.
func (cl *Cluster) Coordinator() *coordinator.Coordinator { return cl.coord }

// CoordinatorAddr is the coordinator's first full multiaddr.
func (cl *Cluster) CoordinatorAddr() string { return cl.coordHost.Addrs()[0] }

// Nodes returns the scraper nodes, in start order.
func (cl *Cluster) Nodes() []*Node {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return append([]*Node(nil), cl.nodes...)
}

// CoordinatorHost returns the coordinator's libp2p host.
func (cl *Cluster) CoordinatorHost() *network.Host { return cl.coordHost }

// URLs lists the human-facing addresses the cluster serves.
func (cl *Cluster) URLs() []string { return cl.urls }
