package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/swardnet/sward/schemas"
)

func strp(s string) *string { return &s }

// testDocs makes n documents with ids prefix-i; every third has all
// optional fields set.
func testDocs(prefix string, n int) []schemas.Document {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	docs := make([]schemas.Document, n)
	for i := range docs {
		d := schemas.Document{
			Text:           strings.Repeat(fmt.Sprintf("Sentence %d of %s. ", i, prefix), 20+i%7) + "\n\nSecond paragraph here.",
			ID:             fmt.Sprintf("%s-%d", prefix, i),
			URL:            fmt.Sprintf("http://127.0.0.1:8080/%s/%d", prefix, i),
			Date:           base.Add(time.Duration(i) * time.Minute).Format(time.RFC3339),
			Language:       []string{"en", "fr", "de"}[i%3],
			LanguageScore:  0.5 + float64(i%50)/100,
			TokenCount:     int64(100 + i),
			Host:           fmt.Sprintf("site%d.test", i%4),
			FetchedAt:      base.Add(time.Duration(i) * time.Minute),
			CaptureCID:     "bafkqaaa",
			NodePeerID:     fmt.Sprintf("12D3KooWnode%d", i%2),
			ContentSHA256:  fmt.Sprintf("%064x", i),
			JobID:          "job-" + prefix,
			PIIRedactions:  int32(i % 3),
			DupClusterSize: 1,
		}
		if i%3 == 0 {
			pub := base.Add(-time.Duration(i) * time.Hour)
			d.Title, d.Author, d.SiteName = strp("Title "+d.ID), strp("Ann Author"), strp("Site")
			d.Description, d.CanonicalURL, d.Markdown = strp("desc"), strp(d.URL), strp("# "+d.ID)
			d.PublishedAt = &pub
		}
		docs[i] = d
	}
	return docs
}

// readTable reads every shard of a table from the store back into documents.
func readDocs(t *testing.T, s *Store, root cid.Cid, shards []schemas.Shard) []schemas.Document {
	t.Helper()
	ctx := context.Background()
	var out []schemas.Document
	for _, sh := range shards {
		r, err := s.OpenFile(ctx, root, sh.Path)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, readParquetDocs(t, data)...)
	}
	return out
}

