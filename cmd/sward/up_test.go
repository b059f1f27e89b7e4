package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/swardnet/sward/internal/testutil"
)

// TestUpRestartResumes: `sward up --data DIR` run again on the same
// directory resumes the job; with nothing left to fetch it prints the
// dataset's latest version (it used to fail with "nothing to publish") and
// keeps the network up until stopped.
func TestUpRestartResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo three times")
	}
	dir := t.TempDir()
	o := upOptions{
		dataDir: dir, nodes: 2, sitePort: 0, siteHosts: 2, sitePages: 8,
		maxDepth: 3, maxPages: 200, apiAddr: "127.0.0.1:0",
		exitWhenDone: true, hostDelay: 10 * time.Millisecond,
	}
	version := regexp.MustCompile(`dataset version (\S+)`)
	run := func(o upOptions) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out := &testutil.SyncBuffer{}
		if err := runUp(ctx, o, out); err != nil {
			t.Fatalf("sward up: %v\n%s", err, out.String())
		}
		return out.String()
	}
	first := run(o)
	m := version.FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("first run printed no version:\n%s", first)
	}
	second := run(o)
	if !strings.Contains(second, "resuming job demo") || !strings.Contains(second, "nothing new since the last run: dataset version "+m[1]) {
		t.Fatalf("second run did not resume and name version %s:\n%s", m[1], second)
	}

	// Without --exit, the restarted network stays up until Ctrl-C.
	o.exitWhenDone = false
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testutil.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- runUp(ctx, o, out) }()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "serving the dataset") {
		select {
		case err := <-done:
			t.Fatalf("third run returned before Ctrl-C: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("third run never reached serving:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("network went down by itself: %v", err)
	case <-time.After(2 * time.Second):
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("stop: %v", err)
	}
}
