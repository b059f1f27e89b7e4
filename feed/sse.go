package feed

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/swardnet/sward/internal/logkey"
)

// sseBatch bounds the events written between two flushes.
const sseBatch = 256

// keepalive is how often an idle SSE stream gets a comment line, so proxies
// and clients notice a dead connection.
var keepalive = 15 * time.Second

// feedFilter selects the events a subscriber wants.
type feedFilter struct {
	terms   map[string]bool
	domains map[string]bool // empty: any
	lang    string
	changes map[ChangeStatus]bool // empty: any
}

func (f *Feed) newFilter(q, domain, lang string, changes []ChangeStatus) feedFilter {
	ff := feedFilter{terms: f.idx.terms(q), lang: strings.ToLower(strings.TrimSpace(lang))}
	if d := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), ".")); d != "" {
		ff.domains = map[string]bool{d: true}
	}
	if len(changes) > 0 {
		ff.changes = map[ChangeStatus]bool{}
		for _, c := range changes {
			ff.changes[c] = true
		}
	}
	return ff
}

func (f *Feed) matchFilter(ff feedFilter, r *Record) bool {
	if ff.lang != "" && strings.ToLower(r.Language) != ff.lang {
		return false
	}
	if len(ff.changes) > 0 && !ff.changes[r.Change.Status] {
		return false
	}
	if len(ff.domains) > 0 {
		ok := false
		for _, d := range domains(r.Host) {
			ok = ok || ff.domains[d]
		}
		if !ok {
			return false
		}
	}
	return f.idx.matches(ff.terms, title(&r.Document), r.Text)
}

// handleFeed streams matching events as Server-Sent Events:
//
//	id: <event id>
//	event: document
//	data: <Record JSON>
//
// A client that reconnects with Last-Event-ID (or ?last_event_id=) gets
// every event after it that is still retained; if some were dropped, an
// "gap" event with {"missed": n} says how many (n is -1 when unknown).
// Without an ID the stream starts with the next event; last_event_id=0
// starts with the oldest retained one.
func (f *Feed) handleFeed(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	changes, err := parseChanges(q.Get("change"))
	if err != nil {
		writeError(w, err)
		return
	}
	ff := f.newFilter(q.Get("q"), q.Get("domain"), q.Get("lang"), changes)

	cursor := f.events.head()
	var missedUnknown bool
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("last_event_id")
	}
	switch {
	case last == "0":
		cursor = 0
	case last != "":
		seq, known, err := f.events.parseEventID(last)
		if err != nil {
			writeError(w, badRequest("%v", err))
			return
		}
		cursor = seq
		missedUnknown = !known
	}

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 2000\n\n")
	if missedUnknown {
		fmt.Fprintf(w, "event: gap\ndata: {\"missed\":-1,\"reason\":\"event id from another event log (an earlier run of a server without an index directory, or another server)\"}\n\n")
	}
	if err := rc.Flush(); err != nil {
		return
	}
	tick := time.NewTicker(keepalive)
	defer tick.Stop()
	for {
		evs, missed, wake := f.events.after(cursor, sseBatch)
		if missed > 0 && !missedUnknown {
			fmt.Fprintf(w, "event: gap\ndata: {\"missed\":%d}\n\n", missed)
		}
		missedUnknown = false
		for _, ev := range evs {
			cursor = ev.Seq
			if !f.matchFilter(ff, ev.Record) {
				continue
			}
			data, err := json.Marshal(ev.Record)
			if err != nil {
				f.log.Error("encoding feed event", logkey.URL, ev.Record.URL, logkey.Err, err)
				continue
			}
			fmt.Fprintf(w, "id: %s\nevent: document\ndata: %s\n\n", f.events.id(ev.Seq), data)
		}
		if len(evs) > 0 || missed > 0 {
			if err := rc.Flush(); err != nil {
				return
			}
			if len(evs) == sseBatch {
				continue
			}
		}
		select {
		case <-wake:
		case <-tick.C:
			if _, err := fmt.Fprintf(w, ": keepalive\n\n"); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-f.ctx.Done():
			return
		case <-f.streamStop:
			return
		}
	}
}
