package testutil

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestEventuallyReturnsOnceTrue(t *testing.T) {
	var n atomic.Int32
	start := time.Now()
	Eventually(t, 5*time.Second, "third poll", func() bool { return n.Add(1) >= 3 })
	if got := n.Load(); got != 3 {
		t.Errorf("polled %d times, want 3", got)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v for three polls", d)
	}
}

// fakeTB records a Fatalf instead of stopping the test.
type fakeTB struct {
	testing.TB
	failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = format
	panic(f)
}

func TestEventuallyFailsAtTimeout(t *testing.T) {
	ft := &fakeTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != any(ft) {
				panic(r)
			}
		}()
		Eventually(ft, 50*time.Millisecond, "never", func() bool { return false })
	}()
	if ft.failed == "" {
		t.Fatal("Eventually did not fail on a condition that never holds")
	}
}
