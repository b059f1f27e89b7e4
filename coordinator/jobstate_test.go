package coordinator

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/schemas"
)

// TestJobLifecycle: the same spec re-submitted resumes the job, another
// spec under a running or done job's name is refused, the job is done once
// its crawl is finished and published, and settled reviews move between
// the counters without the sum exceeding what was captured.
func TestJobLifecycle(t *testing.T) {
	ctx := context.Background()
	c := newTestCoordinator(t)
	seed := "http://127.0.0.1:9/report/1"
	spec := func(seeds ...string) *schemas.JobSpec {
		return &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "life", Dataset: "life", Seeds: seeds,
			Scope: schemas.Scope{Domains: []string{"127.0.0.1:9"}}, MaxDepth: 0, TDMPolicy: schemas.TDMSkip, VerifySampleRate: 0}
	}
	if _, err := c.Submit(ctx, spec(seed)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, spec(seed)); err != nil {
		t.Errorf("re-submitting the same spec: %v", err)
	}
	if _, err := c.Submit(ctx, spec("http://127.0.0.1:9/other")); !errors.Is(err, ErrJobExists) {
		t.Errorf("another spec under a running job's name: %v, want ErrJobExists", err)
	}
	node := testPeer(t)
	resp := c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 5})
	if len(resp.Items) != 1 {
		t.Fatalf("lease %+v", resp.Items)
	}
	if err := c.Ingest(ctx, htmlCapture("life", seed, node.String(), article(7, "ad", "now"))); err != nil {
		t.Fatal(err)
	}
	j := c.job("life")
	// Pretend two more captures went to review and settle them.
	j.captured.Add(2)
	j.review.Add(2)
	j.inReview.Store("r1", struct{}{})
	j.inReview.Store("r2", struct{}{})
	if err := c.ReviewRejected("life", "r1"); err != nil {
		t.Fatal(err)
	}
	p, _ := c.Progress(ctx, "life")
	if p.Review != 1 || p.Accepted+p.Rejected+p.Review > p.Captured {
		t.Errorf("after a rejected review: %+v", p)
	}
	// Settles read again after a restart (of r1 now, of an item an earlier
	// process counted) move nothing: r2 is still in review.
	for _, id := range []string{"r1", "before-restart"} {
		if err := c.ReviewRejected("life", id); err != nil {
			t.Fatal(err)
		}
	}
	if p, _ = c.Progress(ctx, "life"); p.Review != 1 {
		t.Errorf("a replayed settle moved a pending review: %+v", p)
	}
	if err := c.ReviewRejected("life", "r2"); err != nil {
		t.Fatal(err)
	}
	p, _ = c.Progress(ctx, "life")
	if p.Review != 0 || p.Accepted+p.Rejected+p.Review != p.Captured {
		t.Errorf("after settling every review: %+v", p)
	}
	if p.State != frontier.JobRunning {
		t.Errorf("state %s before publishing, want running", p.State)
	}
	// A new node is on probation, so its page may have drawn a
	// verification check: a verifier settles it, and the crawl is done.
	if key := (checkKey{job: "life", url: mustNorm(t, seed)}); c.verify.isOpen(key) {
		verifier := testPeer(t)
		now := time.Now()
		if got := c.verify.assign(verifier.String(), []offer{{key: key, url: seed}}, now, now.Add(time.Minute)); len(got) != 1 {
			t.Fatal("the check cannot be given to a verifier")
		}
		if err := c.Ingest(ctx, htmlCapture("life", seed, verifier.String(), article(7, "ad", "now"))); err != nil {
			t.Fatal(err)
		}
	}
	if fin, err := c.Finished(ctx, "life"); err != nil || !fin {
		t.Fatalf("crawl finished %v (%v), want finished", fin, err)
	}
	if _, _, err := c.Publish(ctx, "life"); err != nil {
		t.Fatal(err)
	}
	if p, _ = c.Progress(ctx, "life"); p.State != frontier.JobDone {
		t.Errorf("state %s after the finished crawl was published, want done", p.State)
	}
	// A done job keeps its name: the same spec resumes it, another is
	// refused rather than silently answered with the old spec.
	if _, err := c.Submit(ctx, spec(seed)); err != nil {
		t.Errorf("re-submitting a done job's spec: %v", err)
	}
	if _, err := c.Submit(ctx, spec("http://127.0.0.1:9/other")); !errors.Is(err, ErrJobExists) {
		t.Errorf("another spec under a done job's name: %v, want ErrJobExists", err)
	}
}

