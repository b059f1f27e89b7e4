package network

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/schemas"
)

// quietLogger keeps test output readable; set SWARD_TEST_LOG=1 to see logs.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testConfig is a loopback-only config with fast presence for tests.
func testConfig() Config {
	return Config{
		ListenAddrs:      []string{"/ip4/127.0.0.1/tcp/0"},
		PresenceInterval: 200 * time.Millisecond,
		PresenceTTL:      time.Second,
		LeaseTimeout:     2 * time.Second,
		Logger:           quietLogger(),
	}
}

// newTestHost starts a host that the test closes.
func newTestHost(t testing.TB, cfg Config) *Host {
	t.Helper()
	h, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("starting host: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

var captureSeq atomic.Int64

// newCapture returns a valid capture of url signed by key.
func newCapture(t testing.TB, key crypto.PrivKey, url string) *schemas.Capture {
	t.Helper()
	body := []byte(fmt.Sprintf("<html><body>page %s #%d</body></html>", url, captureSeq.Add(1)))
	c := &schemas.Capture{
		Version:     schemas.CaptureVersion,
		JobID:       "job-1",
		URL:         url,
		Depth:       1,
		Status:      200,
		Headers:     map[string]string{"Content-Type": "text/html"},
		ContentType: "text/html",
		Body:        body,
		BodySize:    int64(len(body)),
		BodySHA256:  schemas.SHA256Hex(body),
		Outlinks:    []string{"http://127.0.0.1/a", "http://127.0.0.1/b"},
		FetchedAt:   time.Now().UTC(),
	}
	if key != nil {
		if err := SignCapture(key, c); err != nil {
			t.Fatalf("signing capture: %v", err)
		}
	}
	return c
}

// collect reads captures from ch for d and counts them by URL.
func collect(ch <-chan *schemas.Capture, d time.Duration) map[string]int {
	got := map[string]int{}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				return got
			}
			got[c.URL]++
		case <-timer.C:
			return got
		}
	}
}

// waitCapture reads from ch until a capture of url arrives, counting what
// else arrived on the way.
func waitCapture(t testing.TB, ch <-chan *schemas.Capture, url string, timeout time.Duration) map[string]int {
	t.Helper()
	got := map[string]int{}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatalf("subscription closed while waiting for %s", url)
			}
			got[c.URL]++
			if c.URL == url {
				return got
			}
		case <-timer.C:
			t.Fatalf("capture %s not received within %s (got %v)", url, timeout, got)
		}
	}
}

func mustAddrInfo(t testing.TB, addr string) *peer.AddrInfo {
	t.Helper()
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		t.Fatal(err)
	}
	return ai
}

// collectUntil reads from ch until every URL in want has arrived (or the
// timeout passes), then a little longer to catch duplicates, and returns
// the counts by URL.
func collectUntil(ch <-chan *schemas.Capture, want map[string]int, timeout time.Duration) map[string]int {
	got := map[string]int{}
	complete := func() bool {
		for k := range want {
			if got[k] == 0 {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(timeout)
	for !complete() && time.Now().Before(deadline) {
		for k, v := range collect(ch, 50*time.Millisecond) {
			got[k] += v
		}
	}
	for k, v := range collect(ch, 300*time.Millisecond) {
		got[k] += v
	}
	return got
}
