package coordinator

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// TestIngestOnlyFromTheLeaseHolder: a validly signed capture from a peer
// that holds no lease on the URL (an injector, or a node whose lease
// expired) is dropped; the holder's capture of the same URL is stored.
func TestIngestOnlyFromTheLeaseHolder(t *testing.T) {
	ctx := context.Background()
	c := newTestCoordinator(t)
	seed := "http://127.0.0.1:9/report/1"
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "h", Dataset: "h", Seeds: []string{seed},
		Scope: schemas.Scope{Domains: []string{"127.0.0.1:9"}}, MaxDepth: 2, TDMPolicy: schemas.TDMSkip}
	if _, err := c.Submit(ctx, spec); err != nil {
		t.Fatal(err)
	}
	holder, injector := testPeer(t), testPeer(t)

	// Before any lease, and from a peer that is not the holder.
	forged := htmlCapture("h", seed, injector.String(), article(1, "ad", "now"))
	forged.Outlinks = []string{"http://127.0.0.1:9/injected"}
	if err := c.Ingest(ctx, forged); err != nil {
		t.Fatal(err)
	}
	resp := c.HandleLease(ctx, holder, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 5})
	if len(resp.Items) != 1 || resp.Items[0].URL != seed {
		t.Fatalf("lease %+v, want the seed only (the injected link must not be queued)", resp.Items)
	}
	if err := c.Ingest(ctx, forged); err != nil {
		t.Fatal(err)
	}
	if got := c.unleased.Load(); got != 2 {
		t.Errorf("%d captures dropped as unleased, want 2", got)
	}
	p, err := c.Progress(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}
	if p.Captured != 0 {
		t.Fatalf("an unleased capture was ingested: %+v", p)
	}
	if err := c.Ingest(ctx, htmlCapture("h", seed, holder.String(), article(1, "ad", "now"))); err != nil {
		t.Fatal(err)
	}
	if p, _ = c.Progress(ctx, "h"); p.Captured != 1 || p.Done != 1 {
		t.Errorf("the holder's capture was not ingested: %+v", p)
	}
	if p.Nodes != 1 {
		t.Errorf("progress counts %d working nodes, want 1 (the injector delivered nothing that counted)", p.Nodes)
	}
}

// TestActiveNodes: a job's working nodes are those that delivered a
// capture within the last minute.
func TestActiveNodes(t *testing.T) {
	var j jobState
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	j.noteNode("a", t0)
	j.noteNode("b", t0.Add(30*time.Second))
	j.noteNode("a", t0.Add(40*time.Second))
	if n := j.activeNodes(t0.Add(50 * time.Second)); n != 2 {
		t.Errorf("%d active nodes, want 2", n)
	}
	if n := j.activeNodes(t0.Add(95 * time.Second)); n != 1 {
		t.Errorf("%d active nodes 95 s in, want 1 (b went quiet)", n)
	}
	if n := j.activeNodes(t0.Add(5 * time.Minute)); n != 0 || len(j.nodes) != 0 {
		t.Errorf("%d active nodes (%d remembered) after 5 min, want none", n, len(j.nodes))
	}
}

// TestOverloadedHostIsBackedOffAndRetried: a 429 capture backs the host off
// for the whole network and queues the page again for after the wait,
// instead of storing the error or losing the URL.
func TestOverloadedHostIsBackedOffAndRetried(t *testing.T) {
	ctx := context.Background()
	c, _ := ingestOverloaded(t, "120")
	p, err := c.Progress(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if p.Queued != 1 || p.Leased != 0 || p.Done != 0 || p.Rejected != 0 {
		t.Errorf("after a 429: %+v, want the URL queued again and nothing stored", p)
	}
	if resp := c.HandleLease(ctx, testPeer(t), &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 1}); len(resp.Items) != 0 {
		t.Errorf("the backed-off host was leased again at once: %+v", resp.Items)
	}
}

// ingestOverloaded starts a coordinator with job "b" of one seed, leases
// the seed to a node and ingests the node's 429 answer with Retry-After
// retryAfter. It returns the coordinator and when the answer was ingested.
func ingestOverloaded(t *testing.T, retryAfter string) (*Coordinator, time.Time) {
	t.Helper()
	ctx := context.Background()
	c := newTestCoordinator(t)
	seed := "http://127.0.0.1:9/busy"
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "b", Dataset: "b", Seeds: []string{seed},
		Scope: schemas.Scope{Domains: []string{"127.0.0.1:9"}}, MaxDepth: 1, TDMPolicy: schemas.TDMSkip}
	if _, err := c.Submit(ctx, spec); err != nil {
		t.Fatal(err)
	}
	node := testPeer(t)
	if resp := c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 1}); len(resp.Items) != 1 {
		t.Fatalf("lease %+v, want the seed", resp)
	}
	busy := htmlCapture("b", seed, node.String(), []byte("slow down"))
	busy.Status, busy.Error = 429, "http: 429"
	busy.Headers = map[string]string{"Retry-After": retryAfter}
	start := time.Now()
	if err := c.Ingest(ctx, busy); err != nil {
		t.Fatal(err)
	}
	return c, start
}

