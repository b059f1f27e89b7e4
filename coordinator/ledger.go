package coordinator

import (
	"sort"
	"sync"

	"github.com/swardnet/sward/schemas"
)

// Ledger counts each peer's contribution: pages and bytes delivered, how
// many of them passed verification, and the reputation that follows.
// It is safe for concurrent use.
type Ledger struct {
	mu    sync.Mutex
	peers map[string]*schemas.LedgerEntry
}

// Points awarded per verified megabyte and per verified page.
const (
	pointsPerPage = 1.0
	pointsPerMB   = 0.5
)

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{peers: make(map[string]*schemas.LedgerEntry)} }

func (l *Ledger) entry(p string) *schemas.LedgerEntry {
	e := l.peers[p]
	if e == nil {
		e = &schemas.LedgerEntry{Peer: p, Reputation: 1}
		l.peers[p] = e
	}
	return e
}

// Credit records a capture delivered by peer p.
func (l *Ledger) Credit(p string, bytes int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(p)
	e.Pages++
	e.Bytes += bytes
	l.recompute(e)
}

// Verified records the outcome of a sampled re-fetch of one of p's
// captures: passed checks earn points, failed ones cost reputation.
func (l *Ledger) Verified(p string, bytes int64, ok bool) schemas.LedgerEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(p)
	if ok {
		e.VerifiedPages++
		e.VerifiedBytes += bytes
	} else {
		e.Failed++
	}
	l.recompute(e)
	return *e
}

// recompute derives reputation and points. Reputation is the Laplace-smoothed
// share of passed checks, so one early failure does not condemn a new peer
// and repeated failures drive it towards zero.
func (l *Ledger) recompute(e *schemas.LedgerEntry) {
	checks := float64(e.VerifiedPages + e.Failed)
	e.Reputation = (float64(e.VerifiedPages) + 1) / (checks + 2) * 2
	if e.Reputation > 1 {
		e.Reputation = 1
	}
	if e.Pages > 0 {
		e.VerifiedShare = float64(e.VerifiedPages) / float64(e.Pages)
	}
	e.Points = e.Reputation * (pointsPerPage*float64(e.Pages) + pointsPerMB*float64(e.Bytes)/(1<<20))
}

// SetQuarantined marks p as quarantined in the ledger.
func (l *Ledger) SetQuarantined(p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entry(p).Quarantined = true
}

// Entry returns a copy of p's entry (a fresh one for unknown peers).
func (l *Ledger) Entry(p string) schemas.LedgerEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return *l.entry(p)
}

// All returns every entry, highest points first.
func (l *Ledger) All() []schemas.LedgerEntry {
	l.mu.Lock()
	out := make([]schemas.LedgerEntry, 0, len(l.peers))
	for _, e := range l.peers {
		out = append(out, *e)
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Points > out[j].Points })
	return out
}
