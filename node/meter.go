package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/renameio/v2"
)

// historyBuckets is how many one-minute buckets of contribution are kept
// (24 hours).
const historyBuckets = 24 * 60

// Ledger is the node's standing as the coordinator sees it.
type Ledger struct {
	VerifiedPages int64   `json:"verified_pages"`
	VerifiedBytes int64   `json:"verified_bytes"`
	Reputation    float64 `json:"reputation"`
	Points        float64 `json:"points"`
	VerifiedShare float64 `json:"verified_share"`
}

// Activity is one fetch in progress.
type Activity struct {
	URL   string    `json:"url"`
	Job   string    `json:"job,omitempty"`
	Phase string    `json:"phase"`
	Since time.Time `json:"since"`
}

// Point is one minute of contribution history.
type Point struct {
	Time   time.Time `json:"t"`
	Pages  int64     `json:"pages"`
	Bytes  int64     `json:"bytes"`
	Errors int64     `json:"errors"`
}

// Meter counts what the node has contributed: pages, bytes, errors by
// reason, fetches in flight, per-minute history, the monthly usage that the
// data cap is checked against, and the coordinator's ledger. It is safe for
// concurrent use.
type Meter struct {
	start time.Time

	pages, errs, bytes atomic.Int64

	mu       sync.Mutex
	reasons  map[string]int64
	active   map[uint64]*Activity
	nextID   uint64
	hist     [historyBuckets]Point
	ledger   Ledger
	month    string
	monthEnd time.Time // start of the next month (UTC)
	monthB   int64
	path     string // usage file; "" when not persisted
	dirty    bool
	lastSave time.Time
}

// usageFile is the persisted monthly usage.
type usageFile struct {
	Month string `json:"month"`
	Bytes int64  `json:"bytes"`
}

// newMeter returns a meter whose monthly usage lives in dataDir (not
// persisted when dataDir is empty).
func newMeter(dataDir string) (*Meter, error) {
	m := &Meter{start: time.Now(), reasons: make(map[string]int64), active: make(map[uint64]*Activity)}
	m.month, m.monthEnd = monthOf(time.Now()), nextMonth(time.Now())
	if dataDir == "" {
		return m, nil
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create node data dir: %w", err)
	}
	m.path = filepath.Join(dataDir, "usage.json")
	b, err := os.ReadFile(m.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read monthly usage: %w", err)
	default:
		var u usageFile
		if err := json.Unmarshal(b, &u); err != nil {
			return nil, fmt.Errorf("parse monthly usage %s: %w (delete the file to reset the month's count)", m.path, err)
		}
		if u.Month == m.month && u.Bytes > 0 {
			m.monthB = u.Bytes
		}
	}
	return m, nil
}

func monthOf(t time.Time) string { return t.UTC().Format("2006-01") }

// nextMonth returns the first instant of the UTC month after t's.
func nextMonth(t time.Time) time.Time {
	y, mo, _ := t.UTC().Date()
	return time.Date(y, mo+1, 1, 0, 0, 0, 0, time.UTC)
}

// addBytes records n bytes read from the network.
func (m *Meter) addBytes(n int64) {
	m.bytes.Add(n)
	now := time.Now()
	m.mu.Lock()
	m.rollMonthLocked(now)
	m.monthB += n
	m.dirty = true
	m.bucketLocked(now).Bytes += n
	m.mu.Unlock()
}

func (m *Meter) rollMonthLocked(now time.Time) {
	if now.Before(m.monthEnd) {
		return
	}
	m.month, m.monthEnd, m.monthB, m.dirty = monthOf(now), nextMonth(now), 0, true
}

func (m *Meter) bucketLocked(now time.Time) *Point {
	t := now.UTC().Truncate(time.Minute)
	b := &m.hist[(t.Unix()/60)%historyBuckets]
	if !b.Time.Equal(t) {
		*b = Point{Time: t}
	}
	return b
}

// monthBytes returns the bytes read this calendar month (UTC).
func (m *Meter) monthBytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rollMonthLocked(time.Now())
	return m.monthB
}