func TestPublishVersionsShareShards(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	opts := DatasetOptions{RowGroupBytes: 8 << 10, ShardBytes: 10 << 10, BatchBytes: 4 << 10}
	w, err := s.OpenDataset(ctx, "news", opts)
	if err != nil {
		t.Fatal(err)
	}
	round1 := testDocs("a", 120)
	if err := w.Add(ctx, round1[:60]...); err != nil {
		t.Fatal(err)
	}
	// Retrying overlapping batches must not duplicate documents.
	if err := w.Add(ctx, round1[30:]...); err != nil {
		t.Fatal(err)
	}
	if err := w.AddRejects(ctx, Reject{ID: "r1", URL: "http://127.0.0.1/x", Reason: "tdm_reserved", RejectedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got := w.Pending(); got != 121 {
		t.Fatalf("Pending = %d, want 121", got)
	}
	v1, m1, err := w.Publish(ctx, VersionMeta{JobID: "job-a", Filters: []string{"lang>=0.65"}})
	if err != nil {
		t.Fatal(err)
	}
	if m1.Rows != 120 || m1.Rejected != 1 || m1.Parent != "" {
		t.Fatalf("v1 manifest rows=%d rejected=%d parent=%q", m1.Rows, m1.Rejected, m1.Parent)
	}
	if len(m1.Shards) < 2 {
		t.Fatalf("v1 has %d shards; a 10 KiB shard bound should split 120 docs", len(m1.Shards))
	}
	if got := readDocs(t, s, v1, m1.Shards); len(got) != 120 {
		t.Fatalf("read %d docs back, want 120", len(got))
	}
	if _, _, err := w.Publish(ctx, VersionMeta{}); !errors.Is(err, ErrNothingToPublish) {
		t.Fatalf("empty Publish err = %v, want ErrNothingToPublish", err)
	}

	// Round two: re-adding published ids is a no-op; new ids append shards.
	if err := w.Add(ctx, round1[:10]...); err != nil {
		t.Fatal(err)
	}
	if got := w.Pending(); got != 0 {
		t.Fatalf("Pending after re-adding published docs = %d, want 0", got)
	}
	if err := w.Add(ctx, testDocs("b", 40)...); err != nil {
		t.Fatal(err)
	}
	v2, m2, err := w.Publish(ctx, VersionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if m2.Parent != v1.String() || m2.Rows != 160 {
		t.Fatalf("v2 parent=%q rows=%d, want parent %s rows 160", m2.Parent, m2.Rows, v1)
	}
	for i, sh := range m1.Shards {
		if m2.Shards[i].CID != sh.CID {
			t.Fatalf("shard %d changed CID between versions: %s -> %s", i, sh.CID, m2.Shards[i].CID)
		}
	}
	if !strings.HasSuffix(m2.Shards[0].Path, fmt.Sprintf("-of-%05d.parquet", len(m2.Shards))) {
		t.Fatalf("shard path %q does not name the new shard count", m2.Shards[0].Path)
	}
	docs := readDocs(t, s, v2, m2.Shards)
	ids := map[string]int{}
	for _, d := range docs {
		ids[d.ID]++
	}
	if len(docs) != 160 || len(ids) != 160 {
		t.Fatalf("v2 holds %d docs with %d distinct ids, want 160/160", len(docs), len(ids))
	}
	head, err := s.Head(ctx, "news")
	if err != nil || !head.Equals(v2) {
		t.Fatalf("Head = %s, %v; want %s", head, err, v2)
	}
	vs, err := s.Versions(ctx, "news")
	if err != nil || len(vs) != 2 || vs[0].CID != v1.String() || vs[1].CID != v2.String() {
		t.Fatalf("Versions = %+v, %v", vs, err)
	}
	card, err := s.OpenFile(ctx, v2, "README.md")
	if err != nil {
		t.Fatal(err)
	}
	cardText, _ := io.ReadAll(card)
	for _, want := range []string{"configs:", "data/train-*.parquet", "config_name: chunks", "| documents | 160 |", "lang>=0.65", "parent version: `" + v1.String()} {
		if !bytes.Contains(cardText, []byte(want)) {
			t.Errorf("README.md lacks %q", want)
		}
	}
}

func TestSpoolSurvivesReopenAndTornTail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.OpenDataset(ctx, "d", DatasetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ctx, testDocs("x", 5)...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenDataset(ctx, "d", DatasetOptions{}); !errors.Is(err, ErrWriterOpen) {
		t.Fatalf("second writer err = %v, want ErrWriterOpen", err)
	}
	// Simulate a crash in the middle of an unacknowledged write.
	seg := w.segPath(w.seg)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	appendFile(t, seg, []byte(`{"doc":{"text":"half a rec`))

	s, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err = s.OpenDataset(ctx, "d", DatasetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Pending(); got != 5 {
		t.Fatalf("Pending after reopen = %d, want 5", got)
	}
	_, m, err := w.Publish(ctx, VersionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != 5 {
		t.Fatalf("published %d rows, want 5", m.Rows)
	}
}

func TestFirstPublishMayBeEmpty(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := s.OpenDataset(ctx, "empty", DatasetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	root, m, err := w.Publish(ctx, VersionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != 0 || len(m.Shards) != 1 || m.Shards[0].Rows != 0 || len(m.Tables["chunks"]) != 1 {
		t.Fatalf("empty version manifest = %+v", m)
	}
	if docs := readDocs(t, s, root, m.Shards); len(docs) != 0 {
		t.Fatalf("empty shard holds %d docs", len(docs))
	}
	if _, err := s.OpenDataset(ctx, "Bad Name", DatasetOptions{}); err == nil {
		t.Fatal("invalid dataset name accepted")
	}
	if err := w.Add(ctx, schemas.Document{URL: "http://127.0.0.1/"}); err == nil {
		t.Fatal("document without id accepted")
	}
}
