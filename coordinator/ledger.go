package coordinator

import (
	"sort"
	"sync"
	"time"

	"github.com/swardnet/sward/schemas"
)

// Ledger counts each peer's contribution: pages and bytes delivered, how
// many of them passed verification, and the reputation that follows.
// It is safe for concurrent use.
//
// The ledger itself lives in memory; a coordinator keeps it durable by
// saving the entries it marks changed (see persist.go).
type Ledger struct {
	mu    sync.Mutex
	peers map[string]*schemas.LedgerEntry
	// escrow holds each peer's credited captures not vested yet, oldest
	// first; vesting is how long they stay there; forfeited is what each
	// peer lost to a confirmed lie.
	escrow    map[string][]grant
	vesting   time.Duration
	forfeited map[string]Forfeit
	// vestChecks is how many of a peer's own captures must pass a check
	// after a grant before it vests; ownChecks counts each peer's.
	vestChecks int64
	ownChecks  map[string]int64
	// escrowDirty holds the peers whose escrow, own checks or forfeits
	// changed since saveState last took them (trust_persist.go).
	escrowDirty map[string]struct{}
	// dirty holds the peers whose entries changed since they were last
	// taken for saving.
	dirty map[string]struct{}
}

// Points awarded per verified megabyte and per verified page.
const (
	pointsPerPage = 1.0
	pointsPerMB   = 0.5
)

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{peers: make(map[string]*schemas.LedgerEntry), dirty: make(map[string]struct{}),
		escrow: make(map[string][]grant), forfeited: make(map[string]Forfeit), ownChecks: make(map[string]int64),
		escrowDirty: make(map[string]struct{})}
}

// grant is one credited capture in escrow.
type grant struct {
	at    time.Time
	bytes int64
	// checks is the peer's count of passed own checks at the grant.
	checks int64
}

// Forfeit is what a peer lost to a confirmed lie.
type Forfeit struct {
	Pages  int64   `json:"pages"`
	Bytes  int64   `json:"bytes"`
	Points float64 `json:"points"`
}

// SetVesting sets how long credited points stay in escrow.
func (l *Ledger) SetVesting(d time.Duration) {
	l.mu.Lock()
	l.vesting = d
	l.mu.Unlock()
}

// SetVestChecks sets how many of a peer's own captures must pass a check
// after a grant before the grant vests (0: time alone vests it).
func (l *Ledger) SetVestChecks(n int64) {
	l.mu.Lock()
	l.vestChecks = max(n, 0)
	l.mu.Unlock()
}

// OwnCheckPassed records that a check confirmed one of p's own captures:
// it counts towards vesting p's earlier grants.
func (l *Ledger) OwnCheckPassed(p string) {
	l.mu.Lock()
	l.ownChecks[p]++
	l.escrowDirty[p] = struct{}{}
	l.mu.Unlock()
}

// vestedLocked reports whether p's grant g has vested at now: its
// vesting period passed and enough of p's own captures passed checks
// since. l.mu held.
func (l *Ledger) vestedLocked(p string, g grant, now time.Time) bool {
	return now.Sub(g.at) >= l.vesting && l.ownChecks[p]-g.checks >= l.vestChecks
}

// OwnChecks is how many of p's own captures passed a check so far.
func (l *Ledger) OwnChecks(p string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ownChecks[p]
}

// PagePoints is what one credited capture of bytes measured bytes earns.
func PagePoints(bytes int64) float64 {
	return pointsPerPage + pointsPerMB*float64(bytes)/(1<<20)
}

// CreditCapture credits a capture the coordinator accepted, of bytes it
// measured itself, into p's escrow at now, and returns p's entry.
func (l *Ledger) CreditCapture(p string, bytes int64, now time.Time) schemas.LedgerEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(p)
	e.Pages++
	e.Bytes += bytes
	l.escrow[p] = append(l.escrow[p], grant{at: now, bytes: bytes, checks: l.ownChecks[p]})
	l.escrowDirty[p] = struct{}{}
	l.recompute(e)
	l.dirty[p] = struct{}{}
	return *e
}

// Statement is one peer's points split by vesting, for a node owner or
// an auditor.
type Statement struct {
	Peer       string  `json:"peer"`
	Pages      int64   `json:"pages"`
	Bytes      int64   `json:"bytes"`
	Points     float64 `json:"points"`
	Vested     float64 `json:"vested"`
	Escrow     float64 `json:"escrow"`
	Forfeit    Forfeit `json:"forfeited"`
	Reputation float64 `json:"reputation"`
	// Quarantined peers keep their vested points; they earn no more.
	Quarantined bool `json:"quarantined,omitempty"`
}

// Statement returns p's points at now.
func (l *Ledger) Statement(p string, now time.Time) Statement {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.statement(p, now)
}

func (l *Ledger) statement(p string, now time.Time) Statement {
	e := l.entry(p)
	st := Statement{Peer: p, Pages: e.Pages, Bytes: e.Bytes, Points: e.Points, Forfeit: l.forfeited[p],
		Reputation: e.Reputation, Quarantined: e.Quarantined}
	for _, g := range l.escrow[p] {
		if !l.vestedLocked(p, g, now) {
			st.Escrow += PagePoints(g.bytes)
		}
	}
	st.Vested = st.Points - st.Escrow
	return st
}