// done records a finished fetch: a page, or an error with its reason code.
func (m *Meter) done(errText string) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.bucketLocked(now)
	if errText == "" {
		m.pages.Add(1)
		b.Pages++
		return
	}
	m.errs.Add(1)
	b.Errors++
	code, _, _ := strings.Cut(errText, ":")
	m.reasons[code]++
}

// begin registers a fetch in progress and returns its id for setPhase/end.
func (m *Meter) begin(url, job string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	m.active[m.nextID] = &Activity{URL: url, Job: job, Phase: "queued", Since: time.Now().UTC()}
	return m.nextID
}

func (m *Meter) setPhase(id uint64, phase string) {
	m.mu.Lock()
	if a := m.active[id]; a != nil {
		a.Phase = phase
	}
	m.mu.Unlock()
}

func (m *Meter) end(id uint64) {
	m.mu.Lock()
	delete(m.active, id)
	m.mu.Unlock()
}

// SetLedger records the coordinator's view of this node.
func (m *Meter) SetLedger(l Ledger) {
	m.mu.Lock()
	m.ledger = l
	m.mu.Unlock()
}

// Snapshot is a consistent copy of the meter.
type Snapshot struct {
	Uptime     time.Duration    `json:"uptime_ns"`
	Pages      int64            `json:"pages"`
	Errors     int64            `json:"errors"`
	Bytes      int64            `json:"bytes"`
	MonthBytes int64            `json:"month_bytes"`
	Month      string           `json:"month"`
	Reasons    map[string]int64 `json:"error_reasons,omitempty"`
	Active     []Activity       `json:"active"`
	Ledger     Ledger           `json:"ledger"`
	// History is oldest first, one point per minute, gaps filled with
	// zeros, covering the last `minutes` minutes.
	History []Point `json:"history"`
}

// Snapshot copies the meter, with history for the last `minutes` minutes.
func (m *Meter) Snapshot(minutes int) Snapshot {
	minutes = min(max(minutes, 1), historyBuckets)
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rollMonthLocked(now)
	s := Snapshot{
		Uptime: now.Sub(m.start), Pages: m.pages.Load(), Errors: m.errs.Load(), Bytes: m.bytes.Load(),
		MonthBytes: m.monthB, Month: m.month, Reasons: make(map[string]int64, len(m.reasons)), Ledger: m.ledger,
		Active: make([]Activity, 0, len(m.active)),
	}
	for k, v := range m.reasons {
		s.Reasons[k] = v
	}
	for _, a := range m.active {
		s.Active = append(s.Active, *a)
	}
	sort.Slice(s.Active, func(i, j int) bool { return s.Active[i].Since.Before(s.Active[j].Since) })
	cur := now.UTC().Truncate(time.Minute)
	for i := minutes - 1; i >= 0; i-- {
		t := cur.Add(-time.Duration(i) * time.Minute)
		b := m.hist[(t.Unix()/60)%historyBuckets]
		if !b.Time.Equal(t) {
			b = Point{Time: t}
		}
		s.History = append(s.History, b)
	}
	return s
}

// maybeSave persists the monthly usage if it changed and the last save is
// older than every; every=0 forces a save of changes.
func (m *Meter) maybeSave(every time.Duration) error {
	m.mu.Lock()
	if m.path == "" || !m.dirty || (every > 0 && time.Since(m.lastSave) < every) {
		m.mu.Unlock()
		return nil
	}
	u := usageFile{Month: m.month, Bytes: m.monthB}
	m.dirty = false
	m.lastSave = time.Now()
	path := m.path
	m.mu.Unlock()
	b, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("encode monthly usage: %w", err)
	}
	// Write, fsync, then rename, so a crash never leaves a torn file that
	// would reset (or refuse) the month's count.
	if err := renameio.WriteFile(path, b, 0o640); err != nil {
		return fmt.Errorf("save monthly usage: %w", err)
	}
	return nil
}
