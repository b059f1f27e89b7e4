package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

// bytesSite serves n bytes of text at every path but robots.txt.
func bytesSite(t *testing.T, n int, inflight *atomic.Int32, peak *atomic.Int32) *httptest.Server {
	t.Helper()
	body := strings.Repeat("x", n)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && !strings.HasPrefix(r.URL.Path, "/p") {
			w.WriteHeader(404)
			return
		}
		if inflight != nil {
			cur := inflight.Add(1)
			defer inflight.Add(-1)
			for {
				p := peak.Load()
				if cur <= p || peak.CompareAndSwap(p, cur) {
					break
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestPauseResume(t *testing.T) {
	srv := bytesSite(t, 10, nil, nil)
	f := newTestFetcher(t, nil)
	f.Pause()
	if !f.Paused() || f.State() != GatePaused {
		t.Fatalf("not paused: %v %s", f.Paused(), f.State())
	}
	done := make(chan *schemas.Capture, 1)
	go func() {
		done <- f.Fetch(context.Background(), schemas.LeaseItem{URL: srv.URL + "/p"}, schemas.HostBudget{})
	}()
	select {
	case c := <-done:
		t.Fatalf("fetch ran while paused: %+v", c)
	case <-time.After(200 * time.Millisecond):
	}
	f.Resume()
	select {
	case c := <-done:
		if c.Error != "" {
			t.Fatalf("after resume: %q", c.Error)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("fetch did not resume")
	}
	// ctx cancels a paused fetch.
	f.Pause()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c := f.Fetch(ctx, schemas.LeaseItem{URL: srv.URL + "/p"}, schemas.HostBudget{})
	wantErrPrefix(t, c, "canceled:")
}

func TestMonthlyCapPersists(t *testing.T) {
	srv := bytesSite(t, 20000, nil, nil)
	dir := t.TempDir()
	f := newTestFetcher(t, func(c *Config) { c.DataDir = dir; c.MonthlyCapBytes = 30000 })
	if c := fetch(t, f, srv.URL+"/p1"); c.Error != "" {
		t.Fatalf("first: %q", c.Error)
	}
	if c := fetch(t, f, srv.URL+"/p2"); c.Error != "" {
		t.Fatalf("second (starts under the cap): %q", c.Error)
	}
	if f.State() != GateMonthlyCap {
		t.Fatalf("state %s, want %s", f.State(), GateMonthlyCap)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	wantErrPrefix(t, f.Fetch(ctx, schemas.LeaseItem{URL: srv.URL + "/p3"}, schemas.HostBudget{}), "canceled:")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var u usageFile
	b, err := os.ReadFile(filepath.Join(dir, "usage.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &u); err != nil || u.Bytes < 40000 || u.Month != monthOf(time.Now()) {
		t.Fatalf("usage file %s: %v", b, err)
	}
	// A restarted node remembers the month's usage.
	f2 := newTestFetcher(t, func(c *Config) { c.DataDir = dir; c.MonthlyCapBytes = 30000 })
	if f2.State() != GateMonthlyCap {
		t.Fatalf("restarted state %s, want %s", f2.State(), GateMonthlyCap)
	}
	// A corrupt usage file is an error that says how to recover.
	if err := os.WriteFile(filepath.Join(dir, "usage.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFetcher(Config{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "delete the file") {
		t.Fatalf("corrupt usage: %v", err)
	}
}

func TestBandwidthCap(t *testing.T) {
	srv := bytesSite(t, 96<<10, nil, nil)
	f := newTestFetcher(t, func(c *Config) { c.BandwidthBytesPerSec = 64 << 10 })
	start := time.Now()
	c := fetch(t, f, srv.URL+"/p")
	if c.Error != "" || c.BodySize != 96<<10 {
		t.Fatalf("%q %d", c.Error, c.BodySize)
	}
	// 96 KiB at 64 KiB/s with a 16 KiB burst takes at least ~1.2 s.
	if el := time.Since(start); el < time.Second {
		t.Errorf("96 KiB at 64 KiB/s took only %s", el)
	}
}

func TestConcurrencyLimits(t *testing.T) {
	var inflight, peak atomic.Int32
	var sites []*httptest.Server
	for range 4 {
		sites = append(sites, bytesSite(t, 10, &inflight, &peak))
	}
	f := newTestFetcher(t, func(c *Config) { c.MaxConcurrency = 2 })
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := sites[i%len(sites)]
			c := f.Fetch(context.Background(), schemas.LeaseItem{URL: fmt.Sprintf("%s/p%d", s.URL, i)}, schemas.HostBudget{MaxConcurrency: 4})
			if c.Error != "" {
				t.Errorf("fetch: %q", c.Error)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 2 || p < 1 {
		t.Errorf("peak concurrency %d, want <= MaxConcurrency 2", p)
	}

	// One host, default budget: one request at a time.
	inflight.Store(0)
	peak.Store(0)
	f2 := newTestFetcher(t, func(c *Config) { c.MaxConcurrency = 8 })
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f2.Fetch(context.Background(), schemas.LeaseItem{URL: fmt.Sprintf("%s/p%d", sites[0].URL, i)}, schemas.HostBudget{})
		}()
	}
	wg.Wait()
	if p := peak.Load(); p != 1 {
		t.Errorf("one host peak concurrency %d, want 1", p)
	}
}

func TestBlocklistAndURLChecks(t *testing.T) {
	f := newTestFetcher(t, func(c *Config) { c.Blocklist = []string{"Blocked.Example", "*.evil.test"} })
	tests := []struct{ url, want string }{
		{"http://blocked.example/x", "blocklist: blocked.example"},
		{"http://a.b.evil.test/", "blocklist: a.b.evil.test"},
		{"ftp://x.example/", "scheme:"},
		{"http://user:pw@x.example/", "bad-url: URL carries credentials"},
		{"http://10.1.2.3/", "ssrf: 10.1.2.3 is private"},
		{"http://100.64.0.1/", "ssrf: 100.64.0.1 is cgnat"},
		{"http://[fd00:ec2::254]/", "ssrf: fd00:ec2::254 is cloud-metadata"},
		{"http://metadata.test/", "ssrf: 169.254.169.254 is cloud-metadata"},
		{"http://unknown.test/", "robots: robots.txt unreachable: dns:"},
		{"::not a url", "bad-url:"},
	}
	for _, tc := range tests {
		c := fetch(t, f, tc.url)
		if !strings.HasPrefix(c.Error, tc.want) {
			t.Errorf("%s: error %q, want prefix %q", tc.url, c.Error, tc.want)
		}
	}
	s := f.Meter().Snapshot(5)
	if s.Errors != int64(len(tests)) || s.Reasons["blocklist"] != 2 || s.Reasons["ssrf"] != 4 {
		t.Errorf("meter: errors %d reasons %v", s.Errors, s.Reasons)
	}
}

func TestActiveHours(t *testing.T) {
	day := func(h, m int) time.Time { return time.Date(2026, 11, 25, h, m, 0, 0, time.UTC) }
	ah, err := ParseActiveHours("22:00-07:00, 12:00-13:00")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at   time.Time
		in   bool
		next time.Time
	}{
		{day(23, 0), true, day(23, 0)},
		{day(6, 59), true, day(6, 59)},
		{day(7, 0), false, day(12, 0)},
		{day(12, 30), true, day(12, 30)},
		{day(13, 0), false, day(22, 0)},
	}
	for _, tc := range tests {
		if got := ah.Contains(tc.at); got != tc.in {
			t.Errorf("Contains(%s) = %v", tc.at.Format("15:04"), got)
		}
		if got := ah.Next(tc.at); !got.Equal(tc.next) {
			t.Errorf("Next(%s) = %s, want %s", tc.at.Format("15:04"), got, tc.next)
		}
	}
	for _, bad := range []string{"7-8", "22:00", "10:00-10:00", "25:00-01:00"} {
		if _, err := ParseActiveHours(bad); err == nil {
			t.Errorf("ParseActiveHours(%q) accepted", bad)
		}
	}
	// A fetcher outside its hours waits.
	now := time.Now()
	closed := fmt.Sprintf("%s-%s", now.Add(2*time.Hour).Format("15:04"), now.Add(3*time.Hour).Format("15:04"))
	f := newTestFetcher(t, func(c *Config) { c.ActiveHours = closed })
	if f.State() != GateOutsideHour {
		t.Fatalf("state %s with hours %s", f.State(), closed)
	}
}

func FuzzParseActiveHours(f *testing.F) {
	f.Add("22:00-07:00, 12:00-13:00", int64(0))
	f.Add("00:00-24:00", int64(86399))
	f.Fuzz(func(t *testing.T, s string, secs int64) {
		ah, err := ParseActiveHours(s)
		if err != nil {
			return
		}
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(secs%(7*86400)) * time.Second)
		next := ah.Next(at)
		if next.Before(at) || !ah.Contains(next) {
			t.Fatalf("Next(%s) = %s is not an active time after it", at, next)
		}
		if next.Sub(at) > 24*time.Hour {
			t.Fatalf("Next(%s) = %s is more than a day away", at, next)
		}
	})
}

func TestRetryAfterAndTransientRetry(t *testing.T) {
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		in       string
		min, max time.Duration
	}{
		{"", 0, 0}, {"5", 5 * time.Second, 5 * time.Second}, {"-3", 0, 0}, {"soon", 0, 0},
		{future, 80 * time.Second, 91 * time.Second}, {"Mon, 01 Jan 2001 00:00:00 GMT", 0, 0},
	}
	for _, tc := range tests {
		if got := retryAfter(tc.in); got < tc.min || got > tc.max {
			t.Errorf("retryAfter(%q) = %s, want %s..%s", tc.in, got, tc.min, tc.max)
		}
	}
	for attempt := range 8 {
		if d := retryDelay(attempt); d <= 0 || d > 30*time.Second {
			t.Errorf("retryDelay(%d) = %s", attempt, d)
		}
	}

	// A connection reset on the first try is retried and succeeds.
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/p" {
			w.WriteHeader(404)
			return
		}
		if hits.Add(1) == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "second time lucky")
	}))
	defer srv.Close()
	f := newTestFetcher(t, nil)
	c := fetch(t, f, srv.URL+"/p")
	if c.Error != "" || string(c.Body) != "second time lucky" || hits.Load() != 2 {
		t.Errorf("transient retry: %q %q hits %d", c.Error, c.Body, hits.Load())
	}
}

