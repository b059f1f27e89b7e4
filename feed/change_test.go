package feed

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

func TestChangeTracking(t *testing.T) {
	ctx := context.Background()
	f := newTestFeed(t, Config{})
	srv := newTestServer(t, f)
	events, stop := openFeed(t, srv.URL, "", "")
	defer stop()

	const u = "https://news.example.com/story"
	v1 := mkDoc("v1", u, "Story", "line one\nline two\nline three", t0)
	v2same := mkDoc("v2", u, "Story", "line one\nline two\nline three", t0.Add(time.Hour))
	v3 := mkDoc("v3", u, "Story", "line one\nline 2 edited\nline three\nline four", t0.Add(2*time.Hour))
	old := mkDoc("old", u, "Story", "ancient text", t0.Add(-time.Hour))

	steps := []struct {
		name     string
		doc      schemas.Document
		status   ChangeStatus
		prevID   string
		prevAt   time.Time
		diffHas  []string
		searchID string // the id search returns for the URL afterwards
	}{
		{"first capture is new", v1, ChangeNew, "", time.Time{}, nil, "v1"},
		{"same hash is same", v2same, ChangeSame, "v1", t0, nil, "v2"},
		{"new text is changed with a diff", v3, ChangeChanged, "v2", t0.Add(time.Hour), []string{"-line two", "+line 2 edited", "+line four", "@@ -1,3 +1,4 @@"}, "v3"},
	}
	for _, st := range steps {
		if err := f.Add(ctx, st.doc); err != nil {
			t.Fatalf("%s: Add: %v", st.name, err)
		}
		_, rec := nextDoc(t, events)
		if rec.ID != st.doc.ID || rec.Change.Status != st.status || rec.Change.PreviousID != st.prevID {
			t.Errorf("%s: event %s status %s prev %q, want %s %s %q", st.name, rec.ID, rec.Change.Status, rec.Change.PreviousID, st.doc.ID, st.status, st.prevID)
		}
		if st.prevAt.IsZero() != (rec.Change.PreviousFetchedAt == nil) || (rec.Change.PreviousFetchedAt != nil && !rec.Change.PreviousFetchedAt.Equal(st.prevAt)) {
			t.Errorf("%s: previous fetched at %v, want %v", st.name, rec.Change.PreviousFetchedAt, st.prevAt)
		}
		for _, want := range st.diffHas {
			if !strings.Contains(rec.Change.Diff, want) {
				t.Errorf("%s: diff lacks %q:\n%s", st.name, want, rec.Change.Diff)
			}
		}
		if st.diffHas == nil && rec.Change.Diff != "" {
			t.Errorf("%s: unexpected diff %q", st.name, rec.Change.Diff)
		}
		res, err := f.Search(ctx, SearchRequest{Query: "line"})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Hits) != 1 || res.Hits[0].ID != st.searchID {
			t.Errorf("%s: search %v, want only %s (one version per URL)", st.name, ids(res.Hits), st.searchID)
		}
	}
	// Superseded versions are gone; the latest carries its change.
	if r, err := f.Get(ctx, "v1"); err != nil || r != nil {
		t.Errorf("superseded v1 still served: %v %v", r, err)
	}
	// An older capture arriving late is ignored.
	if err := f.Add(ctx, old); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.Get(ctx, "old"); r != nil {
		t.Error("older capture replaced a newer one")
	}

	// The feed filters on change status.
	changedOnly, stop2 := openFeed(t, srv.URL, "change=changed,removed", "0")
	defer stop2()
	_, rec := nextDoc(t, changedOnly)
	if rec.ID != "v3" {
		t.Errorf("change=changed replay gave %s first, want v3", rec.ID)
	}

	// A removal emits a removed event and drops the document.
	ok, err := f.MarkRemoved(ctx, u, t0.Add(3*time.Hour))
	if err != nil || !ok {
		t.Fatalf("MarkRemoved: %v %v", ok, err)
	}
	_, rec = nextDoc(t, changedOnly)
	if rec.Change.Status != ChangeRemoved || rec.Change.PreviousID != "v3" || rec.URL != u {
		t.Errorf("removed event: %+v", rec.Change)
	}
	if r, _ := f.Get(ctx, "v3"); r != nil {
		t.Error("removed document still served")
	}
	if ok, err := f.MarkRemoved(ctx, u, time.Time{}); ok || err != nil {
		t.Errorf("second removal: %v %v, want false nil", ok, err)
	}
	// After removal the URL is new again.
	if err := f.Add(ctx, mkDoc("v4", u, "Story", "back", t0.Add(4*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.Get(ctx, "v4"); r == nil || r.Change.Status != ChangeNew {
		t.Errorf("re-added document: %+v", r)
	}
}

func TestChangeTrackingWithinOneBatch(t *testing.T) {
	ctx := context.Background()
	f := newTestFeed(t, Config{})
	const u = "https://a.example.com/p"
	err := f.Add(ctx,
		mkDoc("a", u, "P", "one", t0),
		mkDoc("b", u, "P", "two", t0.Add(time.Minute)),
	)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.Get(ctx, "b")
	if err != nil || r == nil {
		t.Fatalf("Get b: %v %v", r, err)
	}
	if r.Change.Status != ChangeChanged || r.Change.PreviousID != "a" || !strings.Contains(r.Change.Diff, "+two") {
		t.Errorf("change: %+v", r.Change)
	}
	if a, _ := f.Get(ctx, "a"); a != nil {
		t.Error("first version of the batch still indexed")
	}
	if n, _ := f.Len(); n != 1 {
		t.Errorf("index holds %d documents, want 1", n)
	}
}

func TestAddRejectsIncompleteDocuments(t *testing.T) {
	f := newTestFeed(t, Config{})
	for _, d := range []schemas.Document{{URL: "https://x.example/"}, {ID: "x"}} {
		if err := f.Add(context.Background(), d); err == nil {
			t.Errorf("Add(%+v) succeeded", d)
		}
	}
}

func TestPersistentIndexReopens(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := New(ctx, Config{IndexDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	const u = "https://p.example.com/a"
	if err := f.Add(ctx, mkDoc("p1", u, "Persist", "kept across restarts", t0)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f2 := newTestFeed(t, Config{IndexDir: dir})
	if err := f2.Add(ctx, mkDoc("p2", u, "Persist", "kept across restarts, edited", t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	r, err := f2.Get(ctx, "p2")
	if err != nil || r == nil {
		t.Fatalf("Get: %v %v", r, err)
	}
	if r.Change.Status != ChangeChanged || r.Change.PreviousID != "p1" {
		t.Errorf("change after reopen: %+v", r.Change)
	}
}

func TestLineDiff(t *testing.T) {
	tests := []struct {
		name, a, b string
		want       string
	}{
		{"equal", "a\nb", "a\nb", ""},
		{"append", "a\nb", "a\nb\nc", "@@ -1,2 +1,3 @@\n a\n b\n+c\n"},
		{"replace middle", "a\nb\nc", "a\nx\nc", "@@ -1,3 +1,3 @@\n a\n-b\n+x\n c\n"},
		{"from empty", "", "a", "@@ -1,0 +1,1 @@\n+a\n"},
		{"two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10", "1\nX\n3\n4\n5\n6\n7\n8\nY\n10",
			"@@ -1,4 +1,4 @@\n 1\n-2\n+X\n 3\n 4\n@@ -7,4 +7,4 @@\n 7\n 8\n-9\n+Y\n 10\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := lineDiff(tc.a, tc.b, 2, 100); got != tc.want {
				t.Errorf("lineDiff:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		a := strings.Repeat("x\n", 100)
		b := strings.Repeat("y\n", 100)
		got := lineDiff(a, b, 2, 10)
		if n := strings.Count(got, "\n"); n != 11 || !strings.HasSuffix(got, "@@ diff truncated @@\n") {
			t.Errorf("truncated diff has %d lines:\n%s", n, got)
		}
	})
	t.Run("too many edits", func(t *testing.T) {
		var a, b strings.Builder
		for i := 0; i < maxDiffEdits; i++ {
			a.WriteString("a\n")
			b.WriteString("b\n")
		}
		if got := lineDiff(a.String(), b.String(), 2, 10); !strings.HasPrefix(got, "@@ rewritten") {
			t.Errorf("got %q", got)
		}
	})
}

// FuzzMyers checks that the edit script turns a into b.
func FuzzMyers(f *testing.F) {
	f.Add("a\nb\nc", "a\nc\nd")
	f.Add("", "x")
	f.Add("same", "same")
	f.Fuzz(func(t *testing.T, a, b string) {
		al, bl := splitLines(a), splitLines(b)
		ops, ok := myers(al, bl, maxDiffEdits)
		if !ok {
			return
		}
		var gotA, gotB []string
		for _, op := range ops {
			if op.kind != '+' {
				gotA = append(gotA, op.line)
			}
			if op.kind != '-' {
				gotB = append(gotB, op.line)
			}
		}
		if strings.Join(gotA, "\n") != strings.Join(al, "\n") || strings.Join(gotB, "\n") != strings.Join(bl, "\n") {
			t.Fatalf("script does not reproduce inputs: %q -> %q: %v", a, b, ops)
		}
		_ = lineDiff(a, b, 2, 50)
	})
}

func TestAddIsIdempotent(t *testing.T) {
	f := newTestFeed(t, Config{})
	srv := newTestServer(t, f)
	ch, stop := openFeed(t, srv.URL, "", "")
	defer stop()
	d := mkDoc("once", "https://i.example.com/", "Once", "only once", t0)
	mustAdd(t, f, d)
	mustAdd(t, f, d) // the same capture reported twice
	next := mkDoc("next", "https://i.example.com/other", "Next", "next", t0)
	mustAdd(t, f, next)
	if _, r := nextDoc(t, ch); r.ID != "once" || r.Change.Status != ChangeNew {
		t.Errorf("first event %s %s", r.ID, r.Change.Status)
	}
	if _, r := nextDoc(t, ch); r.ID != "next" {
		t.Errorf("the replayed capture produced an event: got %s, want next", r.ID)
	}
	if r, _ := f.Get(context.Background(), "once"); r == nil || r.Change.Status != ChangeNew {
		t.Errorf("replay changed the stored record: %+v", r)
	}
}