// TestBackoffFollowsRetryAfter: the page of a 429 is queued again for after
// its Retry-After, a missing or invalid one meaning a minute, and the wait
// kept between a second and an hour.
func TestBackoffFollowsRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{{"120", 2 * time.Minute}, {"", defaultBackoff}, {"junk", defaultBackoff}, {"999999", maxBackoff}, {"0", time.Second}} {
		t.Run(tc.in, func(t *testing.T) {
			c, start := ingestOverloaded(t, tc.in)
			var nb int64
			if err := c.frontier.QueryRow(context.Background(), `SELECT not_before FROM urls`).Scan(&nb); err != nil {
				t.Fatal(err)
			}
			if got := time.Unix(0, nb).Sub(start); got < tc.want || got > tc.want+5*time.Second {
				t.Errorf("Retry-After %q: queued again %s later, want %s", tc.in, got, tc.want)
			}
		})
	}
}

// newTestCoordinator is a coordinator over a real frontier, store and
// pipeline in a temporary directory, with a fake network and no host delay.
func newTestCoordinator(t *testing.T) *Coordinator {
	t.Helper()
	dir := t.TempDir()
	f := openTest(t, filepath.Join(dir, "frontier.db"), frontier.Config{DefaultHostPolicy: frontier.HostPolicy{MinDelay: 0, MaxConcurrency: 1}})
	c, _, _ := newCoordinatorOn(t, dir, f, time.Minute)
	return c
}

// newCoordinatorOn starts a coordinator over frontier f, with its block
// store in dir/store (closed with the test), the default pipeline and a
// fake network, which it returns too.
func newCoordinatorOn(tb testing.TB, dir string, f *frontier.Frontier, leaseTTL time.Duration) (*Coordinator, *storage.Store, *fakeNet) {
	tb.Helper()
	ctx := context.Background()
	st, err := storage.Open(ctx, filepath.Join(dir, "store"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	pipe, err := pipeline.New(pipeline.DefaultConfig())
	if err != nil {
		tb.Fatal(err)
	}
	net := &fakeNet{id: testPeer(tb), q: map[peer.ID]bool{}}
	c, err := New(ctx, Config{LeaseTTL: leaseTTL}, net, f, st, pipe)
	if err != nil {
		tb.Fatal(err)
	}
	return c, st, net
}

// TestCompletedURLWithoutCaptureIsQueuedAgain: a node reports a lease
// complete, but one capture never arrives by gossip; after the grace period
// that URL goes back to the queue, while the ingested one stays done.
func TestCompletedURLWithoutCaptureIsQueuedAgain(t *testing.T) {
	ctx := context.Background()
	c := newTestCoordinator(t)
	a, b := "http://127.0.0.1:9/a", "http://127.0.0.1:9/b"
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "g", Dataset: "g", Seeds: []string{a, b},
		Scope: schemas.Scope{Domains: []string{"127.0.0.1:9"}}, MaxDepth: 0, TDMPolicy: schemas.TDMSkip}
	if _, err := c.Submit(ctx, spec); err != nil {
		t.Fatal(err)
	}
	node := testPeer(t)
	resp := c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 5})
	if len(resp.Items) != 2 {
		t.Fatalf("lease %+v, want both seeds", resp.Items)
	}
	if err := c.Ingest(ctx, htmlCapture("g", a, node.String(), article(1, "ad", "now"))); err != nil {
		t.Fatal(err)
	}
	c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseComplete, LeaseID: resp.LeaseID, URLs: []string{a, b}})

	c.sweepPending(ctx, time.Now()) // within the grace period: nothing moves
	if p, _ := c.Progress(ctx, "g"); p.Leased != 1 || p.Queued != 0 {
		t.Fatalf("before the grace period: %+v, want b still leased", p)
	}
	c.sweepPending(ctx, time.Now().Add(c.cfg.CompleteGrace+time.Second))
	p, err := c.Progress(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if p.Queued != 1 || p.Leased != 0 || p.Done != 1 {
		t.Errorf("after the grace period: %+v, want b queued again and a done", p)
	}
}

