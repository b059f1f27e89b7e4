package offline

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// TestRunResumedSameCID: a run interrupted and resumed publishes the same
// version as one that ran through.
func TestRunResumedSameCID(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "crawl.warc.gz")
	type pg = struct{ url, status, ctype, body string }
	var pages []pg
	for _, c := range realPages(t, 8) {
		pages = append(pages, pg{c.URL, "200 OK", "text/html; charset=utf-8", string(c.HTML)})
	}
	writeTestWARC(t, in, pages)
	whole, err := Run(context.Background(), Config{In: in, Out: filepath.Join(dir, "whole"), Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{In: in, Out: filepath.Join(dir, "resumed"), Workers: 2, StopAfter: 3}
	if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("first part: %v", err)
	}
	cfg.StopAfter = 0
	resumed, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if whole.Version != resumed.Version || whole.Documents != resumed.Documents {
		t.Errorf("resumed run published %s (%d rows), the uninterrupted one %s (%d rows)", resumed.Version, resumed.Documents, whole.Version, whole.Documents)
	}
}
