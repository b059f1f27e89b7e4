package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

// submitPages submits job id over n pages of 127.0.0.1:9, with no
// sampling of its own, and returns their URLs.
func submitPages(t *testing.T, c *Coordinator, id string, n int) []string {
	t.Helper()
	var seeds []string
	for i := range n {
		seeds = append(seeds, fmt.Sprintf("http://127.0.0.1:9/page/%d", i))
	}
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: id, Dataset: id, Seeds: seeds,
		Scope: schemas.Scope{Domains: []string{"127.0.0.1:9"}}, MaxDepth: 0, TDMPolicy: schemas.TDMSkip}
	if _, err := c.Submit(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	return seeds
}

// fetchPages has node lease n URLs of job, one a lease, and ingest an
// article for each; it returns the URLs it fetched. The verification
// re-fetches a lease carries besides are left alone, so no page is
// verified.
func fetchPages(t *testing.T, c *Coordinator, job string, node peer.ID, n int) []string {
	t.Helper()
	ctx := context.Background()
	var got []string
	for range n {
		resp := c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 1})
		var u string
		for _, it := range resp.Items {
			if !c.verify.isOpen(checkKey{job: job, url: mustNorm(t, it.URL)}) {
				u = it.URL
			}
		}
		if resp.Error != "" || u == "" {
			t.Fatalf("lease of %s: %q, %+v: no frontier URL", node, resp.Error, resp.Items)
		}
		if err := c.Ingest(ctx, htmlCapture(job, u, node.String(), article(pageIndex(u)+500, "ad", "2025-01-01"))); err != nil {
			t.Fatal(err)
		}
		got = append(got, u)
	}
	return got
}

// TestExcludeTakesOutANodesPages: a quarantined node's unverified pages
// of a job, pending and published, go in one removal: the feed is told
// of each, the next version leaves them out (the published ones
// retracted), their URLs are queued again, and the accepted count falls
// by the pages this process counted (not by one restored from an
// earlier process, which counted it there). Another node's page stays.
func TestExcludeTakesOutANodesPages(t *testing.T) {
	ctx := context.Background()
	c := newTestCoordinator(t)
	submitPages(t, c, "ex", 4)
	liar, honest := testPeer(t), testPeer(t)
	published := fetchPages(t, c, "ex", liar, 2)
	if _, m, err := c.Publish(ctx, "ex"); err != nil || m.Rows != 2 {
		t.Fatalf("v1: %v, %+v", err, m)
	}
	pending := fetchPages(t, c, "ex", liar, 1)
	fetchPages(t, c, "ex", honest, 1)
	j := c.job("ex")
	if n := j.accepted.Load(); n != 4 {
		t.Fatalf("%d accepted before the quarantine, want 4", n)
	}
	c.contribMu.Lock()
	c.contrib[liar.String()][checkKey{job: "ex", url: mustNorm(t, published[1])}].restored = true
	c.contribMu.Unlock()
	var told []string
	c.OnExclude(func(job, id string) { told = append(told, job+" "+id) })

	if err := c.Quarantine(ctx, liar.String()); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, u := range append(published, pending...) {
		want = append(want, "ex "+DocumentID("ex", mustNorm(t, u)))
	}
	slices.Sort(want)
	slices.Sort(told)
	if !slices.Equal(told, want) {
		t.Errorf("the feed was told %v, want the liar's 3 pages %v", told, want)
	}
	if n := j.accepted.Load(); n != 2 {
		t.Errorf("%d accepted after the quarantine, want 2 (the honest page and the restored one)", n)
	}
	if st, err := c.frontier.Stats(ctx, "ex"); err != nil || st.Queued != 3 {
		t.Errorf("frontier %+v (%v), want the liar's 3 URLs queued again", st, err)
	}
	_, m, err := c.Publish(ctx, "ex")
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != 1 || m.Retracted != 2 {
		t.Errorf("v2 rows=%d retracted=%d, want the honest page and the 2 published pages of the liar retracted", m.Rows, m.Retracted)
	}
}

// TestExcludeUncountsReviewItems: a convicted node's page waiting in
// review leaves the review count (it was never in the dataset), and its
// review item moves no count when curators settle it later; its page
// that curators accepted leaves the accepted count, not the review count.
// So the counts never exceed the pages once an honest node fetches them
// again.
func TestExcludeUncountsReviewItems(t *testing.T) {
	ctx := context.Background()
	c := newTestCoordinator(t)
	submitPages(t, c, "rv", 2)
	liar := testPeer(t)
	var reviewed []schemas.Document
	c.OnReview(func(_ *schemas.Capture, res pipeline.Result) { reviewed = append(reviewed, *res.Doc) })
	for range 2 {
		resp := c.HandleLease(ctx, liar, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 1})
		var u string
		for _, it := range resp.Items {
			if !c.verify.isOpen(checkKey{job: "rv", url: mustNorm(t, it.URL)}) {
				u = it.URL
			}
		}
		if u == "" {
			t.Fatalf("lease: %q, %+v: no frontier URL", resp.Error, resp.Items)
		}
		capt := htmlCapture("rv", u, liar.String(), article(pageIndex(u)+500, "ad", "2025-01-01"))
		capt.Truncated = true // the pipeline sends a truncated body to review
		if err := c.Ingest(ctx, capt); err != nil {
			t.Fatal(err)
		}
	}
	j := c.job("rv")
	if len(reviewed) != 2 || j.review.Load() != 2 {
		t.Fatalf("%d documents sent to review, review count %d; want 2 and 2", len(reviewed), j.review.Load())
	}
	// Curators accept the first; the second still waits.
	if err := c.AddReviewed(ctx, reviewed[0]); err != nil {
		t.Fatal(err)
	}
	if a, r := j.accepted.Load(), j.review.Load(); a != 1 || r != 1 {
		t.Fatalf("after one settled accept: accepted %d, review %d; want 1 and 1", a, r)
	}

	if err := c.Quarantine(ctx, liar.String()); err != nil {
		t.Fatal(err)
	}
	if a, r, x := j.accepted.Load(), j.review.Load(), j.rejected.Load(); a != 0 || r != 0 || x != 0 {
		t.Errorf("after the quarantine: accepted %d, review %d, rejected %d; want all 0", a, r, x)
	}
	// The waiting item settles late, either way: no count moves.
	if err := c.ReviewRejected("rv", reviewed[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := c.AddReviewed(ctx, reviewed[1]); !errors.Is(err, ErrQuarantined) {
		t.Errorf("a late accept of the convicted node's item: %v, want ErrQuarantined", err)
	}
	if a, r, x := j.accepted.Load(), j.review.Load(), j.rejected.Load(); a != 0 || r != 0 || x != 0 {
		t.Errorf("after the late settlement: accepted %d, review %d, rejected %d; want all 0", a, r, x)
	}
}
