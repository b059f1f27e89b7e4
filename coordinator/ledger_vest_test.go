package coordinator

import (
	"testing"
	"time"
)

// TestVestingNeedsOwnChecks: a credit vests only once its vesting period
// passed and VestChecks of the node's own captures passed a check after
// it; a confirmed lie before then forfeits it, however old it is.
func TestVestingNeedsOwnChecks(t *testing.T) {
	l := NewLedger()
	l.SetVesting(time.Hour)
	l.SetVestChecks(3)
	t0 := time.Now()
	l.CreditCapture("p", 0, t0)
	later := t0.Add(2 * time.Hour)
	for i := 0; i < 3; i++ {
		if st := l.Statement("p", later); st.Vested != 0 || st.Escrow != PagePoints(0) {
			t.Fatalf("after %d own checks: vested %.1f escrow %.1f, want all in escrow", i, st.Vested, st.Escrow)
		}
		l.OwnCheckPassed("p")
	}
	if st := l.Statement("p", t0.Add(time.Minute)); st.Vested != 0 {
		t.Errorf("vested before its period: %+v", st)
	}
	if st := l.Statement("p", later); st.Vested != PagePoints(0) || st.Escrow != 0 {
		t.Errorf("three own checks and the period passed: %+v, want vested", st)
	}
	// A second credit after those checks needs three more; caught
	// before, the node forfeits it (and keeps the vested first).
	l.CreditCapture("p", 0, t0)
	l.OwnCheckPassed("p")
	f := l.ForfeitUnvested("p", later)
	if f.Pages != 1 {
		t.Errorf("forfeited %d pages, want the 1 unvested", f.Pages)
	}
	if st := l.Statement("p", later); st.Points != PagePoints(0) || st.Vested != PagePoints(0) {
		t.Errorf("after the forfeit: %+v, want the vested point kept", st)
	}
	// Negative VestChecks: time alone vests.
	l2 := NewLedger()
	l2.SetVesting(time.Hour)
	l2.SetVestChecks(-1)
	l2.CreditCapture("q", 0, t0)
	if st := l2.Statement("q", later); st.Vested != PagePoints(0) {
		t.Errorf("without vest checks: %+v", st)
	}
}
