package coordinator

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/schemas"
)

// TestChecksLookLikeWork: a check item has exactly the fields of a work
// item, a check-only lease has an ID like a frontier lease, and renew,
// complete and release answer both the same way.
func TestChecksLookLikeWork(t *testing.T) {
	s := newAdvSimN(t, 8, 1, false, func(c *Config) { c.Trust.LeaseBurst = 200; c.Trust.ProbationLeaseItems = 64 })
	a := s.addNode(1, 1, true, honestFetch)
	b := s.addNode(2, 1, true, honestFetch)
	// a fetches some pages; every capture is checked.
	resp := s.c.HandleLease(s.ctx, a.id, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 6})
	for _, it := range resp.Items {
		if err := s.c.Ingest(s.ctx, honestFetch(s, a, it, false)); err != nil {
			t.Fatal(err)
		}
	}
	workID := resp.LeaseID
	s.c.HandleLease(s.ctx, a.id, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseComplete, LeaseID: workID})
	// b gets work and checks mixed in one lease, or checks in a lease of
	// their own; either way nothing on the wire tells them apart.
	var checkLeaseID string
	var sawCheck, sawWork bool
	for r := 0; r < 100 && (!sawCheck || checkLeaseID == ""); r++ {
		resp := s.c.HandleLease(s.ctx, b.id, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 64})
		onlyChecks := len(resp.Items) > 0
		for _, it := range resp.Items {
			raw, _ := json.Marshal(it)
			var fields map[string]any
			_ = json.Unmarshal(raw, &fields)
			keys := make([]string, 0, len(fields))
			for k := range fields {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if !reflect.DeepEqual(keys, []string{"depth", "job", "url"}) {
				t.Fatalf("lease item has fields %v", keys)
			}
			if isCheckItem(s.c, b.id, it) {
				sawCheck = true
			} else {
				sawWork, onlyChecks = true, false
			}
		}
		if onlyChecks {
			checkLeaseID = resp.LeaseID
		}
		// b keeps its leases: once it holds every host, the frontier has
		// nothing for it and checks come in a lease of their own.
	}
	if !sawCheck || !sawWork {
		t.Fatalf("saw check %v, work %v", sawCheck, sawWork)
	}
	if checkLeaseID == "" {
		t.Fatal("no lease of checks only")
	}
	if len(checkLeaseID) != len(workID) {
		t.Errorf("check lease ID %q and frontier lease ID %q differ in shape", checkLeaseID, workID)
	}
	for _, op := range []string{schemas.LeaseRenew, schemas.LeaseComplete} {
		r := s.c.HandleLease(s.ctx, b.id, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: op, LeaseID: checkLeaseID})
		if r.Error != "" || r.LeaseID != checkLeaseID {
			t.Errorf("%s of a check lease: %+v", op, r)
		}
	}
	// Another node cannot renew b's check lease.
	if r := s.c.HandleLease(s.ctx, a.id, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseRenew, LeaseID: checkLeaseID}); r.Error == "" {
		t.Error("a node renewed another node's check lease")
	}
}

// TestVerifierDrawnAtRandomAndDiverse: the verifier of a check is drawn
// among eligible nodes, not whoever asks first; never one on the
// original's /24, never one on probation while established nodes exist.
func TestVerifierDrawnAtRandomAndDiverse(t *testing.T) {
	tb := newTrustBook(func() TrustConfig { var c TrustConfig; c.Default(); return c }())
	now := time.Now()
	tb.seen("orig", netip.MustParseAddr("10.0.1.1"), now)
	tb.seen("neighbour", netip.MustParseAddr("10.0.1.2"), now) // same /24
	tb.seen("fresh", netip.MustParseAddr("10.0.9.1"), now)
	for _, n := range []string{"e1", "e2", "e3"} {
		tb.seen(n, netip.MustParseAddr("10.0."+map[string]string{"e1": "2", "e2": "3", "e3": "4"}[n]+".1"), now)
		tb.node(n).verified = 1
	}
	tb.node("neighbour").verified = 1
	ck := &check{key: checkKey{"j", "u"}, orig: "orig", tried: map[string]bool{}}
	counts := map[string]int{}
	never := func(string) bool { return false }
	for i := 0; i < 3000; i++ {
		counts[tb.pick(ck, now, never, true)]++
	}
	if counts["neighbour"] != 0 || counts["orig"] != 0 || counts["fresh"] != 0 {
		t.Fatalf("ineligible verifiers drawn: %v", counts)
	}
	for _, n := range []string{"e1", "e2", "e3"} {
		if counts[n] < 800 || counts[n] > 1200 {
			t.Errorf("verifier %s drawn %d of 3000 times, want about 1000", n, counts[n])
		}
	}
	// A verifier sharing history with the first verifier is not drawn
	// for the second fetch.
	tb.seen("e1", netip.MustParseAddr("10.0.3.7"), now) // e1 was on e2's /24 too
	ck.fetches = []fetchResult{{node: "e2"}}
	ck.tried["e2"] = true
	for i := 0; i < 200; i++ {
		if got := tb.pick(ck, now, never, true); got != "e3" {
			t.Fatalf("drew %q for the second fetch; only e3 shares no network", got)
		}
	}
	// A node with a lapsed check is no verifier.
	tb.lapsed("e3")
	if got := tb.pick(ck, now, never, false); got != "" {
		t.Errorf("drew %q", got)
	}
}