// Statements returns every peer's statement, highest points first.
func (l *Ledger) Statements(now time.Time) []Statement {
	l.mu.Lock()
	out := make([]Statement, 0, len(l.peers))
	for p := range l.peers {
		out = append(out, l.statement(p, now))
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Points != out[j].Points {
			return out[i].Points > out[j].Points
		}
		return out[i].Peer < out[j].Peer
	})
	return out
}

// ForfeitUnvested takes every point of p still in escrow at now away,
// with its reputation, and returns what was forfeited: the penalty of a
// confirmed lie.
func (l *Ledger) ForfeitUnvested(p string, now time.Time) Forfeit {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(p)
	var f Forfeit
	kept := l.escrow[p][:0]
	for _, g := range l.escrow[p] {
		if !l.vestedLocked(p, g, now) {
			f.Pages++
			f.Bytes += g.bytes
			f.Points += PagePoints(g.bytes)
			continue
		}
		kept = append(kept, g)
	}
	l.escrow[p] = kept
	l.escrowDirty[p] = struct{}{}
	e.Pages -= f.Pages
	e.Bytes -= f.Bytes
	prev := l.forfeited[p]
	prev.Pages += f.Pages
	prev.Bytes += f.Bytes
	prev.Points += f.Points
	l.forfeited[p] = prev
	// A liar's reputation is gone for good: count enough failures.
	if need := FailuresToQuarantine(e.VerifiedPages); e.Failed < need {
		e.Failed = need
	}
	l.recompute(e)
	l.dirty[p] = struct{}{}
	return f
}

func (l *Ledger) entry(p string) *schemas.LedgerEntry {
	e := l.peers[p]
	if e == nil {
		e = &schemas.LedgerEntry{Peer: p, Reputation: 1}
		l.peers[p] = e
	}
	return e
}

// Credit records a capture delivered by peer p, vested at once, and
// returns p's entry. The coordinator credits with CreditCapture.
func (l *Ledger) Credit(p string, bytes int64) schemas.LedgerEntry {
	return l.CreditCapture(p, bytes, time.Time{})
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
	l.dirty[p] = struct{}{}
	return *e
}

// QuarantineThreshold is the reputation below which a peer is quarantined.
const QuarantineThreshold = 0.5

// Reputation is the standing of a peer with passed and failed verification
// checks: twice the Laplace-smoothed share of passed checks, at most 1,
//
//	R(p, f) = min(1, 2(p+1) / (p+f+2)).
//
// A new peer starts at 1 and stays there while it passes at least as many
// checks as it fails, so one early failure does not condemn it; repeated
// failures drive it towards zero.
func Reputation(passed, failed int64) float64 {
	r := 2 * (float64(passed) + 1) / (float64(passed+failed) + 2)
	if r > 1 {
		r = 1
	}
	return r
}

// ShouldQuarantine reports whether a ledger entry's reputation fell below
// QuarantineThreshold.
func ShouldQuarantine(e schemas.LedgerEntry) bool { return e.Reputation < QuarantineThreshold }

// FailuresToQuarantine is the number of failed checks that gets a peer
// with passed passed checks quarantined: the least f with
// R(passed, f) < QuarantineThreshold. For the threshold 1/2 it is
// 3·passed + 3: a node that lies on every check is out after 3.
func FailuresToQuarantine(passed int64) int64 {
	f := int64(0)
	for Reputation(passed, f) >= QuarantineThreshold {
		f++
	}
	return f
}

// recompute derives reputation and points.
func (l *Ledger) recompute(e *schemas.LedgerEntry) {
	e.Reputation = Reputation(e.VerifiedPages, e.Failed)
	if e.Pages > 0 {
		e.VerifiedShare = float64(e.VerifiedPages) / float64(e.Pages)
	}
	// Points come from credited captures only (CreditCapture): a page
	// point each plus their measured megabytes.
	e.Points = pointsPerPage*float64(e.Pages) + pointsPerMB*float64(e.Bytes)/(1<<20)
}

// SetQuarantined marks p as quarantined in the ledger.
func (l *Ledger) SetQuarantined(p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(p)
	if !e.Quarantined {
		e.Quarantined = true
		l.dirty[p] = struct{}{}
	}
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

// takeDirty returns copies of the entries changed since the last call and
// forgets that they changed; putBack marks them changed again when saving
// them failed.
func (l *Ledger) takeDirty() []schemas.LedgerEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.dirty) == 0 {
		return nil
	}
	out := make([]schemas.LedgerEntry, 0, len(l.dirty))
	for p := range l.dirty {
		out = append(out, *l.peers[p])
		delete(l.dirty, p)
	}
	return out
}

// putBack marks entries taken by takeDirty as changed again.
func (l *Ledger) putBack(es []schemas.LedgerEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range es {
		l.dirty[e.Peer] = struct{}{}
	}
}

// restore replaces the entries of the given peers with saved counts,
// deriving reputation and points as Credit and Verified do. Restored
// entries are not marked changed.
func (l *Ledger) restore(es []schemas.LedgerEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, saved := range es {
		e := &schemas.LedgerEntry{
			Peer: saved.Peer, Pages: saved.Pages, Bytes: saved.Bytes,
			VerifiedPages: saved.VerifiedPages, VerifiedBytes: saved.VerifiedBytes,
			Failed: saved.Failed, Quarantined: saved.Quarantined,
		}
		l.recompute(e)
		l.peers[e.Peer] = e
		delete(l.dirty, e.Peer)
	}
}
