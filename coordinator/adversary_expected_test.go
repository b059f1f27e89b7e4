package coordinator

import (
	"fmt"
	"testing"
	"time"
)

// Expected points of the partial liars over many seeded runs: one run of
// a 1% liar says little (it tells about one lie, caught or not), the
// expectation over runs is what decides whether lying pays
// (docs/verification.md, "Expected points").
const (
	evRuns  = 10
	evPages = 300
)

// evOutcome sums what the liar and the honest nodes earned over runs.
type evOutcome struct {
	attPoints, attFetched, honPoints, honFetched float64
	caught, runs, lies, published                int
}

func (o evOutcome) ratio() float64 {
	if o.attFetched == 0 || o.honFetched == 0 || o.honPoints == 0 {
		return 0
	}
	return (o.attPoints / o.attFetched) / (o.honPoints / o.honFetched)
}

// runSeeded crawls a site of evPages pages with 4 honest nodes and one
// liar lying on a share q of its fetches, with reproducible identities
// and sampling secret for seed, and adds the outcome to o.
func runSeeded(t *testing.T, seed uint64, q float64, o *evOutcome) {
	t.Helper()
	s := newAdvSimN(t, evPages, advRate, true, func(c *Config) {
		c.VerifySecret = []byte(fmt.Sprintf("adversary seed %d", seed))
	})
	s.seed = seed
	for i := 0; i < 4; i++ {
		s.addNode(1+i, 1, true, honestFetch)
	}
	a := s.addNode(100, 1, false, liar(q, false, altered))
	s.run(advRounds)
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.nodes {
		st := s.c.ledger.Statement(n.id.String(), now)
		if n.honest {
			o.honPoints += st.Points
			o.honFetched += float64(n.fetched)
			if s.quarantined[n.id.String()] {
				t.Errorf("seed %d: honest node %s quarantined", seed, n.id)
			}
			continue
		}
		o.attPoints += st.Points
		o.attFetched += float64(n.fetched)
	}
	o.runs++
	caught := s.quarantined[a.id.String()]
	if caught {
		o.caught++
	}
	published := 0
	for id := range s.lies[a.id.String()] {
		o.lies++
		if s.live[a.id.String()][id] {
			published++
		}
	}
	o.published += published
	if caught && published > 0 {
		t.Errorf("seed %d: the liar was caught but %d of its lies are still in the version", seed, published)
	}
}

// TestAdversaryExpectedPoints: over evRuns seeded runs, a node lying on
// 10% or 1% of its pages earns fewer points per page than honest nodes:
// a caught liar forfeits every unvested point, so its expected pay is
// honest pay times the chance of never being caught (always below 1).
func TestAdversaryExpectedPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("many seeded crawls")
	}
	skipUnderRace(t)
	for _, q := range []float64{0.1, 0.01} {
		t.Run(fmt.Sprint(q), func(t *testing.T) {
			var o evOutcome
			for seed := uint64(1); seed <= evRuns; seed++ {
				runSeeded(t, seed, q, &o)
			}
			share := 0.0
			if o.lies > 0 {
				share = float64(o.published) / float64(o.lies)
			}
			t.Logf("ADVERSARY-EV strategy=%q runs=%d pages=%d expected_points_vs_honest=%.3f caught=%d/%d lies=%d published_lies=%d published_share=%.3f",
				fmt.Sprintf("lie on %g%%", 100*q), o.runs, evPages, o.ratio(), o.caught, o.runs, o.lies, o.published, share)
			if o.lies == 0 {
				t.Fatal("the liar told no lie in any run; the test proves nothing")
			}
			if r := o.ratio(); r >= 1 {
				t.Errorf("a %g%% liar expects %.3f times honest pay, want fewer", 100*q, r)
			}
		})
	}
}