func TestLeaseRequestsRateLimited(t *testing.T) {
	s := newAdvSim(t, advRate, false, nil)
	n := s.addNode(1, 1, true, honestFetch)
	limited := 0
	for i := 0; i < 100; i++ {
		r := s.c.HandleLease(s.ctx, n.id, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 1})
		if r.Error != "" && r.RetryAfter > 0 {
			limited++
		}
	}
	if limited < 100-s.c.cfg.Trust.LeaseBurst-5 {
		t.Errorf("%d of 100 back-to-back requests limited, burst %d", limited, s.c.cfg.Trust.LeaseBurst)
	}
}

// TestLapsedCheckBlamedAndSettledByTrustedFetcher: checks that lapse are
// never offered to the node again, count against it, and after
// MaxCheckLapses go to the trusted fetcher, which convicts the liar.
func TestLapsedCheckBlamedAndSettledByTrustedFetcher(t *testing.T) {
	s := newAdvSim(t, 1, true, nil)
	liarN := s.addNode(1, 1, false, liar(1, false, altered))
	st1 := s.addNode(2, 1, true, honestFetch)
	st2 := s.addNode(3, 1, true, honestFetch)
	resp := s.c.HandleLease(s.ctx, liarN.id, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 1})
	if len(resp.Items) != 1 {
		t.Fatalf("liar leased %d items", len(resp.Items))
	}
	if err := s.c.Ingest(s.ctx, liarN.fetch(s, liarN, resp.Items[0], false)); err != nil {
		t.Fatal(err)
	}
	key, _ := leasedKey("adv", resp.Items[0].URL)
	now := time.Now()
	s.c.trust.mu.Lock()
	for _, n := range []*advNode{st1, st2} {
		s.c.trust.node(n.id.String()).verified = 1 // established verifiers
	}
	s.c.trust.mu.Unlock()
	for _, stall := range []*advNode{st1, st2} {
		// Each staller asks until it is given the check, then never answers.
		got := false
		for i := 0; i < 10 && !got; i++ {
			r := s.c.HandleLease(s.ctx, stall.id, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 1})
			for _, it := range r.Items {
				got = got || isCheckItem(s.c, stall.id, it)
			}
			if !got {
				s.c.verify.mu.Lock()
				ck := s.c.verify.checks[key]
				if ck == nil {
					s.c.verify.mu.Unlock()
					t.Fatalf("check of %s gone; ledger of the liar %+v", key.url, s.c.ledger.Entry(liarN.id.String()))
				}
				ck.designatedAt = time.Time{}
				s.c.verify.mu.Unlock()
			}
		}
		if !got {
			t.Fatalf("%s never given the check", stall.id)
		}
		now = now.Add(2*s.c.cfg.LeaseTTL + s.c.cfg.CompleteGrace)
		s.c.sweepChecks(s.ctx, now)
		if e := s.c.ledger.Entry(stall.id.String()); e.Failed != 1 {
			t.Errorf("staller's ledger after its lapse: %+v", e)
		}
		for _, o := range s.c.verify.candidates(stall.id.String(), now, 10, nil) {
			if o.key == key {
				t.Error("a lapsed check is offered again to the node that let it lapse")
			}
		}
	}
	// The second sweep after two lapses had the trusted fetcher fetch
	// twice; it disagrees with the liar and convicts it.
	for i := 0; i < 3 && !s.net.IsQuarantined(liarN.id); i++ {
		s.c.sweepChecks(s.ctx, now)
	}
	if !s.net.IsQuarantined(liarN.id) {
		t.Fatal("the liar's check was voided by stalling verifiers")
	}
}

