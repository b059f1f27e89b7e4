// Package testutil holds helpers shared by the tests of several packages.
// It is imported from _test.go files only.
package testutil

import (
	"testing"
	"time"
)

// Eventually polls cond every 10 ms (then less often, up to every 100 ms)
// until it returns true, and fails the test with what when timeout passes
// first. what names the awaited state, e.g. "node to connect".
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(wait)
		if wait < 100*time.Millisecond {
			wait += wait / 2
		}
	}
}
