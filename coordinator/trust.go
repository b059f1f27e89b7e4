package coordinator

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// Trust policy: who is sampled how often, who may verify whom, how much
// work a node may take, and when points vest. See docs/verification.md.

// TrustConfig tunes how far the coordinator trusts each node.
type TrustConfig struct {
	// ProbationPages is how many credited captures a new identity makes
	// on probation: sampled at ProbationRate, at most ProbationLeaseItems
	// URLs a lease, and no verifier role until one of its captures passed
	// a check (default 50).
	ProbationPages int64
	// ProbationRate is the sample rate of a node on probation (default 0.5).
	ProbationRate float64
	// ProbationLeaseItems caps a probation node's lease (default 4).
	ProbationLeaseItems int
	// TaperChecks sets how a node's sample rate falls after probation:
	// ProbationRate·TaperChecks/v for a node v of whose captures passed a
	// check, until that reaches the job's own rate (default 25: 50% at
	// 25 passed checks, 25% at 50, the job's 5% at 250). A node is checked
	// densely until its record says something, so a partial liar is
	// caught before its pay grows: a 10% liar survives its first 120
	// pages with probability 0.006 instead of 0.054, for about 100 more
	// checks of an honest node over its first 5,000 pages
	// (docs/verification.md). Negative: no taper.
	TaperChecks float64
	// SuspectRate is the sample rate of a node with any failed or lapsed
	// check (default 0.5).
	SuspectRate float64
	// ErrorSampleRate is the least sample rate of answers without a
	// document: errors, 404s, empty pages (default 0.5).
	ErrorSampleRate float64
	// Vesting is how long credited points stay in escrow, forfeited
	// wholesale if the node is caught lying meanwhile (default 24h).
	Vesting time.Duration
	// VestChecks is how many of a node's own captures must pass a check
	// after a credit before it vests, whatever the time (default 70: a
	// node lying on 1% of its pages then keeps a point only with
	// probability 0.99^70 < 0.5; docs/verification.md). Negative: time
	// alone vests.
	VestChecks int64
	// RetainChecks is how many of a node's own captures must pass a check
	// after one of its pages before a conviction no longer takes the page
	// out (retracting it from a published version), and the coordinator
	// stops tracking it (default 460: a node lying on 1% of its pages
	// keeps a lie only with probability 0.99^460 < 0.01;
	// docs/verification.md). Never fewer than VestChecks; negative: the
	// vesting period alone.
	RetainChecks int64
	// LieWindow is how close in time to the original two agreeing
	// re-fetches must be to convict it; later ones are inconclusive
	// (default 10m).
	LieWindow time.Duration
	// MaxCheckLapses is how many nodes may let a check lapse before the
	// trusted fetcher fetches the page (default 2).
	MaxCheckLapses int
	// LeaseRate and LeaseBurst bound each node's lease requests per
	// second (defaults 5 and 20).
	LeaseRate  float64
	LeaseBurst int
	// ActiveWindow is how recently a node must have asked for work to be
	// drawn as a verifier (default 2m).
	ActiveWindow time.Duration
	// ReceiptKey signs receipts; nil draws a key per process.
	ReceiptKey ed25519.PrivateKey
}

// Default fills zero fields.
func (t *TrustConfig) Default() {
	if t.ProbationPages == 0 {
		t.ProbationPages = 50
	}
	if t.ProbationRate == 0 {
		t.ProbationRate = 0.5
	}
	if t.ProbationLeaseItems == 0 {
		t.ProbationLeaseItems = 4
	}
	if t.TaperChecks == 0 {
		t.TaperChecks = 25
	}
	if t.SuspectRate == 0 {
		t.SuspectRate = 0.5
	}
	if t.ErrorSampleRate == 0 {
		t.ErrorSampleRate = 0.5
	}
	if t.Vesting == 0 {
		t.Vesting = 24 * time.Hour
	}
	if t.VestChecks == 0 {
		t.VestChecks = 70
	}
	if t.RetainChecks == 0 {
		t.RetainChecks = 460
	}
	if t.LieWindow == 0 {
		t.LieWindow = 10 * time.Minute
	}
	if t.MaxCheckLapses == 0 {
		t.MaxCheckLapses = 2
	}
	if t.LeaseRate == 0 {
		t.LeaseRate = 5
	}
	if t.LeaseBurst == 0 {
		t.LeaseBurst = 20
	}
	if t.ActiveWindow == 0 {
		t.ActiveWindow = 2 * time.Minute
	}
}

