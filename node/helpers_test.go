package node

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

// fakeResolver answers from a map, so no DNS query ever leaves the test.
type fakeResolver map[string][]netip.Addr

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[strings.ToLower(host)]; ok {
		return a, nil
	}
	return nil, &dnsNotFound{host}
}

type dnsNotFound struct{ host string }

func (e *dnsNotFound) Error() string { return "no such host " + e.host }

// testConfig returns a config for tests: loopback test servers allowed,
// every other private address refused, short timeouts, no host delay.
func testConfig(t *testing.T) Config {
	t.Helper()
	c := Config{
		MinHostDelay:   time.Nanosecond,
		ConnectTimeout: 2 * time.Second,
		HeaderTimeout:  2 * time.Second,
		TotalTimeout:   5 * time.Second,
		MaxRetries:     1,
		DataDir:        t.TempDir(),
		resolver:       fakeResolver{"localhost": {netip.MustParseAddr("127.0.0.1")}, "rebind.test": {netip.MustParseAddr("10.0.0.1")}, "metadata.test": {netip.MustParseAddr("169.254.169.254")}},
	}
	c.allowedTestPrefixes = []string{"127.0.0.0/8"}
	return c
}

func newTestFetcher(t *testing.T, mod func(*Config)) *Fetcher {
	t.Helper()
	c := testConfig(t)
	if mod != nil {
		mod(&c)
	}
	f, err := NewFetcher(c)
	if err != nil {
		t.Fatalf("NewFetcher: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

func fetch(t *testing.T, f *Fetcher, u string) *schemas.Capture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := f.Fetch(ctx, schemas.LeaseItem{JobID: "job1", URL: u, Depth: 1}, schemas.HostBudget{})
	if c == nil {
		t.Fatal("Fetch returned nil")
	}
	return c
}

// goodSite serves a small valid page, for checking the fetcher still works
// after a hostile server.
func goodSite(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<html><body><a href="/next">n</a>ok</body></html>`))
	}))
	t.Cleanup(s.Close)
	return s
}

// assertStillWorks fetches a good page and checks it succeeds.
func assertStillWorks(t *testing.T, f *Fetcher) {
	t.Helper()
	s := goodSite(t)
	c := fetch(t, f, s.URL+"/")
	if c.Error != "" || c.Status != 200 || !strings.Contains(string(c.Body), "ok") {
		t.Fatalf("fetcher broken after hostile server: error=%q status=%d", c.Error, c.Status)
	}
}

func wantErrPrefix(t *testing.T, c *schemas.Capture, prefix string) {
	t.Helper()
	if !strings.HasPrefix(c.Error, prefix) {
		t.Fatalf("capture error = %q, want prefix %q", c.Error, prefix)
	}
}
