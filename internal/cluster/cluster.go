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
	"path/filepath"
	"sync"
	"time"

	"github.com/swardnet/sward/coordinator"
	"github.com/swardnet/sward/curator"
	"github.com/swardnet/sward/examples/site"
	"github.com/swardnet/sward/feed"
	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/internal/progress"
	"github.com/swardnet/sward/internal/roles"
	"github.com/swardnet/sward/network"
	"github.com/swardnet/sward/node"
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
	// Unchanged: nothing was new since the dataset's last version (a
	// restart of a finished crawl), so CID is that version.
	Unchanged bool
}

// Cluster is a running network.
type Cluster struct {
	site      *site.Site
	coordRole *roles.Coordinator
	coordHost *network.Host
	coord     *coordinator.Coordinator
	store     *storage.Store
	curator   *roles.Curator
	dataDir   string
	mu        sync.Mutex
	nodes     []*Node
	urls      []string
	wg        sync.WaitGroup
	cancel    context.CancelFunc
	dashPort  int
}

// Start brings the whole network up; Close stops it.
func Start(parent context.Context, o Options) (_ *Cluster, err error) {
	ctx, cancel := context.WithCancel(parent)
	cl := &Cluster{cancel: cancel, dataDir: o.DataDir, dashPort: o.DashPort}
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

	ccfg := roles.CoordinatorConfig{
		DataDir:     filepath.Join(o.DataDir, "coordinator"),
		Listen:      []string{"/ip4/127.0.0.1/tcp/0"},
		Coordinator: coordinator.Config{LeaseTTL: o.LeaseTTL},
		HostDelay:   o.HostDelay,
		APIAddr:     o.APIAddr,
		// The coordinator's own fetcher settles checks that keep lapsing
		// (the example site is on loopback, as the nodes' fetches are).
		TrustedFetcher: &node.Config{AllowPrivate: true, MinHostDelay: o.HostDelay},
	}
	if o.FeedAddr != "" {
		// On disk, scorch merges its segments; in memory it would keep one
		// per batch for as long as the demo runs.
		ccfg.Feed = &feed.Config{Addr: o.FeedAddr, IndexDir: filepath.Join(o.DataDir, "feed")}
	}
	cl.coordRole, err = roles.StartCoordinator(ctx, ccfg)
	if err != nil {
		return cl, err
	}
	cl.coordHost, cl.coord, cl.store = cl.coordRole.Host, cl.coordRole.Coord, cl.coordRole.Store
	cl.goServe(func() error { return cl.coordRole.Serve(ctx) })
	if cl.coordRole.Feed != nil {
		cl.urls = append(cl.urls, fmt.Sprintf("LLM feed API: http://%s/v1/search?q=climate  (MCP at /mcp)", cl.coordRole.Feed.Addr))
	}
	if o.CuratorAddr != "" {
		// The review queue runs on the coordinator's host: the pipeline's
		// review items go in, and documents the curators settle as
		// accepted go into the job's next dataset version.
		cl.curator, err = roles.StartCurator(ctx, roles.CuratorConfig{
			Dir: filepath.Join(o.DataDir, "curator"), Host: cl.coordHost, Source: cl.coord, Addr: o.CuratorAddr,
		})
		if err != nil {
			return cl, err
		}
		cl.goServe(func() error { return cl.curator.Serve(ctx) })
		cl.urls = append(cl.urls, fmt.Sprintf("curator review queue: http://%s  (more curators: sward curate --join %s --item-source %s)",
			cl.curator.Addr, cl.coordRole.Addr(), cl.curator.PeerID()))
	}
	if cl.coordRole.APIAddr != "" {
		cl.urls = append(cl.urls, fmt.Sprintf("coordinator API: http://%s/v1/jobs", cl.coordRole.APIAddr))
	}

	for i := 0; i < o.Nodes; i++ {
		n, err := cl.AddNode(ctx, NodeOptions{HostDelay: o.HostDelay, Discover: o.Discover})
		if err != nil {
			return cl, err
		}
		if n.dashboard != "" {
			cl.urls = append(cl.urls, fmt.Sprintf("node %d dashboard: http://%s", n.Index, n.dashboard))
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
	Bodies    *node.BlobStore
	role      *roles.Node
	dashboard string
	cancel    context.CancelFunc
	done      chan struct{}
	killOnce  sync.Once
}

// Kill stops the node abruptly, as a crash or a pulled plug would: its
// host goes away first, so its leases are not returned (they expire at the
// coordinator). Its stores are then closed. It is safe to call more than
// once.
func (n *Node) Kill() {
	n.killOnce.Do(func() {
		_ = n.Host.Close()
		n.cancel()
		<-n.done
		_ = n.role.Close()
	})
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
	ncfg := roles.NodeConfig{
		Node:    node.Config{DataDir: filepath.Join(cl.dataDir, fmt.Sprintf("node%d", idx)), AllowPrivate: true, LocalAddr: ip, BandwidthBytesPerSec: o.BandwidthBytesPerSec, MinHostDelay: o.HostDelay},
		Listen:  []string{"/ip4/" + ip + "/tcp/0"},
		Join:    []string{cl.coordRole.Addr()},
		Trusted: []string{cl.coordHost.ID().String()},
		Sign:    o.Sign,
	}
	if o.Discover {
		ncfg.Discover = true
	} else {
		ncfg.Coordinator = cl.coordHost.ID()
	}
	if cl.dashPort != 0 {
		ncfg.DashboardAddr = fmt.Sprintf("127.0.0.1:%d", cl.dashPort+idx-1)
	}
	r, err := roles.StartNode(ctx, ncfg)
	if err != nil {
		return nil, fmt.Errorf("starting node %d: %w", idx, err)
	}
	nctx, cancel := context.WithCancel(ctx)
	n := &Node{
		Index: idx, Host: r.Host, Fetcher: r.Fetcher, Bodies: r.Bodies,
		role: r, dashboard: ncfg.DashboardAddr, cancel: cancel, done: make(chan struct{}),
	}
	go func() {
		defer close(n.done)
		if err := r.Serve(nctx); err != nil {
			slog.Error("node stopped", logkey.Peer, r.Host.ID().String(), logkey.Err, err)
		}
	}()
	cl.mu.Lock()
	cl.nodes = append(cl.nodes, n)
	cl.mu.Unlock()
	return n, nil
}

// Curator returns the review queue, or nil when none runs.
func (cl *Cluster) Curator() *curator.Curator {
	if cl.curator == nil {
		return nil
	}
	return cl.curator.Curator
}

func (cl *Cluster) goServe(fn func() error) {
	cl.wg.Add(1)
	go func() {
		defer cl.wg.Done()
		if err := fn(); err != nil {
			slog.Error("service stopped", logkey.Err, err)
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
		line.Draw(done, "  %5.0fs  fetched %5d  accepted %5d  rejected %5d  queued %5d  leased %4d  verifying %4d  nodes %2d  %3d pages/s",
			time.Since(start).Seconds(), p.Captured, p.Accepted, p.Rejected, p.Queued, p.Leased, p.Verifying, p.Nodes, rate)
		if !done {
			continue
		}
		line.Done()
		cid, m, unchanged, err := cl.publish(ctx, jobID)
		if err != nil {
			return nil, err
		}
		final, err := cl.coord.Progress(ctx, jobID)
		if err != nil {
			return nil, err
		}
		return &Result{
			CID: cid, Manifest: m, Progress: final, Unchanged: unchanged,
			PullCmd: fmt.Sprintf("sward dataset pull %s --from %s --out ./%s", cid, cl.coordHost.Addrs()[0], m.Dataset),
		}, nil
	}
}

// SubmitOrResume submits spec, or, when a job of that name is already
// stored (a restart on the same data directory), resumes it as it is: its
// frontier, counters and pending documents carry on. resumed says which.
func (cl *Cluster) SubmitOrResume(ctx context.Context, spec *schemas.JobSpec) (id string, resumed bool, err error) {
	rec, err := cl.coordRole.Frontier.GetJob(ctx, spec.Name)
	switch {
	case err == nil && rec != nil:
		return rec.ID, true, nil
	case err != nil && !errors.Is(err, frontier.ErrUnknownJob):
		return "", false, fmt.Errorf("looking up job %s: %w", spec.Name, err)
	}
	id, err = cl.coord.Submit(ctx, spec)
	return id, false, err
}

// publish publishes the job's dataset; with nothing new since the last
// version (a restart of a finished crawl) it returns that version.
func (cl *Cluster) publish(ctx context.Context, jobID string) (string, *schemas.Manifest, bool, error) {
	root, m, err := cl.coord.Publish(ctx, jobID)
	if !errors.Is(err, storage.ErrNothingToPublish) {
		return root, m, false, err
	}
	rec, gerr := cl.coordRole.Frontier.GetJob(ctx, jobID)
	if gerr != nil || rec == nil {
		return "", nil, false, fmt.Errorf("finding the dataset of job %s: %w", jobID, errors.Join(err, gerr))
	}
	head, herr := cl.store.Head(ctx, rec.Spec.Dataset)
	if herr != nil {
		return "", nil, false, fmt.Errorf("nothing new to publish, and no earlier version of %s: %w", rec.Spec.Dataset, herr)
	}
	m, merr := cl.store.Manifest(ctx, head)
	if merr != nil {
		return "", nil, false, fmt.Errorf("reading the manifest of %s: %w", head, merr)
	}
	return head.String(), m, true, nil
}

// Close stops every service and releases every store, in reverse order:
// the nodes, then the curator, the coordinator (feed, bitswap server, jobs
// topic, store, frontier, host) and the example site.
func (cl *Cluster) Close() {
	cl.cancel()
	cl.mu.Lock()
	nodes := append([]*Node(nil), cl.nodes...)
	cl.mu.Unlock()
	for _, n := range nodes {
		n.Kill()
	}
	cl.wg.Wait()
	if cl.curator != nil {
		_ = cl.curator.Close()
	}
	if cl.coordRole != nil {
		_ = cl.coordRole.Close()
	}
	if cl.site != nil {
		_ = cl.site.Close()
	}
}

// APIAddr is where the job API listens ("" without one).
func (cl *Cluster) APIAddr() string { return cl.coordRole.APIAddr }

// APITokenFile is the file holding the job API's token.
func (cl *Cluster) APITokenFile() string { return cl.coordRole.APITokenFile() }

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