// Validate reports settings the coordinator cannot run with.
func (t TrustConfig) Validate() error {
	for name, r := range map[string]float64{"probation rate": t.ProbationRate, "suspect rate": t.SuspectRate, "error sample rate": t.ErrorSampleRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("coordinator: trust %s %v outside 0..1", name, r)
		}
	}
	if t.ProbationPages < 0 || t.ProbationLeaseItems < 1 || t.MaxCheckLapses < 1 || t.LeaseBurst < 1 || t.LeaseRate <= 0 {
		return errors.New("coordinator: trust probation pages must not be negative; probation lease items, max check lapses, lease rate and burst must be positive")
	}
	if t.Vesting < 0 || t.LieWindow <= 0 || t.ActiveWindow <= 0 {
		return errors.New("coordinator: trust vesting must not be negative; lie window and active window must be positive")
	}
	return nil
}

// TrustedFetchFunc fetches a page with a fetcher the coordinator runs
// itself (Config.TrustedFetch).
type TrustedFetchFunc func(ctx context.Context, url string) (*schemas.Capture, error)

// nodeTrust is what the coordinator knows of one node.
type nodeTrust struct {
	lastSeen time.Time
	// prefixes are the /24 (IPv4) or /48 (IPv6) networks the node was
	// ever seen from; two nodes sharing one share history.
	prefixes map[netip.Prefix]bool
	credited int64 // captures credited
	verified int64 // own captures a check confirmed
	lapses   int64
	failed   int64
	limiter  *rate.Limiter
}

// trustBook holds every node's nodeTrust. Safe for concurrent use; never
// calls into the verifier (the verifier calls it under its lock).
type trustBook struct {
	cfg   TrustConfig
	mu    sync.Mutex
	nodes map[string]*nodeTrust
	rng   *rand.Rand
	// dirty holds the nodes whose durable state changed since saveState
	// last took them (trust_persist.go).
	dirty map[string]struct{}
	// saved is when saveState last took the dirty records (Unix ns).
	saved atomic.Int64
}

