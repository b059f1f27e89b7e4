package coordinator

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/schemas"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openTest opens a frontier at path (a temp file for "") with cfg, or a
// zero Config; tests log nowhere and run SyncNormal unless cfg says.
func openTest(t testing.TB, path string, cfg ...frontier.Config) *frontier.Frontier {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "frontier.db")
	}
	var c frontier.Config
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if c.Logger == nil {
		c.Logger = quietLogger()
	}
	if c.Synchronous == "" {
		c.Synchronous = frontier.SyncNormal
	}
	f, err := frontier.Open(context.Background(), path, c)
	if err != nil {
		t.Fatalf("frontier.Open: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func putJob(t testing.TB, f *frontier.Frontier, id string, maxPages int) {
	t.Helper()
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: id, Dataset: id,
		Seeds: []string{"http://example.com/"}, MaxDepth: 3, MaxPages: maxPages}
	if err := f.PutJob(context.Background(), id, spec, frontier.JobRunning); err != nil {
		t.Fatalf("PutJob(%s): %v", id, err)
	}
}

func mustAdd(t testing.TB, f *frontier.Frontier, cands ...frontier.Candidate) int {
	t.Helper()
	n, err := f.Add(context.Background(), cands)
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	return n
}
