package storage

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/ipfs/go-cid"
	"github.com/swardnet/sward/schemas"
)

// tableIDs reads the id column (idCol) of every shard of a table.
func tableIDs(t *testing.T, s *Store, root cid.Cid, shards []schemas.Shard, idCol string) map[string]int {
	t.Helper()
	ctx := context.Background()
	out := map[string]int{}
	for _, sh := range shards {
		r, err := s.OpenFile(ctx, root, sh.Path)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		readParquetRecords(t, data, func(rec arrow.RecordBatch) {
			col := rec.Column(rec.Schema().FieldIndices(idCol)[0]).(*array.String)
			for i := range col.Len() {
				out[col.Value(i)]++
			}
		})
	}
	return out
}

// TestRetractPublished takes published documents and a reject out of the
// next version: every table loses their rows and nothing else, shards
// without them keep their CIDs, the counts follow, the retraction
// survives a reopen, and an honest re-fetch of a retracted ID goes in.
func TestRetractPublished(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	opts := DatasetOptions{RowGroupBytes: 8 << 10, ShardBytes: 10 << 10, BatchBytes: 4 << 10}
	w, err := s.OpenDataset(ctx, "lies", opts)
	if err != nil {
		t.Fatal(err)
	}
	docs := testDocs("p", 90)
	if err := w.Add(ctx, docs...); err != nil {
		t.Fatal(err)
	}
	rej := Reject{ID: "r-1", URL: "http://127.0.0.1/r1", Reason: "quality", RejectedAt: time.Now()}
	if err := w.AddRejects(ctx, rej, Reject{ID: "r-2", URL: "http://127.0.0.1/r2", Reason: "quality", RejectedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	v1, m1, err := w.Publish(ctx, VersionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m1.Shards) < 3 {
		t.Fatalf("v1 has %d shards; the test needs several", len(m1.Shards))
	}
	// p-0 has markdown (every third document does); p-3 too; p-4 not.
	gone := []string{"p-0", "p-3", "p-4"}
	n, err := w.Remove(ctx, append(gone, "r-1", "unknown")...)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("Remove took out %d records, want 4", n)
	}
	if again, err := w.Remove(ctx, "p-0"); err != nil || again != 0 {
		t.Fatalf("retracting twice took %d (%v), want 0", again, err)
	}

	// Durable: a reopened store still has the retractions to do.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(ctx, dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if w, err = s.OpenDataset(ctx, "lies", opts); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if got, err := w.Retracted(ctx); err != nil || got != 4 {
		t.Fatalf("Retracted after reopen = %d, %v; want 4", got, err)
	}

	// Retractions alone make a version.
	v2, m2, err := w.Publish(ctx, VersionMeta{})
	if err != nil {
		t.Fatalf("publishing only retractions: %v", err)
	}
	if m2.Rows != 87 || m2.Rejected != 1 || m2.Retracted != 4 || m2.Parent != v1.String() {
		t.Fatalf("v2 rows=%d rejected=%d retracted=%d parent=%s; want 87, 1, 4, %s", m2.Rows, m2.Rejected, m2.Retracted, m2.Parent, v1)
	}
	// p-0 and p-3 are en (i%3==0), p-4 fr; hosts site0, site3, site0.
	if m2.Languages["en"] != m1.Languages["en"]-2 || m2.Languages["fr"] != m1.Languages["fr"]-1 || m2.Languages["de"] != m1.Languages["de"] {
		t.Errorf("languages %v -> %v", m1.Languages, m2.Languages)
	}
	if m2.Hosts["site0.test"] != m1.Hosts["site0.test"]-2 || m2.Hosts["site3.test"] != m1.Hosts["site3.test"]-1 {
		t.Errorf("hosts %v -> %v", m1.Hosts, m2.Hosts)
	}
	ids := tableIDs(t, s, v2, m2.Shards, "id")
	md := tableIDs(t, s, v2, m2.Tables[markdownDir], "id")
	chunks := tableIDs(t, s, v2, m2.Tables[chunksDir], "document_id")
	rejects := tableIDs(t, s, v2, m2.Tables[rejectsDir], "id")
	for _, id := range gone {
		if ids[id]+md[id]+chunks[id] != 0 {
			t.Errorf("%s still in v2: data %d, markdown %d, chunks %d", id, ids[id], md[id], chunks[id])
		}
	}
	if len(ids) != 87 || rejects["r-1"] != 0 || rejects["r-2"] != 1 {
		t.Errorf("v2 has %d documents, rejects %v", len(ids), rejects)
	}
	if md["p-6"] != 1 || chunks["p-6"] == 0 {
		t.Errorf("p-6 lost its markdown (%d) or chunks (%d)", md["p-6"], chunks["p-6"])
	}
	// Only the shards that held a retracted row changed.
	before := map[string]bool{}
	for _, sh := range m1.Shards {
		before[sh.CID] = true
	}
	shared := 0
	for _, sh := range m2.Shards {
		if before[sh.CID] {
			shared++
		}
	}
	if shared == 0 || shared >= len(m1.Shards) {
		t.Errorf("v2 shares %d of v1's %d data shards; want all but the rewritten", shared, len(m1.Shards))
	}
	checkVersionComplete(t, s, v2)
	card, err := s.OpenFile(ctx, v2, "README.md")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(card)
	if !strings.Contains(string(text), "retracted: 4 rows") {
		t.Errorf("the dataset card does not say what was retracted:\n%s", text)
	}
	// Both reasons a page leaves a version: a liar's page and a takedown.
	if !strings.Contains(string(text), "convicted of lying") || !strings.Contains(string(text), "taken down on request") {
		t.Errorf("the dataset card does not name both reasons for a retraction:\n%s", text)
	}
	if _, _, err := w.Publish(ctx, VersionMeta{}); !errors.Is(err, ErrNothingToPublish) {
		t.Fatalf("publishing again: %v, want ErrNothingToPublish (retractions done)", err)
	}

	// The ID is free again: an honest re-fetch of p-3 goes in.
	honest := docs[3]
	honest.Text = "The page as the honest node saw it."
	if added, err := w.AddNew(ctx, honest); err != nil || added != 1 {
		t.Fatalf("AddNew of a retracted id = %d, %v; want 1", added, err)
	}
	v3, m3, err := w.Publish(ctx, VersionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if m3.Rows != 88 || m3.Retracted != 0 {
		t.Fatalf("v3 rows=%d retracted=%d, want 88 and 0", m3.Rows, m3.Retracted)
	}
	for _, d := range readDocs(t, s, v3, m3.Shards) {
		if d.ID == "p-3" && d.Text != honest.Text {
			t.Fatalf("v3 holds p-3 as %q, want the honest text", d.Text)
		}
	}
	// Retracting it again takes out the new row, not a second copy.
	if n, err := w.Remove(ctx, "p-3"); err != nil || n != 1 {
		t.Fatalf("retracting p-3 again = %d, %v", n, err)
	}
	_, m4, err := w.Publish(ctx, VersionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if m4.Rows != 87 {
		t.Fatalf("v4 rows = %d, want 87", m4.Rows)
	}
}

// TestRetractEveryRowOfAShard leaves a shard empty: it is dropped, and a
// dataset whose every document is retracted is still a valid version.
func TestRetractEveryRowOfAShard(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	w, err := s.OpenDataset(ctx, "all", DatasetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	docs := testDocs("a", 5)
	if err := w.Add(ctx, docs...); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Publish(ctx, VersionMeta{}); err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, d := range docs {
		all = append(all, d.ID)
	}
	if n, err := w.Remove(ctx, all...); err != nil || n != 5 {
		t.Fatalf("Remove = %d, %v", n, err)
	}
	v2, m2, err := w.Publish(ctx, VersionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if m2.Rows != 0 || len(m2.Shards) != 0 || len(m2.Languages) != 0 || len(m2.Hosts) != 0 {
		t.Fatalf("v2 rows=%d shards=%d languages=%v hosts=%v, want all empty", m2.Rows, len(m2.Shards), m2.Languages, m2.Hosts)
	}
	checkVersionComplete(t, s, v2)
}

// TestRemoveEachCountsPerID: one RemoveEach over pending and published
// documents, a reject and unknown IDs says which IDs lost how many
// records, and Remove's total is their sum.
func TestRemoveEachCountsPerID(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := s.OpenDataset(ctx, "each", DatasetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(ctx, testDocs("pub", 5)...); err != nil {
		t.Fatal(err)
	}
	if err := w.AddRejects(ctx, Reject{ID: "rej", URL: "http://127.0.0.1/rej", Reason: "quality", RejectedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Publish(ctx, VersionMeta{}); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ctx, testDocs("new", 3)...); err != nil {
		t.Fatal(err)
	}
	each, err := w.RemoveEach(ctx, "pub-1", "new-2", "rej", "nobody", "pub-1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"pub-1": 1, "new-2": 1, "rej": 1}
	if len(each) != len(want) {
		t.Fatalf("RemoveEach = %v, want %v", each, want)
	}
	for id, n := range want {
		if each[id] != n {
			t.Errorf("RemoveEach[%s] = %d, want %d (all: %v)", id, each[id], n, each)
		}
	}
	if w.Pending() != 2 {
		t.Errorf("%d records pending after taking one of three out, want 2", w.Pending())
	}
	if n, err := w.Remove(ctx, "pub-2", "new-0", "nobody"); err != nil || n != 2 {
		t.Errorf("Remove = %d, %v; want 2", n, err)
	}
}

// TestRetractOneKind retracts only a reject, then only documents: the
// rows of that kind go as before, and the tables of the other kind are
// neither read nor rewritten, so their shards are the parent's, CIDs and
// all.
func TestRetractOneKind(t *testing.T) {
	docTables := []string{dataDir, markdownDir, chunksDir}
	for _, tc := range []struct {
		name      string
		remove    []string
		untouched []string // tables that hold no record of the kind removed
		rows      int64    // documents left
		rejected  int64    // rejects left
	}{
		{"a reject", []string{"r-1"}, docTables, 90, 1},
		{"documents", []string{"p-0", "p-4"}, []string{rejectsDir}, 88, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTestStore(t)
			opts := DatasetOptions{RowGroupBytes: 8 << 10, ShardBytes: 10 << 10, BatchBytes: 4 << 10}
			w, err := s.OpenDataset(ctx, "kind", opts)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if err := w.Add(ctx, testDocs("p", 90)...); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if err := w.AddRejects(ctx,
				Reject{ID: "r-1", URL: "http://127.0.0.1/r1", Reason: "quality", RejectedAt: now},
				Reject{ID: "r-2", URL: "http://127.0.0.1/r2", Reason: "quality", RejectedAt: now}); err != nil {
				t.Fatal(err)
			}
			v1, m1, err := w.Publish(ctx, VersionMeta{})
			if err != nil {
				t.Fatal(err)
			}
			if n, err := w.Remove(ctx, tc.remove...); err != nil || n != len(tc.remove) {
				t.Fatalf("Remove = %d, %v; want %d", n, err, len(tc.remove))
			}

			// Unread: a builder given a parent whose untouched tables
			// name shards that do not exist still retracts, and keeps
			// those shards as they were.
			retr, err := s.retractions(ctx, "kind")
			if err != nil {
				t.Fatal(err)
			}
			bogus := *m1
			bogus.Tables = map[string][]schemas.Shard{}
			for dir, shards := range m1.Tables {
				bogus.Tables[dir] = shards
			}
			for _, dir := range tc.untouched {
				missing := []schemas.Shard{{Path: dir + "/missing.parquet", CID: "bafkqaaa"}}
				if dir == dataDir {
					bogus.Shards = missing
				} else {
					bogus.Tables[dir] = missing
				}
			}
			bopts := opts
			bopts.Default() // as OpenDataset leaves a writer's options
			b := newVersionBuilder(ctx, s, bopts)
			err = b.retract(v1, &bogus, retr.drop)
			b.abort(errors.New("test done"))
			if err != nil {
				t.Fatalf("retracting %v read a table of the other kind: %v", tc.remove, err)
			}
			for _, dir := range tc.untouched {
				want := bogus.Tables[dir]
				if dir == dataDir {
					want = bogus.Shards
				}
				if got := b.retracted.tables[dir]; !slices.Equal(got, want) {
					t.Errorf("%s: retract kept %v, want the parent's %v", dir, got, want)
				}
			}

			v2, m2, err := w.Publish(ctx, VersionMeta{})
			if err != nil {
				t.Fatal(err)
			}
			if m2.Rows != tc.rows || m2.Rejected != tc.rejected || m2.Retracted != int64(len(tc.remove)) {
				t.Fatalf("v2 rows=%d rejected=%d retracted=%d; want %d, %d, %d", m2.Rows, m2.Rejected, m2.Retracted, tc.rows, tc.rejected, len(tc.remove))
			}
			shardsOf := func(m *schemas.Manifest, dir string) []schemas.Shard {
				if dir == dataDir {
					return m.Shards
				}
				return m.Tables[dir]
			}
			for _, dir := range tc.untouched {
				if got, want := shardsOf(m2, dir), shardsOf(m1, dir); !slices.Equal(got, want) {
					t.Errorf("%s was rewritten:\n v1 %v\n v2 %v", dir, want, got)
				}
			}
			ids := tableIDs(t, s, v2, m2.Shards, "id")
			md := tableIDs(t, s, v2, m2.Tables[markdownDir], "id")
			chunks := tableIDs(t, s, v2, m2.Tables[chunksDir], "document_id")
			rejects := tableIDs(t, s, v2, m2.Tables[rejectsDir], "id")
			for _, id := range tc.remove {
				if ids[id]+md[id]+chunks[id]+rejects[id] != 0 {
					t.Errorf("%s still in v2: data %d, markdown %d, chunks %d, rejects %d", id, ids[id], md[id], chunks[id], rejects[id])
				}
			}
			if int64(len(ids)) != tc.rows || int64(len(rejects)) != tc.rejected {
				t.Errorf("v2 holds %d documents and %d rejects, want %d and %d", len(ids), len(rejects), tc.rows, tc.rejected)
			}
			checkVersionComplete(t, s, v2)
		})
	}
}

// TestRetractWhileMigrating retracts documents and a reject of a version
// written before the markdown table, so one Publish both migrates the
// parent's documents into the current format and leaves the retracted
// rows out, with or without new documents in it: the new version is in
// the current format throughout, no table holds a retracted row, the
// others are all there with their Markdown, the counts follow, and the
// retractions are done.
func TestRetractWhileMigrating(t *testing.T) {
	for _, tc := range []struct {
		name  string
		added int // new documents published with the retraction
	}{
		{"retractions only", 0},
		{"with new documents", 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTestStore(t)
			old := testDocs("old", 40)
			now := time.Now().UTC().Truncate(time.Millisecond)
			rejects := []Reject{
				{ID: "r-1", URL: "http://127.0.0.1/r1", Reason: "quality", RejectedAt: now},
				{ID: "r-2", URL: "http://127.0.0.1/r2", Reason: "quality", RejectedAt: now},
			}
			v1 := publishV1Tables(t, s, "legacy", old, rejects, true)
			m1, err := s.Manifest(ctx, v1)
			if err != nil {
				t.Fatal(err)
			}
			if m1.Version != 1 || m1.Tables[markdownDir] != nil || len(m1.Tables[chunksDir]) == 0 || len(m1.Tables[rejectsDir]) == 0 {
				t.Fatalf("not a version 1 parent with chunks and rejects: %+v", m1)
			}

			w, err := s.OpenDataset(ctx, "legacy", DatasetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			// old-0 and old-3 have markdown (every third does), old-4 not.
			gone := map[string]bool{"old-0": true, "old-3": true, "old-4": true, "r-1": true}
			if n, err := w.Remove(ctx, "old-0", "old-3", "old-4", "r-1"); err != nil || n != len(gone) {
				t.Fatalf("Remove = %d, %v; want %d", n, err, len(gone))
			}
			added := testDocs("new", tc.added)
			if err := w.Add(ctx, added...); err != nil {
				t.Fatal(err)
			}
			v2, m2, err := w.Publish(ctx, VersionMeta{})
			if err != nil {
				t.Fatalf("publishing a migration with retractions: %v", err)
			}

			var kept []schemas.Document
			langs, hosts := map[string]int64{}, map[string]int64{}
			for _, d := range append(slices.Clone(old), added...) {
				if !gone[d.ID] {
					kept = append(kept, d)
					langs[d.Language]++
					hosts[d.Host]++
				}
			}
			if m2.Parent != v1.String() || m2.Rows != int64(len(kept)) || m2.Rejected != 1 || m2.Retracted != int64(len(gone)) {
				t.Fatalf("v2 parent=%s rows=%d rejected=%d retracted=%d; want %s, %d, 1, %d", m2.Parent, m2.Rows, m2.Rejected, m2.Retracted, v1, len(kept), len(gone))
			}
			if !maps.Equal(m2.Languages, langs) || !maps.Equal(m2.Hosts, hosts) {
				t.Errorf("v2 languages %v hosts %v; want %v and %v", m2.Languages, m2.Hosts, langs, hosts)
			}
			// The current format, every kept document with its Markdown.
			checkMarkdownTable(t, s, v2, kept)
			ids := tableIDs(t, s, v2, m2.Shards, "id")
			chunks := tableIDs(t, s, v2, m2.Tables[chunksDir], "document_id")
			rejected := tableIDs(t, s, v2, m2.Tables[rejectsDir], "id")
			for id := range gone {
				if ids[id]+chunks[id]+rejected[id] != 0 {
					t.Errorf("%s still in v2: data %d, chunks %d, rejects %d", id, ids[id], chunks[id], rejected[id])
				}
			}
			for _, d := range kept {
				if ids[d.ID] != 1 || chunks[d.ID] == 0 {
					t.Errorf("%s in v2: data %d, chunks %d; want 1 and some", d.ID, ids[d.ID], chunks[d.ID])
				}
			}
			if len(ids) != len(kept) || len(rejected) != 1 || rejected["r-2"] != 1 {
				t.Errorf("v2 holds %d documents (want %d) and rejects %v (want r-2)", len(ids), len(kept), rejected)
			}
			checkVersionComplete(t, s, v2)

			if n, err := w.Retracted(ctx); err != nil || n != 0 {
				t.Errorf("Retracted after the publish = %d, %v; want 0", n, err)
			}
			if _, _, err := w.Publish(ctx, VersionMeta{}); !errors.Is(err, ErrNothingToPublish) {
				t.Errorf("publishing again: %v, want ErrNothingToPublish", err)
			}
		})
	}
}
