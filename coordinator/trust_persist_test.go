package coordinator

import (
	"context"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// TestTrustStateSurvivesRestart: a node's probation progress, lapses,
// failed checks, networks, escrow (credit times and the own checks they
// wait for) and forfeits are what a restarted coordinator sees: a liar
// cannot leave probation, clear its suspicion or vest its escrow by
// waiting for a restart.
func TestTrustStateSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := openPersistEnv(t, dir)
	c := env.c
	c.ledger.SetVestChecks(2)
	a, b := testPeer(t).String(), testPeer(t).String()
	now := time.Now()
	key := checkKey{job: "j", url: "http://127.0.0.1:9/x"}
	c.trust.seen(a, netip.MustParseAddr("10.0.5.1"), now)
	for i := 0; i < 3; i++ {
		c.creditCapture(a, key, key.url, 2000, "", now.Add(-time.Duration(i)*time.Minute))
	}
	c.trust.lapsed(a)
	c.trust.verifiedOwn(a)
	c.ledger.OwnCheckPassed(a)
	c.creditCapture(b, key, key.url, 500, "", now)
	c.creditCapture(b, key, key.url, 500, now.Format(time.RFC3339), now)
	c.ledger.ForfeitUnvested(b, now)
	c.trust.saved.Store(0)
	if err := c.saveState(ctx); err != nil {
		t.Fatal(err)
	}
	type view struct {
		RecA, RecB      trustRecord
		StA, StB        Statement
		StALater        Statement
		RateA           float64
		ProbationShareA int
	}
	look := func(c *Coordinator) view {
		var v view
		c.trust.fill(a, &v.RecA)
		c.trust.fill(b, &v.RecB)
		c.ledger.fillEscrow(a, &v.RecA)
		c.ledger.fillEscrow(b, &v.RecB)
		v.StA, v.StB = c.ledger.Statement(a, now), c.ledger.Statement(b, now)
		v.StALater = c.ledger.Statement(a, now.Add(48*time.Hour))
		v.RateA = c.trust.sampleRate(a, 0.05, true)
		v.ProbationShareA = c.trust.leaseShare(a, 64)
		return v
	}
	before := look(c)
	if before.RecA.Lapses != 1 || before.RecA.Credited != 3 || len(before.RecA.Prefixes) != 1 || len(before.RecA.Escrow) != 3 ||
		before.StA.Escrow == 0 || before.StALater.Vested != 0 || before.RateA != 0.5 || before.StB.Forfeit.Pages != 2 {
		t.Fatalf("state before the restart is not what the test sets up: %+v", before)
	}
	if err := env.st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := env.f.Close(); err != nil {
		t.Fatal(err)
	}
	env2 := openPersistEnv(t, dir)
	c2 := env2.c
	c2.ledger.SetVestChecks(2)
	after := look(c2)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("trust state changed across the restart:\nbefore %+v\nafter  %+v", before, after)
	}
	// The network a was seen from still counts as shared history.
	c2.trust.seen(b, netip.MustParseAddr("10.0.5.77"), now)
	c2.trust.mu.Lock()
	shared := sharesHistory(c2.trust.nodes[a], c2.trust.nodes[b])
	c2.trust.mu.Unlock()
	if !shared {
		t.Error("the /24 a was seen from before the restart is forgotten")
	}
}