func newTrustBook(cfg TrustConfig) *trustBook {
	return &trustBook{cfg: cfg, nodes: make(map[string]*nodeTrust), dirty: make(map[string]struct{}), rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

func (t *trustBook) node(n string) *nodeTrust {
	nt := t.nodes[n]
	if nt == nil {
		nt = &nodeTrust{prefixes: map[netip.Prefix]bool{}, limiter: rate.NewLimiter(rate.Limit(t.cfg.LeaseRate), t.cfg.LeaseBurst)}
		t.nodes[n] = nt
	}
	return nt
}

// prefixOf is the network an address counts as: its /24 or /48. Loopback
// and unknown addresses count as none (every test node is on loopback).
func prefixOf(a netip.Addr) (netip.Prefix, bool) {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsUnspecified() {
		return netip.Prefix{}, false
	}
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	return p, err == nil
}

// seen records that node asked for work at now from addr (invalid when
// unknown) and reports whether its request is within its rate.
func (t *trustBook) seen(node string, addr netip.Addr, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	nt := t.node(node)
	nt.lastSeen = now
	if p, ok := prefixOf(addr); ok && !nt.prefixes[p] {
		nt.prefixes[p] = true
		t.dirty[node] = struct{}{}
	}
	return nt.limiter.AllowN(now, 1)
}

func (t *trustBook) onProbation(nt *nodeTrust) bool {
	return nt.credited < t.cfg.ProbationPages || nt.verified == 0
}

// sampleRate is the share of node's captures to check, for a job whose
// own rate is base and a capture with or without a document.
func (t *trustBook) sampleRate(node string, base float64, hasDoc bool) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	nt := t.node(node)
	r := base
	if !hasDoc {
		r = max(r, t.cfg.ErrorSampleRate)
	}
	if t.onProbation(nt) {
		r = max(r, t.cfg.ProbationRate)
	} else if t.cfg.TaperChecks > 0 {
		r = max(r, min(t.cfg.ProbationRate, t.cfg.ProbationRate*t.cfg.TaperChecks/float64(nt.verified)))
	}
	if nt.lapses > 0 || nt.failed > 0 {
		r = max(r, t.cfg.SuspectRate)
	}
	return r
}

// leaseShare caps the URLs node may take in one lease.
func (t *trustBook) leaseShare(node string, max int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.onProbation(t.node(node)) {
		return min(max, t.cfg.ProbationLeaseItems)
	}
	return max
}

func (t *trustBook) credit(node string) {
	t.mu.Lock()
	t.node(node).credited++
	t.dirty[node] = struct{}{}
	t.mu.Unlock()
}

func (t *trustBook) verifiedOwn(node string) {
	t.mu.Lock()
	t.node(node).verified++
	t.dirty[node] = struct{}{}
	t.mu.Unlock()
}

func (t *trustBook) lapsed(node string) {
	t.mu.Lock()
	t.node(node).lapses++
	t.dirty[node] = struct{}{}
	t.mu.Unlock()
}

func (t *trustBook) failedCheck(node string) {
	t.mu.Lock()
	t.node(node).failed++
	t.dirty[node] = struct{}{}
	t.mu.Unlock()
}

// sharesHistory reports whether two nodes were ever seen from one network.
func sharesHistory(a, b *nodeTrust) bool {
	for p := range a.prefixes {
		if b.prefixes[p] {
			return true
		}
	}
	return false
}

// eligible reports whether name may verify ck at now: it asked for work
// within ActiveWindow, is not quarantined, is neither the original's node
// nor one that fetched or lapsed the page, shares no network with any of
// those, has no failed or lapsed check, and (established) has a verified
// record. t.mu held.
func (t *trustBook) eligible(ck *check, name string, nt *nodeTrust, now time.Time, quarantined func(string) bool) (ok, established bool) {
	if name == ck.orig || name == trustedNode || ck.tried[name] || now.Sub(nt.lastSeen) > t.cfg.ActiveWindow || quarantined(name) {
		return false, false
	}
	if nt.lapses > 0 || nt.failed > 0 {
		return false, false
	}
	if o := t.nodes[ck.orig]; o != nil && sharesHistory(o, nt) {
		return false, false
	}
	for _, f := range ck.fetches {
		if o := t.nodes[f.node]; o != nil && f.node != name && sharesHistory(o, nt) {
			return false, false
		}
	}
	return true, nt.verified > 0
}

// pick draws a verifier for ck uniformly at random among the eligible
// established nodes. Without a trusted fetcher to fall back on
// (fallbackNew), new nodes are drawn when no established one is eligible.
func (t *trustBook) pick(ck *check, now time.Time, quarantined func(string) bool, fallbackNew bool) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var established, fresh []string
	for name, nt := range t.nodes {
		ok, est := t.eligible(ck, name, nt, now, quarantined)
		switch {
		case !ok:
		case est:
			established = append(established, name)
		default:
			fresh = append(fresh, name)
		}
	}
	pool := established
	if len(pool) == 0 && fallbackNew {
		pool = fresh
	}
	if len(pool) == 0 {
		return ""
	}
	// Map order is random but not uniform; draw explicitly.
	slices.Sort(pool)
	return pool[t.rng.IntN(len(pool))]
}

// stillEligible reports whether a drawn verifier may still verify ck.
func (t *trustBook) stillEligible(ck *check, name string, now time.Time, quarantined func(string) bool, fallbackNew bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	nt := t.nodes[name]
	if nt == nil {
		return false
	}
	ok, est := t.eligible(ck, name, nt, now, quarantined)
	return ok && (est || fallbackNew)
}

// PeerAddresser is implemented by networks that know a peer's current
// IP address (*network.Host does): the coordinator uses it to keep a
// check's verifiers off the original's network.
type PeerAddresser interface {
	PeerAddr(p peer.ID) (netip.Addr, bool)
}

// peerAddr is from's address, or an invalid one when the network cannot
// tell.
func (c *Coordinator) peerAddr(from peer.ID) netip.Addr {
	if pa, ok := c.net.(PeerAddresser); ok {
		if a, ok := pa.PeerAddr(from); ok {
			return a
		}
	}
	return netip.Addr{}
}

// admitLease records a lease request of from and refuses it when from
// asks faster than its rate allows. HandleLease calls it first.
func (c *Coordinator) admitLease(from peer.ID, req *schemas.LeaseRequest, resp *schemas.LeaseResponse, now time.Time) bool {
	if req.Op != schemas.LeaseAcquire {
		return true
	}
	if c.trust.seen(from.String(), c.peerAddr(from), now) {
		return true
	}
	resp.Error = "rate limited: too many lease requests; retry later"
	resp.RetryAfter = schemas.Duration(time.Second)
	return false
}

