package coordinator

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

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
