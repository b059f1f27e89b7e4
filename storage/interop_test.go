package storage

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// requireE2E skips (or, with SWARD_REQUIRE_E2E=1, fails) when a tool is missing.
func requireE2E(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("SWARD_REQUIRE_E2E") == "1" {
		t.Fatalf("SWARD_REQUIRE_E2E=1 but %s", why)
	}
	t.Skip(why)
}

type interopResult struct {
	Rows   int64 `json:"rows"`
	Chunks int64 `json:"chunks"`
	Sample []struct {
		ID            string  `json:"id"`
		URL           string  `json:"url"`
		Text          string  `json:"text"`
		Language      string  `json:"language"`
		Title         *string `json:"title"`
		TokenCount    int64   `json:"token_count"`
		PublishedAtUS *int64  `json:"published_at_us"`
	} `json:"sample"`
}

// TestInteropDuckDBAndHyparquet pulls a dataset over bitswap and reads the
// shards with DuckDB and with hyparquet, two readers that share no code with
// arrow-go. Setup: (cd storage/testdata/interop && npm ci).
func TestInteropDuckDBAndHyparquet(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		requireE2E(t, "node is not installed")
	}
	interop, _ := filepath.Abs("testdata/interop")
	if _, err := os.Stat(filepath.Join(interop, "node_modules", "@duckdb", "node-api")); err != nil {
		requireE2E(t, "storage/testdata/interop/node_modules missing; run: (cd storage/testdata/interop && npm ci)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	docs := testDocs("interop", 2500)
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := s.OpenDataset(ctx, "interop", DatasetOptions{RowGroupBytes: 128 << 10, ShardBytes: 160 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ctx, docs...); err != nil {
		t.Fatal(err)
	}
	root, m, err := w.Publish(ctx, VersionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Shards) < 2 {
		t.Fatalf("want several shards for the readers to glob, got %d", len(m.Shards))
	}
	var chunkRows int64
	for _, sh := range m.Tables["chunks"] {
		chunkRows += sh.Rows
	}
	out := filepath.Join(t.TempDir(), "pulled")
	if _, err := Pull(ctx, newHost(t), []peer.AddrInfo{serveStore(t, s)}, root, out, nil); err != nil {
		t.Fatal(err)
	}

	sampleIdx := []int{0, 1, 2, 3, 999, 1500, 2499}
	var ids []string
	want := map[string]int{}
	for _, i := range sampleIdx {
		ids = append(ids, docs[i].ID)
		want[docs[i].ID] = i
	}
	sort.Strings(ids)
	for _, script := range []string{"duckdb.mjs", "hyparquet.mjs"} {
		t.Run(script, func(t *testing.T) {
			cmd := exec.CommandContext(ctx, node, filepath.Join(interop, script), out, strings.Join(ids, ","))
			cmd.Dir = interop
			cmd.Stderr = os.Stderr
			raw, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", script, err)
			}
			var res interopResult
			if err := json.Unmarshal(raw, &res); err != nil {
				t.Fatalf("%s printed %q: %v", script, raw, err)
			}
			if res.Rows != int64(len(docs)) || res.Chunks != chunkRows {
				t.Fatalf("%s: rows=%d chunks=%d, want %d and %d", script, res.Rows, res.Chunks, len(docs), chunkRows)
			}
			if len(res.Sample) != len(ids) {
				t.Fatalf("%s: sample has %d rows, want %d", script, len(res.Sample), len(ids))
			}
			for _, got := range res.Sample {
				d := docs[want[got.ID]]
				if got.URL != d.URL || got.Text != d.Text || got.Language != d.Language || got.TokenCount != d.TokenCount {
					t.Errorf("%s: row %s differs from what was written", script, got.ID)
				}
				if (got.Title == nil) != (d.Title == nil) || (d.Title != nil && *got.Title != *d.Title) {
					t.Errorf("%s: row %s title = %v, want %v", script, got.ID, got.Title, d.Title)
				}
				switch {
				case d.PublishedAt == nil && got.PublishedAtUS != nil:
					t.Errorf("%s: row %s published_at should be null", script, got.ID)
				case d.PublishedAt != nil && (got.PublishedAtUS == nil || *got.PublishedAtUS != d.PublishedAt.UnixMicro()):
					t.Errorf("%s: row %s published_at = %v, want %d", script, got.ID, got.PublishedAtUS, d.PublishedAt.UnixMicro())
				}
			}
		})
	}
}