func TestSiteCacheSingleFlightAndHostPruning(t *testing.T) {
	c := newSiteCache()
	var loads atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			info, err := c.get(context.Background(), "http://a", func(context.Context) (siteInfo, time.Duration, error) {
				loads.Add(1)
				time.Sleep(20 * time.Millisecond)
				return siteInfo{robots: RobotsAllowAll()}, time.Hour, nil
			})
			if err != nil || info.robots == nil {
				t.Errorf("get: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Errorf("%d loads for one origin, want 1", n)
	}
	// A failed load is not cached; an expired one is reloaded.
	fail := func(context.Context) (siteInfo, time.Duration, error) {
		return siteInfo{}, 0, failf(ReasonPoliteness, "not due")
	}
	if _, err := c.get(context.Background(), "http://b", fail); err == nil {
		t.Error("failed load returned no error")
	}
	ok := func(context.Context) (siteInfo, time.Duration, error) {
		loads.Add(1)
		return siteInfo{robots: RobotsAllowAll()}, -time.Second, nil
	}
	before := loads.Load()
	for range 2 {
		if _, err := c.get(context.Background(), "http://b", ok); err != nil {
			t.Fatal(err)
		}
	}
	if n := loads.Load() - before; n != 2 {
		t.Errorf("expired entry reloaded %d times, want 2", n)
	}

	hs := newHosts()
	h := hs.get("x:80")
	hs.put(h)
	h.mu.Lock()
	h.lastUse = time.Now().Add(-time.Hour)
	h.mu.Unlock()
	held := hs.get("y:80")
	hs.mu.Lock()
	hs.pruneLocked(time.Now())
	hs.mu.Unlock()
	if hs.size() != 1 {
		t.Errorf("%d hosts after pruning, want only the held one", hs.size())
	}
	hs.put(held)
}
