package feed

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event is one feed event: a document that was accepted (or a URL that was
// found removed). Its ID is "<epoch>-<seq>": seq counts events of the log,
// and epoch names the log, so a Last-Event-ID from another log is
// recognised rather than misread. With an index directory the log is kept
// on disk and survives restarts (epoch and numbering continue); in memory
// each server run is a new epoch.
type Event struct {
	Seq      uint64
	Record   *Record
	Accepted time.Time
}

// eventLog keeps the last retention events for SSE resumption and wakes
// waiting readers when events arrive. It is safe for concurrent use.
type eventLog struct {
	epoch string

	mu    sync.Mutex
	ring  []Event
	start int    // index in ring of the oldest event
	n     int    // events in ring
	next  uint64 // seq of the next event; the first is 1
	wake  chan struct{}
	file  *eventFile // nil keeps the log in memory only
}

func newEventLog(retention int, epoch string) *eventLog {
	return &eventLog{epoch: epoch, ring: make([]Event, retention), next: 1, wake: make(chan struct{})}
}

// restoreEventLog continues a stored log: the events read back from file
// (oldest first) fill the ring and numbering resumes after the last.
func restoreEventLog(retention int, epoch string, evs []Event, file *eventFile) *eventLog {
	l := newEventLog(retention, epoch)
	l.file = file
	if len(evs) > retention {
		evs = evs[len(evs)-retention:]
	}
	copy(l.ring, evs)
	l.n = len(evs)
	if len(evs) > 0 {
		l.next = evs[len(evs)-1].Seq + 1
	}
	return l
}

// retainedLocked returns the events in the ring, oldest first.
func (l *eventLog) retainedLocked() []Event {
	out := make([]Event, 0, l.n)
	for i := 0; i < l.n; i++ {
		out = append(out, l.ring[(l.start+i)%len(l.ring)])
	}
	return out
}

// close flushes the stored log, if any.
func (l *eventLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	return l.file.close()
}

// append adds records as events and wakes readers.
func (l *eventLog) append(now time.Time, recs ...*Record) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Event, 0, len(recs))
	for _, r := range recs {
		ev := Event{Seq: l.next, Record: r, Accepted: now}
		l.next++
		if l.n < len(l.ring) {
			l.ring[(l.start+l.n)%len(l.ring)] = ev
			l.n++
		} else {
			l.ring[l.start] = ev
			l.start = (l.start + 1) % len(l.ring)
		}
		out = append(out, ev)
	}
	if l.file != nil {
		l.file.append(out, l.retainedLocked)
	}
	close(l.wake)
	l.wake = make(chan struct{})
	return out
}

// after returns up to max retained events with seq > after, how many
// events after it were dropped from the ring before they could be read,
// and a channel closed when the next event arrives.
func (l *eventLog) after(after uint64, max int) (evs []Event, missed uint64, wake <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	wake = l.wake
	if l.n == 0 {
		return nil, 0, wake
	}
	oldest := l.ring[l.start].Seq
	if after+1 < oldest {
		missed = oldest - after - 1
		after = oldest - 1
	}
	skip := int(after + 1 - oldest)
	for i := skip; i < l.n && len(evs) < max; i++ {
		evs = append(evs, l.ring[(l.start+i)%len(l.ring)])
	}
	return evs, missed, wake
}

// head is the seq of the newest event, 0 when there is none.
func (l *eventLog) head() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next - 1
}

func (l *eventLog) id(seq uint64) string { return l.epoch + "-" + strconv.FormatUint(seq, 10) }

// parseEventID reads a Last-Event-ID. known is false when the ID comes from
// another server run (or is malformed), in which case the reader should
// start from the oldest retained event.
func (l *eventLog) parseEventID(s string) (seq uint64, known bool, err error) {
	epoch, num, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return 0, false, fmt.Errorf("event id %q: want <epoch>-<seq>", s)
	}
	seq, err = strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("event id %q: %w", s, err)
	}
	if epoch != l.epoch || seq >= l.head()+1 {
		return 0, false, nil
	}
	return seq, true, nil
}