// finishPages has a new node fetch every page of job id, lets the
// checks its captures drew time out unsettled (so its pages stay
// unverified), and publishes the finished crawl; it returns the node.
func finishPages(t *testing.T, c *Coordinator, id string, pages int) string {
	t.Helper()
	ctx := context.Background()
	node := testPeer(t)
	fetchPages(t, c, id, node, pages)
	c.sweepChecks(ctx, time.Now().Add(c.checkLife()+time.Second))
	if fin, err := c.Finished(ctx, id); err != nil || !fin {
		t.Fatalf("crawl of %s finished %v (%v), want finished", id, fin, err)
	}
	if _, _, err := c.Publish(ctx, id); err != nil {
		t.Fatal(err)
	}
	return node.String()
}

// TestConvictionReopensDoneJob: a node convicted after its job was done
// and published has its pages queued again, and the job runs again so
// another node leases them; a job paused since it was done stays paused
// and leases nothing.
func TestConvictionReopensDoneJob(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pause  bool
		want   string
		leased bool
	}{
		{"done", false, frontier.JobRunning, true},
		{"paused after done", true, frontier.JobPaused, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := newTestCoordinator(t)
			urls := submitPages(t, c, "re", 2)
			liar := finishPages(t, c, "re", 2)
			if p, _ := c.Progress(ctx, "re"); p.State != frontier.JobDone {
				t.Fatalf("state %s after the finished crawl was published, want done", p.State)
			}
			if tc.pause {
				if err := c.frontier.SetJobState(ctx, "re", frontier.JobPaused); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Quarantine(ctx, liar); err != nil {
				t.Fatal(err)
			}
			if p, _ := c.Progress(ctx, "re"); p.State != tc.want || p.Queued != 2 {
				t.Fatalf("after the conviction: state %s, %d queued; want %s, 2", p.State, p.Queued, tc.want)
			}
			resp := c.HandleLease(ctx, testPeer(t), &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 10})
			if resp.Error != "" {
				t.Fatal(resp.Error)
			}
			if !tc.leased {
				if len(resp.Items) != 0 {
					t.Errorf("a paused job's URLs were leased: %+v", resp.Items)
				}
				return
			}
			if len(resp.Items) == 0 {
				t.Fatal("the liar's pages were not leased again")
			}
			for _, it := range resp.Items {
				if it.JobID != "re" || !slices.Contains(urls, it.URL) {
					t.Errorf("leased %+v, want the liar's pages", it)
				}
			}
		})
	}
}

// TestMarkDoneLooksAgain: when the crawl stops being finished between
// Publish's look at it and its write of done (a conviction queues a page
// again; here a check opens, which the frontier's hook can do without
// the frontier), the job is set running again; once the crawl is
// finished for good, it is marked done (as the next Publish would).
func TestMarkDoneLooksAgain(t *testing.T) {
	ctx := context.Background()
	c := newTestCoordinator(t)
	urls := submitPages(t, c, "race", 1)
	var armed atomic.Bool
	c.frontier.OnJobsChanged(func() {
		if armed.CompareAndSwap(true, false) {
			c.verify.add(&check{key: checkKey{job: "race", url: mustNorm(t, urls[0])}, url: urls[0], created: time.Now()})
		}
	})
	node := testPeer(t)
	fetchPages(t, c, "race", node, 1)
	c.sweepChecks(ctx, time.Now().Add(c.checkLife()+time.Second))
	armed.Store(true)
	if _, _, err := c.Publish(ctx, "race"); err != nil {
		t.Fatal(err)
	}
	if armed.Load() {
		t.Fatal("publishing the finished crawl did not mark the job done")
	}
	if p, _ := c.Progress(ctx, "race"); p.State != frontier.JobRunning || p.Verifying != 1 {
		t.Fatalf("state %s with %d checks open, want running with 1", p.State, p.Verifying)
	}
	c.sweepChecks(ctx, time.Now().Add(2*c.checkLife()))
	if err := c.markDoneIfFinished(ctx, c.job("race")); err != nil {
		t.Fatal(err)
	}
	if p, _ := c.Progress(ctx, "race"); p.State != frontier.JobDone {
		t.Errorf("state %s once the crawl is finished again, want done", p.State)
	}
}
