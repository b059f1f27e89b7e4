package coordinator

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/schemas"
)

const boundsHost = "127.0.0.1:9"

// sitemapIndexCapture is what a hostile server's sitemap index turns into
// at a node: children child sitemaps (and pages page entries) as outlinks.
func sitemapIndexCapture(job string, children, pages int) *schemas.Capture {
	links := make([]string, 0, children+pages)
	for i := range children {
		links = append(links, fmt.Sprintf("http://%s/sitemap-%d.xml", boundsHost, i))
	}
	for i := range pages {
		links = append(links, fmt.Sprintf("http://%s/page/%d", boundsHost, i))
	}
	return &schemas.Capture{Version: schemas.CaptureVersion, JobID: job,
		URL: "http://" + boundsHost + "/sitemap.xml", Status: 200, ContentType: "application/xml",
		Outlinks: links, FetchedAt: time.Now()}
}

// openBoundsFrontier opens a real frontier in a temp dir with one job.
func openBoundsFrontier(t *testing.T, spec *schemas.JobSpec) *frontier.Frontier {
	t.Helper()
	ctx := context.Background()
	f, err := frontier.Open(ctx, filepath.Join(t.TempDir(), "frontier.db"), frontier.Config{Logger: quietLogger(), Synchronous: frontier.SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.PutJob(ctx, spec.Name, spec, frontier.JobRunning); err != nil {
		t.Fatal(err)
	}
	return f
}

func boundsSpec(maxDepth, maxPages int) *schemas.JobSpec {
	return &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "sm", Dataset: "sm",
		Sitemaps: []string{"http://" + boundsHost + "/sitemap.xml"},
		Scope:    schemas.Scope{Domains: []string{boundsHost}}, MaxDepth: maxDepth, MaxPages: maxPages}
}

// TestSitemapBounds: what a sitemap (index) capture adds to a real
// frontier is bounded by max_depth (child sitemaps count as a level), by
// what the job can still admit under max_pages, by the entries one capture
// may add and by the child sitemaps one index may add.
func TestSitemapBounds(t *testing.T) {
	tests := []struct {
		name               string
		maxDepth, maxPages int
		depth              int // of the fetched sitemap
		children, pages    int
		want               int64 // URLs queued
	}{
		{"max_depth 0 adds nothing", 0, 0, 0, 50000, 0, 0},
		{"an index at max_depth adds nothing", 2, 0, 2, 50000, 0, 0},
		{"child sitemaps are capped per index", 5, 0, 0, 50000, 0, maxChildSitemaps},
		{"an index's pages are kept beside its capped children", 5, 0, 0, 50000, 3000, maxChildSitemaps + 3000},
		{"max_pages bounds what is queued", 5, 100, 0, 50000, 0, 100},
		{"max_pages counts pages and children alike", 5, 2500, 0, 2000, 5000, 2500},
		{"entries are capped per capture", 5, 0, 0, 0, 60000, maxLinksPerCapture},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			spec := boundsSpec(tt.maxDepth, tt.maxPages)
			f := openBoundsFrontier(t, spec)
			capt := sitemapIndexCapture(spec.Name, tt.children, tt.pages)
			cands := outlinkCandidates(spec.Name, spec, capt, tt.depth+1, time.Now())
			added, err := addOutlinks(ctx, f, spec.Name, spec.MaxPages, cands)
			if err != nil {
				t.Fatal(err)
			}
			st, err := f.Stats(ctx, spec.Name)
			if err != nil {
				t.Fatal(err)
			}
			if int64(added) != tt.want || st.Queued != tt.want {
				t.Errorf("added %d, %d queued; want %d", added, st.Queued, tt.want)
			}
			rec, err := f.GetJob(ctx, spec.Name)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Admitted != tt.want {
				t.Errorf("job admitted %d URLs, want %d", rec.Admitted, tt.want)
			}
		})
	}
}

