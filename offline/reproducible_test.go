package offline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

// TestRunReproducibleCID: the same input with the same options gives the
// same version CID, run after run: created_at is the input's latest fetch
// time, and dedup does not depend on which worker finishes first.
func TestRunReproducibleCID(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "crawl.warc.gz")
	type pg = struct{ url, status, ctype, body string }
	real := realPages(t, 8)
	var pages []pg
	for _, c := range real {
		pages = append(pages, pg{c.URL, "200 OK", "text/html; charset=utf-8", string(c.HTML)})
	}
	// Copies under other URLs, right after their originals, so that with
	// several workers either one may be processed first.
	for i := range 3 {
		pages = append(pages[:2*i+1], append([]pg{{real[i].URL + "?copy", "200 OK", "text/html", string(real[i].HTML)}}, pages[2*i+1:]...)...)
	}
	pages = append(pages, pg{"https://a.example/missing", "404 Not Found", "text/html", "<p>gone</p>"})
	writeTestWARC(t, in, pages)

	var cids []string
	for run := range 3 {
		out := filepath.Join(dir, "out", string(rune('a'+run)))
		sum, err := Run(context.Background(), Config{In: in, Out: out, Workers: 4})
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		raw, err := os.ReadFile(filepath.Join(out, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := schemas.ParseManifest(raw)
		if err != nil {
			t.Fatal(err)
		}
		// writeTestWARC dates record i at 03:04:i.
		want := time.Date(2026, 1, 2, 3, 4, len(pages)-1, 0, time.UTC)
		if !m.CreatedAt.Equal(want) || !sum.CreatedAt.Equal(want) {
			t.Errorf("run %d: created_at %v (summary %v), want the latest fetch time %v", run, m.CreatedAt, sum.CreatedAt, want)
		}
		cids = append(cids, sum.Version)
		// The first of two equal pages in the input is the one kept.
		for _, d := range readDocsParquet(t, out) {
			if strings.HasSuffix(d.URL, "?copy") {
				t.Errorf("run %d kept the later copy %s", run, d.URL)
			}
		}
		if run < 2 {
			// A later, separate run: the wall clock has moved on.
			time.Sleep(1100 * time.Millisecond)
		}
	}
	if cids[0] != cids[1] || cids[1] != cids[2] {
		t.Errorf("three runs of the same input gave versions %s", strings.Join(cids, ", "))
	}
}
