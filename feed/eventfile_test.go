package feed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFeedResumeAcrossRestart: with an index directory the event log is on
// disk, so a client that resumes after the server restarted gets what it
// missed, in order, with the same IDs, and numbering continues.
func TestFeedResumeAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	f1, err := New(context.Background(), Config{IndexDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, f1)
	ch, stop := openFeed(t, srv.URL, "", "")
	addN(t, f1, 0, 1, "a.example.com")
	first, _ := nextDoc(t, ch)
	stop()
	addN(t, f1, 1, 3, "a.example.com") // accepted while the client is away
	f1.cancelStreams()
	srv.Close()
	if err := f1.Close(); err != nil {
		t.Fatal(err)
	}

	f2 := newTestFeed(t, Config{IndexDir: dir})
	srv2 := newTestServer(t, f2)
	addN(t, f2, 4, 1, "a.example.com") // accepted after the restart
	ch, stop = openFeed(t, srv2.URL, "", first.ID)
	defer stop()
	var ids []string
	for i := 1; i <= 4; i++ {
		ev, r := nextDoc(t, ch)
		if want := fmt.Sprintf("d%d", i); r.ID != want {
			t.Fatalf("resumed stream gave %s, want %s", r.ID, want)
		}
		ids = append(ids, ev.ID)
	}
	epoch, _, _ := strings.Cut(first.ID, "-")
	for i, id := range ids {
		if want := fmt.Sprintf("%s-%d", epoch, i+2); id != want {
			t.Errorf("event %d has id %s, want %s (same log, numbering continued)", i, id, want)
		}
	}
}

// TestEventFileDamage: a torn last line (a crash mid-write) is cut off, an
// unreadable line in the middle is skipped, and neither stops the feed or
// loses the other events; a file that is not an event log is a clear error.
func TestEventFileDamage(t *testing.T) {
	dir := t.TempDir()
	f1, err := New(context.Background(), Config{IndexDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addN(t, f1, 0, 3, "b.example.com")
	if err := f1.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "events.jsonl")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	// lines: header, d0, d1, d2, "" ; damage d1 and tear a fourth event.
	lines[2] = "{not json\n"
	damaged := strings.Join(lines, "") + `{"seq":4,"accepted":"2026-`
	if err := os.WriteFile(path, []byte(damaged), 0o600); err != nil {
		t.Fatal(err)
	}

	f2, err := New(context.Background(), Config{IndexDir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("reopening a damaged event file: %v", err)
	}
	evs, missed, _ := f2.events.after(0, 10)
	if missed != 0 || len(evs) != 2 || evs[0].Record.ID != "d0" || evs[1].Record.ID != "d2" {
		t.Fatalf("after damage: missed %d, events %v; want d0 and d2", missed, eventIDs(evs))
	}
	addN(t, f2, 3, 1, "b.example.com")
	evs, _, _ = f2.events.after(0, 10)
	if got := eventIDs(evs); got != "1:d0 3:d2 4:d3" {
		t.Errorf("events after a new add: %s, want 1:d0 3:d2 4:d3 (numbering after the last whole event)", got)
	}
	if err := f2.Close(); err != nil {
		t.Fatal(err)
	}
	data, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `"accepted":"2026-`+"\n") || !strings.HasSuffix(string(data), "\n") {
		t.Errorf("torn line still in the file:\n%s", data)
	}

	if err := os.WriteFile(path, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), Config{IndexDir: dir}); err == nil || !strings.Contains(err.Error(), "not an event file") {
		t.Errorf("foreign file: err %v, want a clear error", err)
	}
}

// TestEventFileCompaction: the file is rewritten with the retained events
// once it holds twice the retention, and the log reads back the same.
func TestEventFileCompaction(t *testing.T) {
	dir := t.TempDir()
	f1, err := New(context.Background(), Config{IndexDir: dir, Retention: 4})
	if err != nil {
		t.Fatal(err)
	}
	addN(t, f1, 0, 11, "c.example.com")
	if err := f1.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// 8 events triggered a rewrite down to 4; 3 more were appended.
	if n := strings.Count(string(data), "\n") - 1; n != 7 {
		t.Errorf("file holds %d events, want 7 after compaction", n)
	}
	f2 := newTestFeed(t, Config{IndexDir: dir, Retention: 4})
	evs, missed, _ := f2.events.after(0, 10)
	if got := eventIDs(evs); got != "8:d7 9:d8 10:d9 11:d10" || missed != 7 {
		t.Errorf("reopened log: %s missed %d, want the last 4 (8-11) and 7 missed", got, missed)
	}
}

func eventIDs(evs []Event) string {
	var parts []string
	for _, ev := range evs {
		parts = append(parts, fmt.Sprintf("%d:%s", ev.Seq, ev.Record.ID))
	}
	return strings.Join(parts, " ")
}
