package coordinator

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestContributionsKeptUntilVested: a contribution stays tracked, in
// memory and in the database, until RetainChecks of its node's own
// captures passed a check after it and the vesting period passed (so a
// conviction can still retract its page, published or not), and is
// forgotten then; one restored without its count counts from the sweep.
// The check sweep forgets them, at most once every forgetVestedEvery,
// and its save deletes them from the database.
func TestContributionsKeptUntilVested(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := openTest(t, filepath.Join(dir, "frontier.db"))
	c, _, _ := newCoordinatorOn(t, dir, f, time.Minute)
	c.cfg.Trust.Vesting = time.Hour
	c.ledger.SetVesting(time.Hour)
	c.ledger.SetVestChecks(2)
	c.cfg.Trust.VestChecks, c.cfg.Trust.RetainChecks = 2, 2

	t0 := time.Now().Add(-3 * time.Hour)
	contribute := func(node, url string, at time.Time) checkKey {
		k := checkKey{job: "j", url: url}
		c.ledger.CreditCapture(node, 100, at)
		c.contribMu.Lock()
		if c.contrib[node] == nil {
			c.contrib[node] = map[checkKey]*contribution{}
		}
		c.contrib[node][k] = &contribution{url: url, docID: "doc-" + url, at: at, checks: c.ledger.OwnChecks(node)}
		c.contribDirty[contribKey{node, k}] = struct{}{}
		c.contribMu.Unlock()
		return k
	}
	unchecked := contribute("unchecked", "http://127.0.0.1/a", t0)
	vested := contribute("checked", "http://127.0.0.1/b", t0)
	c.ledger.OwnCheckPassed("checked")
	c.ledger.OwnCheckPassed("checked")
	recent := contribute("checked", "http://127.0.0.1/c", time.Now().Add(-10*time.Minute))
	restored := contribute("checked", "http://127.0.0.1/d", t0)
	c.contrib["checked"][restored].checks = -1
	if err := c.saveState(ctx); err != nil {
		t.Fatal(err)
	}

	has := func(node string, k checkKey) bool {
		c.contribMu.Lock()
		defer c.contribMu.Unlock()
		return c.contrib[node][k] != nil
	}
	// New counts as the last run: a sweep right after it forgets nothing.
	c.sweepChecks(ctx, time.Now())
	if !has("checked", vested) {
		t.Error("a sweep less than forgetVestedEvery after the start forgot a contribution")
	}
	c.sweepChecks(ctx, time.Now().Add(forgetVestedEvery))
	if !has("unchecked", unchecked) {
		t.Error("a contribution whose credit is in escrow was forgotten")
	}
	if has("checked", vested) {
		t.Error("a vested contribution three hours old is still tracked")
	}
	if !has("checked", recent) {
		t.Error("a contribution younger than the vesting period was forgotten")
	}
	if !has("checked", restored) {
		t.Error("a contribution restored without its own-check count was forgotten at once")
	}
	saved, err := loadContributions(ctx, c.frontier)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range saved {
		got[s.key.peer+" "+s.key.key.url] = true
	}
	if len(saved) != 3 || !got["unchecked "+unchecked.url] || !got["checked "+recent.url] || !got["checked "+restored.url] {
		t.Errorf("saved contributions %v, want the unchecked, the recent and the restored one", got)
	}
	// Two more own checks and the restored one goes too.
	c.ledger.OwnCheckPassed("checked")
	c.ledger.OwnCheckPassed("checked")
	c.sweepChecks(ctx, time.Now().Add(2*forgetVestedEvery))
	if has("checked", restored) {
		t.Error("the restored contribution is still tracked after RetainChecks own checks")
	}
}
