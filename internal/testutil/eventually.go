// Package testutil holds helpers shared by the tests of several packages.
// It is imported from _test.go files only.
package testutil

import (
	"io"
	"strings"
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

// LogWriter is an io.Writer that logs each write with t.Log (a trailing
// newline dropped), so that progress output of the code under test shows
// with the test's failure (or under -v) and nowhere else. Use it only
// while the test runs.
func LogWriter(t testing.TB) io.Writer { return logWriter{t} }

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
