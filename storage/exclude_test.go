package storage

import (
	"context"
	"testing"
	"time"
)

// TestRemovePendingDocuments removes pending documents and rejects,
// survives a reopen and lets a removed ID be added again (published ones:
// TestRetractPublished).
func TestRemovePendingDocuments(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.OpenDataset(ctx, "verify", DatasetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	docs := testDocs("x", 10)
	if err := w.Add(ctx, docs[:4]...); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Publish(ctx, VersionMeta{}); err != nil {
		t.Fatal(err)
	}
	// Two segments of pending records: Remove must look in both.
	if err := w.Add(ctx, docs[4:7]...); err != nil {
		t.Fatal(err)
	}
	if err := w.AddRejects(ctx, Reject{ID: "x-9", URL: docs[9].URL, Reason: "quality", RejectedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Remove(ctx, "nothing-pending"); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ctx, docs[7:9]...); err != nil {
		t.Fatal(err)
	}
	if got := w.Pending(); got != 6 {
		t.Fatalf("Pending = %d, want 6", got)
	}

	tests := []struct {
		name    string
		ids     []string
		removed int
		pending int
	}{
		{"unknown ids are ignored", []string{"nope"}, 0, 6},
		{"pending documents in two segments", []string{"x-5", "x-8"}, 2, 4},
		{"a reject by id", []string{"x-9"}, 1, 3},
		{"removing twice is a no-op", []string{"x-5"}, 0, 3},
		{"no ids", nil, 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := w.Remove(ctx, tc.ids...)
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.removed {
				t.Errorf("removed %d, want %d", n, tc.removed)
			}
			if got := w.Pending(); got != tc.pending {
				t.Errorf("Pending = %d, want %d", got, tc.pending)
			}
		})
	}

	// The removal is durable: a reopened writer sees the same pending set.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err = s.OpenDataset(ctx, "verify", DatasetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Pending(); got != 3 {
		t.Fatalf("Pending after reopen = %d, want 3", got)
	}
	// A removed ID may come back (an honest re-fetch of the same page).
	if err := w.Add(ctx, docs[5]); err != nil {
		t.Fatal(err)
	}
	root, m, err := w.Publish(ctx, VersionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != 8 || m.Rejected != 0 {
		t.Fatalf("version has %d rows and %d rejects, want 8 and 0", m.Rows, m.Rejected)
	}
	got := map[string]bool{}
	for _, d := range readDocs(t, s, root, m.Shards) {
		got[d.ID] = true
	}
	for _, id := range []string{"x-0", "x-1", "x-2", "x-3", "x-4", "x-5", "x-6", "x-7"} {
		if !got[id] {
			t.Errorf("published version lacks %s", id)
		}
	}
	if got["x-8"] {
		t.Error("removed document x-8 was published")
	}
}
