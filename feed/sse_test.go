package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

func addN(t *testing.T, f *Feed, from, n int, host string) []schemas.Document {
	t.Helper()
	var docs []schemas.Document
	for i := from; i < from+n; i++ {
		d := mkDoc(fmt.Sprintf("d%d", i), fmt.Sprintf("https://%s/page/%d", host, i), fmt.Sprintf("Page %d", i), fmt.Sprintf("feed test page number %d about kites", i), t0.Add(time.Duration(i)*time.Second))
		if err := f.Add(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	return docs
}

func TestFeedDeliveryAndFilters(t *testing.T) {
	f := newTestFeed(t, Config{})
	srv := newTestServer(t, f)
	all, stopAll := openFeed(t, srv.URL, "", "")
	defer stopAll()
	kites, stopKites := openFeed(t, srv.URL, "q=kites&domain=example.com&lang=en", "")
	defer stopKites()

	ctx := context.Background()
	other := mkDoc("o1", "https://other.example.net/x", "Boats", "sailing boats on the lake", t0)
	dutch := mkDoc("nl", "https://www.example.com/nl", "Vliegers", "kites in het Nederlands", t0)
	dutch.Language = "nl"
	if err := f.Add(ctx, other, dutch); err != nil {
		t.Fatal(err)
	}
	addN(t, f, 0, 1, "www.example.com")

	for _, want := range []string{"o1", "nl", "d0"} {
		if _, r := nextDoc(t, all); r.ID != want {
			t.Errorf("unfiltered stream gave %s, want %s", r.ID, want)
		}
	}
	ev, r := nextDoc(t, kites)
	if r.ID != "d0" {
		t.Errorf("filtered stream gave %s, want d0 (o1 fails q and domain, nl fails lang)", r.ID)
	}
	if ev.ID == "" {
		t.Error("event has no id")
	}
	if r.CaptureCID == "" || r.ContentSHA256 == "" || r.Text == "" {
		t.Errorf("event lacks provenance or text: %+v", r)
	}
}

func TestFeedResume(t *testing.T) {
	f := newTestFeed(t, Config{})
	srv := newTestServer(t, f)
	ch, stop := openFeed(t, srv.URL, "", "")
	addN(t, f, 0, 1, "a.example.com")
	first, _ := nextDoc(t, ch)
	stop()

	// Documents accepted while the client is away.
	addN(t, f, 1, 5, "a.example.com")

	ch, stop = openFeed(t, srv.URL, "", first.ID)
	defer stop()
	for i := 1; i <= 5; i++ {
		_, r := nextDoc(t, ch)
		if want := fmt.Sprintf("d%d", i); r.ID != want {
			t.Fatalf("resumed stream gave %s, want %s", r.ID, want)
		}
	}
	// And it goes on live.
	addN(t, f, 6, 1, "a.example.com")
	if _, r := nextDoc(t, ch); r.ID != "d6" {
		t.Errorf("live after resume gave %s", r.ID)
	}
}

func TestFeedGapBeyondRetention(t *testing.T) {
	f := newTestFeed(t, Config{Retention: 3})
	srv := newTestServer(t, f)
	ch, stop := openFeed(t, srv.URL, "", "")
	addN(t, f, 0, 1, "g.example.com")
	first, _ := nextDoc(t, ch)
	stop()
	addN(t, f, 1, 6, "g.example.com") // d1..d6; only d4..d6 retained

	tests := []struct {
		name     string
		lastID   string
		wantGap  int
		wantDocs []string
	}{
		{"known id, dropped events counted", first.ID, 3, []string{"d4", "d5", "d6"}},
		{"id from another run", "zzz-3", -1, []string{"d4", "d5", "d6"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch, stop := openFeed(t, srv.URL, "", tc.lastID)
			defer stop()
			var gap *sseEvent
			var got []string
			timeout := time.After(5 * time.Second)
			for len(got) < len(tc.wantDocs) {
				select {
				case ev := <-ch:
					switch ev.Event {
					case "gap":
						e := ev
						gap = &e
					case "document":
						var r Record
						if err := json.Unmarshal([]byte(ev.Data), &r); err != nil {
							t.Fatal(err)
						}
						got = append(got, r.ID)
					}
				case <-timeout:
					t.Fatalf("timed out; got %v", got)
				}
			}
			if gap == nil {
				t.Fatal("no gap event")
			}
			var g struct{ Missed int }
			if err := json.Unmarshal([]byte(gap.Data), &g); err != nil || g.Missed != tc.wantGap {
				t.Errorf("gap %s, want missed %d", gap.Data, tc.wantGap)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantDocs) {
				t.Errorf("docs %v, want %v", got, tc.wantDocs)
			}
		})
	}
}

func TestFeedBadRequests(t *testing.T) {
	f := newTestFeed(t, Config{})
	srv := newTestServer(t, f)
	for _, q := range []string{"change=bogus", "last_event_id=nodash"} {
		resp, err := http.Get(srv.URL + "/v1/feed?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, resp.StatusCode)
		}
	}
}

func TestEventLogRing(t *testing.T) {
	l := newEventLog(4, "e")
	for i := 0; i < 10; i++ {
		l.append(t0, &Record{})
	}
	tests := []struct {
		after      uint64
		max        int
		wantFirst  uint64
		wantN      int
		wantMissed uint64
	}{
		{0, 10, 7, 4, 6},
		{6, 10, 7, 4, 0},
		{8, 10, 9, 2, 0},
		{10, 10, 0, 0, 0},
		{6, 2, 7, 2, 0},
	}
	for _, tc := range tests {
		evs, missed, _ := l.after(tc.after, tc.max)
		if len(evs) != tc.wantN || missed != tc.wantMissed || (len(evs) > 0 && evs[0].Seq != tc.wantFirst) {
			t.Errorf("after(%d,%d): %d events from %v, missed %d; want %d from %d, missed %d", tc.after, tc.max, len(evs), evs, missed, tc.wantN, tc.wantFirst, tc.wantMissed)
		}
	}
}

func FuzzParseEventID(f *testing.F) {
	l := newEventLog(4, "ep")
	l.append(t0, &Record{}, &Record{})
	f.Add("ep-1")
	f.Add("ep-99")
	f.Add("x-1")
	f.Add("-")
	f.Add("ep--1")
	f.Fuzz(func(t *testing.T, s string) {
		seq, known, err := l.parseEventID(s)
		if err != nil && known {
			t.Fatalf("%q: error and known", s)
		}
		if known && (seq > l.head() || l.id(seq) != s && l.id(seq) != "ep-"+fmt.Sprint(seq)) {
			t.Fatalf("%q: known seq %d beyond head %d", s, seq, l.head())
		}
	})
}