// TestSitemapIndexMemoryBounded: the 50,000-child index of issue #14 item
// 7 costs the coordinator a bounded number of rows and little memory.
func TestSitemapIndexMemoryBounded(t *testing.T) {
	ctx := context.Background()
	spec := boundsSpec(5, 0)
	f := openBoundsFrontier(t, spec)
	capt := sitemapIndexCapture(spec.Name, 50000, 0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cands := outlinkCandidates(spec.Name, spec, capt, 1, time.Now())
	if _, err := addOutlinks(ctx, f, spec.Name, 0, cands); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// Measured: 18 MiB, most of it checking the scope of 50,000 links;
	// queueing them all, as before the bounds, allocated 71 MiB and left
	// 50,000 rows, each of which a node would then fetch.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 40<<20 {
		t.Errorf("adding a 50,000-child index allocated %d MiB, want under 40", alloc>>20)
	}
	st, err := f.Stats(ctx, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Queued != maxChildSitemaps {
		t.Errorf("%d rows queued, want %d", st.Queued, maxChildSitemaps)
	}
}

// TestOutlinkCandidatesFilters: out-of-scope and over-long links are
// dropped; on a page (not a sitemap), .xml links are ordinary links and not
// capped as child sitemaps.
func TestOutlinkCandidatesFilters(t *testing.T) {
	spec := boundsSpec(5, 0)
	page := &schemas.Capture{JobID: "sm", URL: "http://" + boundsHost + "/", ContentType: "text/html",
		Outlinks: []string{
			"http://" + boundsHost + "/ok",
			"http://elsewhere.example/out",
			"http://" + boundsHost + "/" + strings.Repeat("a", maxLinkBytes),
		}}
	for i := range maxChildSitemaps + 10 {
		page.Outlinks = append(page.Outlinks, fmt.Sprintf("http://%s/feed-%d.xml", boundsHost, i))
	}
	got := outlinkCandidates("sm", spec, page, 1, time.Now())
	if want := 1 + maxChildSitemaps + 10; len(got) != want {
		t.Fatalf("%d candidates, want %d", len(got), want)
	}
	if got[0].URL != "http://"+boundsHost+"/ok" || got[0].Depth != 1 {
		t.Errorf("first candidate %+v, want /ok at depth 1", got[0])
	}
	if isSitemapCapture(page) {
		t.Error("an HTML page counted as a sitemap")
	}
	if !isSitemapCapture(&schemas.Capture{URL: "http://h/a.xml", ContentType: "text/xml; charset=utf-8"}) {
		t.Error("an XML .xml capture not counted as a sitemap")
	}
}

// TestIngestCountsDepthFromTheLease: a capture cannot lift the depth limit
// by claiming a shallower depth than its URL was leased at; its links are
// counted from the stored depth.
func TestIngestCountsDepthFromTheLease(t *testing.T) {
	ctx := context.Background()
	c := newTestCoordinator(t)
	seed := "http://" + boundsHost + "/sitemap.xml"
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "d", Dataset: "d", Sitemaps: []string{seed},
		Scope: schemas.Scope{Domains: []string{boundsHost}}, MaxDepth: 0, TDMPolicy: schemas.TDMSkip}
	if _, err := c.Submit(ctx, spec); err != nil {
		t.Fatal(err)
	}
	node := testPeer(t)
	resp := c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 5})
	if len(resp.Items) != 1 {
		t.Fatalf("lease %+v, want the sitemap", resp.Items)
	}
	capt := sitemapIndexCapture("d", 50000, 0)
	capt.NodePeerID = node.String()
	capt.Depth = -1 // a lie: depth -1 + 1 would be within max_depth 0
	capt.Body = []byte("<sitemapindex/>")
	capt.BodySize = int64(len(capt.Body))
	capt.BodySHA256 = schemas.SHA256Hex(capt.Body)
	if err := c.Ingest(ctx, capt); err != nil {
		t.Fatal(err)
	}
	st, err := c.frontier.Stats(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	if st.Queued != 0 || st.Done != 1 {
		t.Errorf("frontier %+v after the sitemap, want nothing queued and the sitemap done", st)
	}
}