// TestSitemapLastModOrdersLeases: the entries of a sitemap are leased
// recently modified first, then those without a lastmod, then the stale
// ones (one host, so the order within the host's queue decides).
func TestSitemapLastModOrdersLeases(t *testing.T) {
	ctx := context.Background()
	c := newTestCoordinator(t)
	const host = "http://127.0.0.1:9"
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "s", Dataset: "s", Sitemaps: []string{host + "/sitemap.xml"},
		Scope: schemas.Scope{Domains: []string{"127.0.0.1:9"}}, MaxDepth: 2, TDMPolicy: schemas.TDMSkip}
	if _, err := c.Submit(ctx, spec); err != nil {
		t.Fatal(err)
	}
	node := testPeer(t)
	resp := c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 5})
	if len(resp.Items) != 1 || resp.Items[0].URL != host+"/sitemap.xml" {
		t.Fatalf("lease %+v, want the sitemap", resp.Items)
	}
	body := []byte(`<urlset><url><loc>/old</loc></url></urlset>`)
	sm := htmlCapture("s", host+"/sitemap.xml", node.String(), body)
	sm.ContentType = "application/xml"
	sm.Outlinks = []string{host + "/stale", host + "/undated", host + "/fresh"}
	now := time.Now().UTC()
	sm.OutlinkLastMod = map[string]time.Time{host + "/stale": now.AddDate(-3, 0, 0), host + "/fresh": now.Add(-time.Hour)}
	if err := c.Ingest(ctx, sm); err != nil {
		t.Fatal(err)
	}
	if err := c.frontier.Complete(ctx, resp.LeaseID, []string{host + "/sitemap.xml"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 3 {
		resp = c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 1})
		if len(resp.Items) == 0 {
			if resp.RetryAfter <= 0 {
				t.Fatalf("no lease and no retry time after %v", got)
			}
			time.Sleep(min(time.Duration(resp.RetryAfter), 200*time.Millisecond))
			continue
		}
		for _, it := range resp.Items {
			got = append(got, it.URL)
			if err := c.frontier.Complete(ctx, resp.LeaseID, []string{it.URL}); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := []string{host + "/fresh", host + "/undated", host + "/stale"}
	if !slices.Equal(got, want) {
		t.Errorf("leased %v, want %v", got, want)
	}
}

// TestRecrawlSchedule: a running job with a recrawl interval gets its done
// pages queued again once the interval has passed since they were fetched,
// not before, and not while it is paused.
func TestRecrawlSchedule(t *testing.T) {
	ctx := context.Background()
	c := newTestCoordinator(t)
	seed := "http://127.0.0.1:9/news"
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "r", Dataset: "r", Seeds: []string{seed},
		Scope: schemas.Scope{Domains: []string{"127.0.0.1:9"}}, MaxDepth: 0, TDMPolicy: schemas.TDMSkip,
		RecrawlInterval: schemas.Duration(time.Hour)}
	if _, err := c.Submit(ctx, spec); err != nil {
		t.Fatal(err)
	}
	node := testPeer(t)
	resp := c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 5})
	if len(resp.Items) != 1 {
		t.Fatalf("lease %+v, want the seed", resp.Items)
	}
	if err := c.Ingest(ctx, htmlCapture("r", seed, node.String(), article(1, "ad", "now"))); err != nil {
		t.Fatal(err)
	}
	c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseComplete, LeaseID: resp.LeaseID, URLs: []string{seed}})
	progress := func() JobProgress {
		t.Helper()
		p, err := c.Progress(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	now := time.Now()
	c.scheduleRecrawls(ctx, now)
	if p := progress(); p.Done != 1 || p.Queued != 0 {
		t.Fatalf("within the interval: %+v, want the page done", p)
	}
	if err := c.frontier.SetJobState(ctx, "r", frontier.JobPaused); err != nil {
		t.Fatal(err)
	}
	c.scheduleRecrawls(ctx, now.Add(2*time.Hour))
	if p := progress(); p.Done != 1 || p.Queued != 0 {
		t.Fatalf("paused job: %+v, want nothing queued", p)
	}
	if err := c.frontier.SetJobState(ctx, "r", frontier.JobRunning); err != nil {
		t.Fatal(err)
	}
	c.scheduleRecrawls(ctx, now.Add(3*time.Hour))
	if p := progress(); p.Queued != 1 || p.Done != 0 {
		t.Fatalf("after the interval: %+v, want the page queued again", p)
	}
	resp = c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 5})
	if len(resp.Items) != 1 || resp.Items[0].URL != seed {
		t.Fatalf("lease after the interval %+v, want the page again", resp.Items)
	}
	// The fresh capture is ingested like the first one.
	if err := c.Ingest(ctx, htmlCapture("r", seed, node.String(), article(1, "ad", "later"))); err != nil {
		t.Fatal(err)
	}
	if p := progress(); p.Captured != 2 || p.Done != 1 || p.Leased != 0 {
		t.Errorf("after the second fetch: %+v, want two captures and the page done again", p)
	}

	// The third fetch finds the page deleted: OnGone tells the feed.
	var gone []string
	c.OnGone(func(url string, _ time.Time) { gone = append(gone, url) })
	c.scheduleRecrawls(ctx, now.Add(6*time.Hour))
	resp = c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 5})
	if len(resp.Items) != 1 {
		t.Fatalf("third lease %+v, want the page", resp.Items)
	}
	deleted := htmlCapture("r", seed, node.String(), []byte("not found"))
	deleted.Status, deleted.Error = 404, "http: 404"
	if err := c.Ingest(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gone, []string{seed}) {
		t.Errorf("pages reported gone: %v, want %s", gone, seed)
	}
}