// TestPointsMeasuredEscrowedForfeited: points come from the body the
// coordinator measured, sit in escrow until they vest, and go wholesale
// on a confirmed lie; every credit has a signed receipt and the
// published ledger adds up.
func TestPointsMeasuredEscrowedForfeited(t *testing.T) {
	s := newAdvSim(t, 0.0001, false, func(c *Config) {
		c.Trust.Vesting = time.Hour
		c.Trust.VestChecks = -1 // time alone vests here; TestVestingNeedsOwnChecks
		c.Trust.ProbationRate = 0.0001
		c.Trust.ErrorSampleRate = 0.0001
	})
	n := s.addNode(1, 1, true, honestFetch)
	resp := s.c.HandleLease(s.ctx, n.id, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 4})
	var body int64
	for _, it := range resp.Items {
		c := honestFetch(s, n, it, false)
		body += int64(len(c.Body))
		if err := s.c.Ingest(s.ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	st := s.c.ledger.Statement(n.id.String(), now)
	want := float64(len(resp.Items))*pointsPerPage + pointsPerMB*float64(body)/(1<<20)
	if st.Bytes != body || st.Points < want-1e-9 || st.Points > want+1e-9 {
		t.Fatalf("statement %+v, want %d bytes and %.4f points", st, body, want)
	}
	if st.Vested != 0 || st.Escrow != st.Points {
		t.Errorf("points vested at once: %+v", st)
	}
	if later := s.c.ledger.Statement(n.id.String(), now.Add(2*time.Hour)); later.Vested != st.Points {
		t.Errorf("points not vested after the vesting period: %+v", later)
	}
	rs := s.c.Receipts(n.id.String())
	if len(rs) != len(resp.Items) {
		t.Fatalf("%d receipts for %d credited captures", len(rs), len(resp.Items))
	}
	sum := 0.0
	for _, r := range rs {
		if err := VerifyReceipt(s.c.ReceiptKey(), r); err != nil {
			t.Errorf("receipt %d: %v", r.Seq, err)
		}
		sum += r.Points
	}
	if sum < st.Points-1e-9 || sum > st.Points+1e-9 {
		t.Errorf("receipts add up to %.4f, ledger says %.4f", sum, st.Points)
	}
	forged := rs[0]
	forged.Bytes *= 1000
	if VerifyReceipt(s.c.ReceiptKey(), forged) == nil {
		t.Error("an altered receipt verifies")
	}
	// The published ledger, over HTTP as an auditor reads it.
	rec := httptest.NewRecorder()
	s.c.LedgerHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/ledger", nil))
	var pub PublishedLedger
	if err := json.Unmarshal(rec.Body.Bytes(), &pub); err != nil || len(pub.Peers) != 1 || pub.TotalPoints != pub.Peers[0].Points {
		t.Errorf("published ledger %s (%v)", rec.Body.String(), err)
	}
	// A confirmed lie forfeits every unvested point and the reputation.
	f := s.c.ledger.ForfeitUnvested(n.id.String(), now)
	after := s.c.ledger.Statement(n.id.String(), now)
	if f.Pages != int64(len(resp.Items)) || after.Points != 0 || after.Reputation >= QuarantineThreshold {
		t.Errorf("after forfeiting %+v: %+v", f, after)
	}
}

// TestRedirectNeedsAVerifier: a document filed under another URL than the
// one leased waits until a verifier's fetch ends at the same URL; the
// other URL is not marked done; a redirect out of scope stores nothing.
func TestRedirectNeedsAVerifier(t *testing.T) {
	s := newAdvSim(t, advRate, false, nil)
	a := s.addNode(1, 1, true, honestFetch)
	b := s.addNode(2, 1, true, honestFetch)
	resp := s.c.HandleLease(s.ctx, a.id, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 2})
	if len(resp.Items) < 2 {
		t.Fatalf("leased %d", len(resp.Items))
	}
	in, out := resp.Items[0], resp.Items[1]
	target := advURL((pageIndex(in.URL) + 1) % advPages)
	c1 := htmlCapture("adv", in.URL, a.id.String(), honestPage(pageIndex(target)))
	c1.FinalURL = target
	c2 := htmlCapture("adv", out.URL, a.id.String(), honestPage(1))
	c2.FinalURL = "http://198.51.100.7/x"
	for _, c := range []*schemas.Capture{c1, c2} {
		if err := s.c.Ingest(s.ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(s.live[a.id.String()]); got != 0 {
		t.Fatalf("%d documents stored before any verifier saw the redirects", got)
	}
	if holder, _ := s.c.frontier.LeaseHolder(s.ctx, "adv", target); holder == a.id.String() {
		t.Fatal("redirect target leased to the claimer")
	}
	st, _ := s.c.frontier.Stats(s.ctx, "adv")
	if st.Done != 2 {
		t.Errorf("%d URLs done, want the two leased ones only", st.Done)
	}
	// b is drawn for the check of the redirect and sees the same one.
	key, _ := leasedKey("adv", in.URL)
	now := time.Now()
	if got := s.c.verify.assign(b.id.String(), []offer{{key: key, url: in.URL}}, now, now.Add(time.Minute)); len(got) != 1 {
		t.Fatal("redirect check not open")
	}
	v := htmlCapture("adv", in.URL, b.id.String(), honestPage(pageIndex(target)))
	v.FinalURL = target
	if err := s.c.Ingest(s.ctx, v); err != nil {
		t.Fatal(err)
	}
	norm, _ := NormalizeURL(target)
	if !s.live[a.id.String()][DocumentID("adv", norm)] {
		t.Error("a redirect confirmed by a verifier was not stored under its final URL")
	}
}

// TestFalseSizeClaimEarnsNothing: a capture that declares a body size or
// hash other than the body it carries is a signed false claim: it earns
// no point, counts as a failed check, and its page is checked like an
// error answer (fetched again by another node). An honest capture of the
// same node earns its measured points.
func TestFalseSizeClaimEarnsNothing(t *testing.T) {
	s := newAdvSim(t, 0.0001, false, func(c *Config) {
		c.Trust.ProbationRate = 0.0001
		c.Trust.ErrorSampleRate = 0.0001
	})
	n := s.addNode(1, 1, true, honestFetch)
	resp := s.c.HandleLease(s.ctx, n.id, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 4})
	if len(resp.Items) < 3 {
		t.Fatalf("lease: %+v", resp)
	}
	tests := []struct {
		name   string
		tamper func(*schemas.Capture)
		points bool
	}{
		{"inflated size", func(c *schemas.Capture) { c.BodySize = 1 << 40 }, false},
		{"foreign hash", func(c *schemas.Capture) { c.BodySHA256 = schemas.SHA256Hex([]byte("another page")) }, false},
		{"honest", func(*schemas.Capture) {}, true},
	}
	for i, tc := range tests {
		before := s.c.ledger.Statement(n.id.String(), time.Now()).Points
		c := honestFetch(s, n, resp.Items[i], false)
		tc.tamper(c)
		if err := s.c.Ingest(s.ctx, c); err != nil {
			t.Fatal(err)
		}
		got := s.c.ledger.Statement(n.id.String(), time.Now()).Points - before
		if (got > 0) != tc.points {
			t.Errorf("%s: earned %.3f points", tc.name, got)
		}
	}
	if e := s.c.ledger.Entry(n.id.String()); e.Failed != 2 {
		t.Errorf("failed checks %d, want 2 (one per false claim)", e.Failed)
	}
	for _, it := range resp.Items[:2] {
		if k, _ := leasedKey("adv", it.URL); !s.c.verify.isOpen(k) {
			t.Errorf("no check of %s: a falsely claimed page must be fetched again", it.URL)
		}
	}
}

// TestQuarantineDuringVerifierDrawDoesNotDeadlock: the verifier draw runs
// under the trust book's lock and asks whether candidates are
// quarantined; Ingest holds quarMu shared and then takes the trust book.
// With a quarantine waiting for quarMu (a writer blocks new readers), a
// draw that took quarMu under the trust book's lock deadlocked all three
// (seen in internal/cluster's liar test). The draw must finish while an
// ingest holds quarMu and a quarantine waits for it.
func TestQuarantineDuringVerifierDrawDoesNotDeadlock(t *testing.T) {
	c := newTestCoordinator(t)
	now := time.Now()
	for i, n := range []string{"orig", "e1", "e2"} {
		c.trust.seen(n, netip.AddrFrom4([4]byte{10, 0, byte(i + 1), 1}), now)
		c.trust.node(n).verified = 1
	}
	liar := testPeer(t).String()
	c.quarMu.RLock() // an ingest in progress
	quarantined := make(chan error, 1)
	go func() { quarantined <- c.Quarantine(context.Background(), liar) }()
	// Wait until the quarantine is blocked on quarMu: a new reader is then
	// refused until the ingest above lets go.
	testutil.Eventually(t, 5*time.Second, "the quarantine to wait for quarMu", func() bool {
		if c.quarMu.TryRLock() {
			c.quarMu.RUnlock()
			return false
		}
		return true
	})
	drawn := make(chan string, 1)
	ck := &check{key: checkKey{"j", "u"}, orig: "orig", tried: map[string]bool{}}
	go func() { drawn <- c.pickerFor(now).draw(ck) }()
	select {
	case got := <-drawn:
		if got != "e1" && got != "e2" {
			t.Errorf("drew %q, want e1 or e2", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the verifier draw blocked behind the waiting quarantine (lock-order deadlock)")
	}
	c.quarMu.RUnlock()
	if err := <-quarantined; err != nil {
		t.Fatal(err)
	}
	if !c.isQuarantinedNoLock(liar) {
		t.Error("the quarantined node is not seen as quarantined without the lock")
	}
}

// TestSampleRateTapersAfterProbation: a node leaving probation is not
// dropped to the job's rate at once but checked densely until its record
// says something: ProbationRate·TaperChecks/v for v passed checks, never
// below the job's rate, and a failed check puts it back at SuspectRate.
func TestSampleRateTapersAfterProbation(t *testing.T) {
	cfg := TrustConfig{}
	cfg.Default()
	tb := newTrustBook(cfg)
	const node, base = "n", 0.05
	if r := tb.sampleRate(node, base, true); r != cfg.ProbationRate {
		t.Fatalf("new node sampled at %v, want the probation rate %v", r, cfg.ProbationRate)
	}
	for i := int64(0); i < cfg.ProbationPages; i++ {
		tb.credit(node)
	}
	for _, tc := range []struct {
		verified int64
		want     float64
	}{{1, 0.5}, {25, 0.5}, {50, 0.25}, {100, 0.125}, {250, 0.05}, {1000, 0.05}} {
		tb.mu.Lock()
		tb.node(node).verified = tc.verified
		tb.mu.Unlock()
		if r := tb.sampleRate(node, base, true); r != tc.want {
			t.Errorf("after %d passed checks sampled at %v, want %v", tc.verified, r, tc.want)
		}
	}
	if r := tb.sampleRate(node, 0.2, true); r != 0.2 {
		t.Errorf("a job's own rate above the taper: sampled at %v, want 0.2", r)
	}
	tb.mu.Lock()
	tb.node(node).failed = 1
	tb.mu.Unlock()
	if r := tb.sampleRate(node, base, true); r != cfg.SuspectRate {
		t.Errorf("a suspect node sampled at %v, want %v", r, cfg.SuspectRate)
	}

	off := cfg
	off.TaperChecks = -1
	tb = newTrustBook(off)
	for i := int64(0); i < off.ProbationPages; i++ {
		tb.credit(node)
	}
	tb.verifiedOwn(node)
	if r := tb.sampleRate(node, base, true); r != base {
		t.Errorf("without a taper an established node is sampled at %v, want the job's %v", r, base)
	}
}

// survival is the probability that a node lying on a share q of its
// pages is not caught within pages captures, sampled as the trust book
// samples it at job rate base: exact, by dynamic programming over the
// number of its captures that passed a check (the rate depends on it).
// A checked lie is taken as caught (no colluding verifier).
func survival(cfg TrustConfig, q, base float64, pages int) float64 {
	tb := newTrustBook(cfg)
	rate := func(i, v int) float64 {
		tb.mu.Lock()
		nt := tb.node("n")
		nt.credited, nt.verified = int64(i), int64(v)
		tb.mu.Unlock()
		return tb.sampleRate("n", base, true)
	}
	dist := []float64{1} // dist[v]: P(not caught and v passed checks)
	for i := 0; i < pages; i++ {
		next := make([]float64, len(dist)+1)
		for v, p := range dist {
			r := rate(i, v)
			next[v+1] += p * (1 - q) * r
			next[v] += p * ((1-q)*(1-r) + q*(1-r))
		}
		dist = next
	}
	s := 0.0
	for _, p := range dist {
		s += p
	}
	return s
}

// TestDefaultsCatchPartialLiars pins the figures docs/verification.md
// derives from the default trust policy at a 5% job rate: a 10% liar
// survives its first 120 pages (its share of the adversary suite's crawl)
// with probability under 1%, a 50% liar essentially never, and even a 1%
// liar is more likely caught than not within 1,050 pages.
func TestDefaultsCatchPartialLiars(t *testing.T) {
	cfg := TrustConfig{}
	cfg.Default()
	for _, tc := range []struct {
		q     float64
		pages int
		max   float64
	}{{0.5, 120, 1e-9}, {0.1, 120, 0.01}, {0.1, 1050, 1e-6}, {0.01, 1050, 0.25}} {
		if s := survival(cfg, tc.q, 0.05, tc.pages); s > tc.max {
			t.Errorf("a %g%% liar survives %d pages with probability %.3g, want at most %g", 100*tc.q, tc.pages, s, tc.max)
		} else {
			t.Logf("a %g%% liar survives %d pages with probability %.3g", 100*tc.q, tc.pages, s)
		}
	}
	// Without the taper the 10% liar survives 120 pages nine times as often.
	off := cfg
	off.TaperChecks = -1
	if s := survival(off, 0.1, 0.05, 120); s < 0.04 {
		t.Errorf("without the taper a 10%% liar survives 120 pages with probability %.3g; the taper's figures need redoing", s)
	}
}

// TestIdleLeaseCarriesMoreChecks: once the frontier has nothing for a
// node, its lease is checks alone, up to VerifyIdlePerLease of them (more
// than VerifyPerLease), each on a different host so no host's politeness
// budget is overdrawn.
func TestIdleLeaseCarriesMoreChecks(t *testing.T) {
	const perLease, idle = 2, 6
	s := newAdvSimN(t, 40, 1, false, func(c *Config) {
		c.Trust.LeaseBurst = 1000
		c.Trust.ProbationLeaseItems = 64
		c.VerifyPerLease, c.VerifyIdlePerLease = perLease, idle
	})
	a := s.addNode(1, 1, true, honestFetch)
	b := s.addNode(2, 1, true, honestFetch)
	for r := 0; ; r++ {
		if r == 100 {
			t.Fatal("the frontier never ran dry")
		}
		resp := s.c.HandleLease(s.ctx, a.id, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 64})
		if len(resp.Items) == 0 {
			break
		}
		var done []string
		for _, it := range resp.Items {
			if err := s.c.Ingest(s.ctx, honestFetch(s, a, it, false)); err != nil {
				t.Fatal(err)
			}
			done = append(done, it.URL)
		}
		s.c.HandleLease(s.ctx, a.id, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseComplete, LeaseID: resp.LeaseID, URLs: done})
	}
	if open := s.c.OpenChecks("adv"); open < idle {
		t.Fatalf("%d checks open; the test needs at least %d", open, idle)
	}
	resp := s.c.HandleLease(s.ctx, b.id, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 64})
	hosts := map[string]bool{}
	for _, it := range resp.Items {
		if !isCheckItem(s.c, b.id, it) {
			t.Errorf("%s in an idle node's lease is not a check", it.URL)
		}
		h, err := frontier.HostKey(it.URL)
		if err != nil {
			t.Fatal(err)
		}
		if hosts[h] {
			t.Errorf("two checks of host %s in one lease", h)
		}
		hosts[h] = true
	}
	if len(resp.Items) != idle {
		t.Fatalf("an idle node's lease holds %d checks, want %d (VerifyIdlePerLease)", len(resp.Items), idle)
	}
}
