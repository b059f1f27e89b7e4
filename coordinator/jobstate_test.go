package coordinator

import (
	"context"
	"errors"
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
