package coordinator

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

// Full verification: a job with verify_sample_rate 1 checks every capture
// of every node, so the 1% bound on lies left in the dataset holds even
// for a liar that quits before sampling would have reached its lies
// (docs/verification.md, "Full verification").

// fullPages is the site of the full-verification runs: small, since every
// page costs two fetches.
const fullPages = 300

// TestAdversaryFullVerification: with every capture checked, the 10% and
// 1% partial liars and two hit-and-run identities (one lies on every page
// and quits after its first 8, one lies on 10% and quits after 20) are
// all convicted; none of their lies is in the published version, they
// earn nothing (less than honest nodes for the same work), no honest
// node is quarantined, and every page is in the version or in review.
// Every committed capture of every node, on probation or past it, had its
// check open once ingested, and the job finished (every check settled)
// before the version was published.
func TestAdversaryFullVerification(t *testing.T) {
	skipUnderRace(t)
	for _, tc := range []struct {
		name      string
		fetch     func(*advSim, *advNode, schemas.LeaseItem, bool) *schemas.Capture
		quitAfter int
	}{
		{"lie on 10%", liar(0.1, false, altered), 0},
		// The 1% liar's lie is its 5th fetch: a crawl this small gives it
		// fewer than 100, and with the offset drawn it may tell none.
		{"lie on 1%", liarFrom(0.01, 5, false, altered), 0},
		{"hit and run", liar(1, false, altered), 8},
		{"hit and run, lie on 10%", liar(0.1, false, altered), 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var trusted atomic.Int64
			s := newAdvSimN(t, fullPages, 1, true, func(c *Config) {
				fetch := c.TrustedFetch
				c.TrustedFetch = func(ctx context.Context, u string) (*schemas.Capture, error) {
					trusted.Add(1)
					return fetch(ctx, u)
				}
			})
			for i := 0; i < 4; i++ {
				s.addNode(1+i, 1, true, honestFetch)
			}
			a := s.addNode(100, 1, false, tc.fetch)
			a.quitAfter = tc.quitAfter
			// unchecked counts the captures committed (their node's
			// contribution recorded) with no check of their own open. A
			// check item whose check ended before it was fetched (its
			// original was convicted meanwhile) is delivered as a capture
			// without a lease, and dropped.
			captures, unchecked := 0, 0
			s.afterIngest = func(n *advNode, it schemas.LeaseItem, isCheck bool) {
				if isCheck || s.net.IsQuarantined(n.id) {
					return
				}
				key, err := leasedKey(it.JobID, it.URL)
				if err != nil {
					t.Fatal(err)
				}
				s.c.contribMu.Lock()
				committed := s.c.contrib[n.id.String()][key] != nil
				s.c.contribMu.Unlock()
				if !committed {
					return
				}
				captures++
				if s.c.verify.openOrig(key) != n.id.String() {
					unchecked++
				}
			}
			// reviewed holds the pages sent to review (in no version
			// until curators accept them) and not taken out since.
			reviewed := map[string]bool{}
			s.c.OnReview(func(_ *schemas.Capture, res pipeline.Result) { reviewed[res.Doc.ID] = true })
			s.c.OnExclude(func(_, id string) { delete(reviewed, id) })
			finished := false
			for r := 0; r < advRounds && !finished; r++ {
				finished = s.step(r)
			}
			if !finished {
				p, _ := s.c.Progress(s.ctx, "adv")
				t.Fatalf("the crawl did not finish: %+v", p)
			}
			root, _, err := s.c.Publish(s.ctx, "adv")
			if err != nil {
				t.Fatal(err)
			}
			r := s.result(a)
			inVersion := 0
			have := map[string]bool{}
			for _, d := range versionDocs(t, s.c.store, root) {
				if d.NodePeerID == a.id.String() && s.lies[a.id.String()][d.ID] {
					inVersion++
				}
				have[d.ID] = true
			}
			lost := 0
			for i := range fullPages {
				if id := DocumentID("adv", mustNorm(t, advURL(i))); !have[id] && !reviewed[id] {
					lost++
				}
			}
			past, fetches := 0, 0
			for _, n := range s.nodes {
				fetches += n.fetched
				if n.honest && s.c.trust.leaseShare(n.id.String(), 64) == 64 {
					past++
				}
			}
			name := tc.name + ", every capture checked"
			logResult(t, name, r)
			t.Logf("ADVERSARY strategy=%q lies_in_published_version=%d liar_fetches=%d captures=%d unchecked_captures=%d honest_past_probation=%d pages_lost=%d fetches_per_page=%.2f (trusted fetcher %.2f)",
				name, inVersion, a.fetched, captures, unchecked, past, lost, float64(fetches+int(trusted.Load()))/fullPages, float64(trusted.Load())/fullPages)
			if r.lies == 0 {
				t.Fatal("the liar told no lie; the test proves nothing")
			}
			if past == 0 {
				t.Error("no honest node left probation; the test covers probation only")
			}
			if lost != 0 {
				t.Errorf("%d pages neither in the version nor in review", lost)
			}
			if unchecked != 0 {
				t.Errorf("%d captures ingested without a check of their own", unchecked)
			}
			if !r.quarantined {
				t.Error("the liar was not convicted")
			}
			if inVersion != 0 || r.published != 0 {
				t.Errorf("%d of %d lies in the published version (%d in the next), want none", inVersion, r.lies, r.published)
			}
			if r.pointsRatio >= 1 || s.c.ledger.Statement(s.nodes[0].id.String(), time.Now()).Points == 0 {
				t.Errorf("the liar earns %.3f times the points of honest work of the same size (honest nodes must earn some)", r.pointsRatio)
			}
			if r.honestQuar != 0 {
				t.Errorf("%d honest nodes quarantined", r.honestQuar)
			}
		})
	}
}

// TestFullVerificationSamplesEveryState: at a job rate of 1 every capture
// is in its node's sample whatever the node's record (new, on probation,
// tapering, past the taper, suspect) and whether or not it has a
// document: the trust policy only ever raises the job's rate, and a draw
// is below 1.
func TestFullVerificationSamplesEveryState(t *testing.T) {
	var cfg TrustConfig
	cfg.Default()
	tb := newTrustBook(cfg)
	for name, st := range map[string]nodeTrust{
		"new":                {},
		"on probation":       {credited: 20, verified: 3},
		"tapering":           {credited: 400, verified: 60},
		"past the taper":     {credited: 20000, verified: 5000},
		"suspect":            {credited: 400, verified: 60, failed: 1},
		"lapsed a check":     {credited: 400, verified: 60, lapses: 1},
		"unverified veteran": {credited: 5000},
	} {
		nt := tb.node(name)
		nt.credited, nt.verified, nt.failed, nt.lapses = st.credited, st.verified, st.failed, st.lapses
		for _, hasDoc := range []bool{true, false} {
			if r := tb.sampleRate(name, 1, hasDoc); r < 1 {
				t.Errorf("%s, document %v: sampled at %g, want 1", name, hasDoc, r)
			}
		}
		if r := tb.sampleRate(name, advRate, true); name == "past the taper" && r != advRate {
			t.Errorf("%s at the default rate: %g, want %g (the test's states are not what it says)", name, r, advRate)
		}
	}
	v := newVerifier([]byte("secret"))
	for i := range 10000 {
		if d := v.sampleDrawFor("job", fmt.Sprintf("http://127.0.0.1:9/%d", i), "node"); d >= 1 || d < 0 {
			t.Fatalf("draw %g outside [0, 1)", d)
		}
	}
}