// pickerFor returns the verifier draw the verifier uses at now.
func (c *Coordinator) pickerFor(now time.Time) *picker {
	fallback := c.cfg.TrustedFetch == nil
	return &picker{
		draw: func(ck *check) string { return c.trust.pick(ck, now, c.isQuarantinedNoLock, fallback) },
		still: func(ck *check, node string) bool {
			return c.trust.stillEligible(ck, node, now, c.isQuarantinedNoLock, fallback)
		},
	}
}

// isQuarantinedNoLock is isQuarantined without quarMu, for the call sites
// that hold the verifier's or the trust book's lock: Ingest takes quarMu
// shared and then the trust book, so taking quarMu under the trust book
// deadlocks as soon as a quarantine waits for quarMu
// (TestQuarantineDuringVerifierDrawDoesNotDeadlock). It may lag a
// quarantine by the moment between the two writes, which only makes a
// node being quarantined eligible as a verifier once more.
func (c *Coordinator) isQuarantinedNoLock(node string) bool {
	_, ok := c.quarSeen.Load(node)
	return ok
}

// sweepChecks blames the nodes whose checks lapsed, has the trusted
// fetcher fetch the pages of checks that keep lapsing or find no
// verifier, drops checks past VerifyTimeout, forgets vested
// contributions once a minute (forgetVestedIfDue), and saves all of it.
// Serve calls it every second, off its own loop (sweepChecksAsync).
func (c *Coordinator) sweepChecks(ctx context.Context, now time.Time) {
	for _, l := range c.verify.takeLapses(now) {
		c.trust.lapsed(l.node)
		c.ledger.Verified(l.node, 0, false)
		c.log.Warn("verification check lapsed", logkey.Node, l.node, logkey.Job, l.key.job, logkey.URL, l.key.url)
	}
	if c.cfg.TrustedFetch != nil {
		for _, o := range c.verify.trustedDue(now, c.cfg.Trust.MaxCheckLapses, c.cfg.LeaseTTL) {
			c.trustedCheck(ctx, o)
		}
	}
	if n := c.verify.expire(now, c.checkLife()); n > 0 {
		c.log.Warn("verification checks timed out unfinished", "checks", n)
		// Redirected documents whose check timed out are never released.
		c.dropHeld("")
	}
	c.forgetVestedIfDue(now)
	if err := c.saveState(ctx); err != nil {
		c.log.Warn("saving verification state", logkey.Err, err)
	}
}

// checkLife is how long a check may stay open.
func (c *Coordinator) checkLife() time.Duration {
	timeout := c.cfg.VerifyTimeout
	if c.cfg.TrustedFetch != nil {
		// Long enough for the lapses that hand a check to the trusted
		// fetcher, and its fetches: a lapsing verifier cannot void it.
		timeout = max(timeout, time.Duration(c.cfg.Trust.MaxCheckLapses+2)*(c.cfg.LeaseTTL+c.cfg.CompleteGrace))
	}
	return timeout
}

// trustedCheck fetches a check's page with the trusted fetcher and files
// the fetch.
func (c *Coordinator) trustedCheck(ctx context.Context, o offer) {
	capt, err := c.cfg.TrustedFetch(ctx, o.url)
	ok := err == nil && capt != nil
	var fp fingerprint
	var bytes int64
	if ok {
		if capt.URL == "" {
			capt.URL = o.url
		}
		capt.JobID = o.key.job
		c.admitFinalURL(c.job(o.key.job), capt)
		fp = c.verify.fingerprintOf(capt)
		bytes = int64(len(capt.Body))
	} else {
		c.log.Warn("trusted fetch failed", logkey.URL, o.url, logkey.Err, err)
	}
	vd, matched := c.verify.recordTrusted(o.key, fp, bytes, ok)
	if !matched {
		return
	}
	if err := c.applyVerdict(ctx, vd); err != nil {
		c.log.Warn("applying a trusted fetch's verdict", logkey.URL, o.url, logkey.Err, err)
	}
}

// sweepChecksAsync runs sweepChecks in the background unless a sweep is
// running already (a trusted fetch may take seconds).
func (c *Coordinator) sweepChecksAsync(ctx context.Context, now time.Time) {
	c.checkLeases.sweep(now, c.cfg.CompleteGrace)
	if !c.sweeping.CompareAndSwap(false, true) {
		return
	}
	c.sweepWG.Add(1)
	go func() {
		defer c.sweepWG.Done()
		defer c.sweeping.Store(false)
		c.sweepChecks(ctx, now)
	}()
}
