package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/schemas"
)

// With a budget that holds k < 6 first reservations, six concurrent
// fetches of six hosts never have more than k requests in flight: the
// others wait for memory (back-pressure, not failure), every reservation is
// released, and the reserved bytes never pass the budget.
func TestMemoryBudgetBoundsConcurrentFetches(t *testing.T) {
	const maxBody = 1 << 20
	w := pageReserve(maxBody, &url.URL{Path: "/page"})
	budget := siteReserve(8) + fetchReserve(maxBody) + w/2
	k := int((budget - siteReserve(8)) / w)
	if k < 1 || k >= 6 {
		t.Fatalf("budget holds %d first reservations; the test needs 1 to 5", k)
	}
	var inflight, peak atomic.Int32
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/page" {
			http.NotFound(w, r)
			return
		}
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<html><body>%s<a href="/x">x</a></body></html>`, strings.Repeat("p", 10000))
	}))
	defer srv.Close()
	defer open() // before Close, so a failed test does not hang
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	var hosts []string
	f := newTestFetcher(t, func(c *Config) {
		c.MaxBodyBytes = maxBody
		c.MaxConcurrency = 8
		c.MemoryBudgetBytes = budget
		r := c.resolver.(fakeResolver)
		for i := range 6 {
			h := fmt.Sprintf("h%d.test", i)
			r[h] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
			hosts = append(hosts, h)
		}
	})
	limit := budget - siteReserve(8)

	var wg sync.WaitGroup
	caps := make([]*schemas.Capture, len(hosts))
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			caps[i] = fetch(t, f, fmt.Sprintf("http://%s:%s/page", h, port))
		}()
	}
	testutil.Eventually(t, 10*time.Second, "k fetches in flight and the others waiting for memory", func() bool {
		m := f.MemoryStats()
		return inflight.Load() == int32(k) && m.Waiting == int64(6-k)
	})
	// Hold them a while: no third request may start.
	time.Sleep(100 * time.Millisecond)
	if m := f.MemoryStats(); m.Reserved != int64(k)*w || m.Reserved > limit {
		t.Errorf("reserved %d with %d fetches in flight, want %d (limit %d)", m.Reserved, k, int64(k)*w, limit)
	}
	open()
	wg.Wait()
	for i, c := range caps {
		if c.Error != "" || c.Status != 200 {
			t.Errorf("fetch %d: error %q status %d; a full budget must make fetches wait, not fail", i, c.Error, c.Status)
		}
	}
	if p := peak.Load(); p != int32(k) {
		t.Errorf("peak requests in flight %d, want %d (what the budget holds)", p, k)
	}
	m := f.MemoryStats()
	if m.Reserved != 0 || m.Waiting != 0 {
		t.Errorf("after every fetch returned: %+v, want nothing reserved or waiting", m)
	}
	// The peak is two reservations, plus a finished capture or two that
	// had shrunk but not yet been released when another fetch started.
	if m.Peak > limit || m.Peak < int64(k)*w {
		t.Errorf("peak reserved %d, want between %d and the limit %d", m.Peak, int64(k)*w, limit)
	}
	if m.Budget != budget {
		t.Errorf("budget reported %d, want %d", m.Budget, budget)
	}
}

// FetchHeld keeps exactly the capture's bytes (body, outlinks) reserved
// until release; Fetch releases at once. A fetch waiting for memory ends
// when its context does.
func TestFetchHeldCountsCaptureUntilReleased(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<html><body>hello <a href="/a">a</a><a href="/b">b</a></body></html>`)
	}))
	defer srv.Close()
	f := newTestFetcher(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, release := f.FetchHeld(ctx, schemas.LeaseItem{JobID: "j", URL: srv.URL + "/"}, schemas.HostBudget{})
	if c.Error != "" || len(c.Outlinks) != 2 {
		t.Fatalf("capture: error %q, outlinks %q", c.Error, c.Outlinks)
	}
	want := int64(len(c.Body) + len(c.Outlinks[0]) + len(c.Outlinks[1]))
	if got := f.MemoryStats().Reserved; got != want {
		t.Errorf("held capture reserves %d bytes, want its body and outlinks, %d", got, want)
	}
	if st := NewDashboard(f, "peer").Status(); st.Memory.Reserved != want || st.Memory.Budget != f.Config().MemoryBudgetBytes {
		t.Errorf("dashboard memory %+v, want %d reserved of %d", st.Memory, want, f.Config().MemoryBudgetBytes)
	}
	var text strings.Builder
	st := NewDashboard(f, "peer").Status()
	if err := st.WriteText(&text); err != nil || !strings.Contains(text.String(), "memory ") {
		t.Errorf("status text lacks the memory line: %q", text.String())
	}
	release()
	release()
	if got := f.MemoryStats().Reserved; got != 0 {
		t.Errorf("after release: %d bytes reserved", got)
	}
	if c := fetch(t, f, srv.URL+"/"); c.Error != "" || f.MemoryStats().Reserved != 0 {
		t.Errorf("Fetch: error %q, %d bytes left reserved", c.Error, f.MemoryStats().Reserved)
	}

	// Fill the budget by hand: a fetch then waits, and its context ends it.
	all, err := f.mem.reserve(ctx, f.mem.limit)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	c2 := f.Fetch(short, schemas.LeaseItem{JobID: "j", URL: srv.URL + "/again"}, schemas.HostBudget{})
	if !strings.HasPrefix(c2.Error, "canceled:") {
		t.Errorf("fetch with the budget full: error %q, want canceled after waiting", c2.Error)
	}
	all.release()
	if c := fetch(t, f, srv.URL+"/again"); c.Error != "" {
		t.Errorf("after the budget freed: %q", c.Error)
	}
	if m := f.MemoryStats(); m.Reserved != 0 || m.Waiting != 0 {
		t.Errorf("at rest: %+v", m)
	}
}

// A windows-1252 body at the cap decodes to more UTF-8 bytes than were
// read; the capture keeps at most MaxBodyBytes, cut at a character
// boundary, and says it was truncated.
func TestDecodedBodyStaysUnderCap(t *testing.T) {
	const maxBody = 64 << 10
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=windows-1252")
		body := []byte("<html><body>")
		for len(body) < maxBody {
			body = append(body, 0x80, 'e', 0xe9) // €e é: 3 + 1 + 2 UTF-8 bytes
		}
		_, _ = w.Write(body[:maxBody])
	}))
	defer srv.Close()
	f := newTestFetcher(t, func(c *Config) { c.MaxBodyBytes = maxBody })
	c := fetch(t, f, srv.URL+"/")
	if c.Error != "" {
		t.Fatal(c.Error)
	}
	if len(c.Body) > maxBody || !c.Truncated || !utf8.Valid(c.Body) || c.BodySize != int64(len(c.Body)) || c.BodySHA256 != schemas.SHA256Hex(c.Body) {
		t.Errorf("body %d bytes (cap %d), truncated %v, valid UTF-8 %v", len(c.Body), maxBody, c.Truncated, utf8.Valid(c.Body))
	}
	if len(c.Body) < maxBody-3 {
		t.Errorf("body cut to %d bytes, want the cap less at most one character", len(c.Body))
	}
}

func TestMemoryBudgetConfig(t *testing.T) {
	var c Config
	c.Default()
	if want := defaultMemoryBudget(c.MaxBodyBytes, c.MaxConcurrency); c.MemoryBudgetBytes != want || want < DefaultMemoryBudget {
		t.Errorf("default budget %d, want %d (at least %d)", c.MemoryBudgetBytes, want, DefaultMemoryBudget)
	}
	c = Config{MaxConcurrency: 1000}
	c.Default()
	if err := c.Validate(); err != nil || c.MemoryBudgetBytes < siteReserve(1000)+2*fetchReserve(c.MaxBodyBytes) {
		t.Errorf("default budget at concurrency 1000: %d, %v; want room for two fetches", c.MemoryBudgetBytes, err)
	}
	c = Config{MemoryBudgetBytes: 8 << 20}
	c.Default()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "raise the memory budget") {
		t.Errorf("8 MiB budget with 10 MiB bodies: %v, want an error saying what to raise", err)
	}
	dir := t.TempDir()
	writeFile(t, dir+"/n.yaml", "memory_budget: 300MiB\n")
	fc, err := LoadConfigFile(dir + "/n.yaml")
	if err != nil || fc.MemoryBudgetBytes != 300<<20 {
		t.Errorf("file: %d, %v", fc.MemoryBudgetBytes, err)
	}
	fs := pflag.NewFlagSet("node", pflag.ContinueOnError)
	fl := AddFlags(fs)
	if err := fs.Parse([]string{"--memory-budget=128MiB"}); err != nil {
		t.Fatal(err)
	}
	if err := fl.Apply(&fc); err != nil || fc.MemoryBudgetBytes != 128<<20 {
		t.Errorf("flag: %d, %v", fc.MemoryBudgetBytes, err)
	}
}

// A grow waits while the budget is full and ends with its context; when
// every reading fetch waits to grow and nothing else is held, the newest
// grow is refused (no deadlock) and the older one is served once the
// refused fetch gives its share back. Used never passes the limit.
func TestMemHoldGrowWaitsCancelsAndNeverDeadlocks(t *testing.T) {
	b := newMemBudget(100)
	ctx := context.Background()
	h1, err := b.reserve(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := b.reserve(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := h2.growTo(short, 50); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("grow past a full budget: %v, want to wait until the deadline", err)
	}
	if got := b.stat.Load(); got != 90 || h2.size() != 30 {
		t.Errorf("after a cancelled grow: used %d, hold %d; want 90 and 30", got, h2.size())
	}
	done := make(chan error, 1)
	go func() { done <- h1.growTo(ctx, 80) }()
	testutil.Eventually(t, 5*time.Second, "h1 waiting to grow", func() bool { return b.waiting.Load() == 1 })
	if err := h2.growTo(ctx, 40); !errors.Is(err, errMemoryCut) {
		t.Errorf("second grow with every reader waiting: %v, want errMemoryCut", err)
	}
	h2.release()
	if err := <-done; err != nil || h1.size() != 80 {
		t.Errorf("older grow after the refused fetch released: %v, hold %d", err, h1.size())
	}
	if p := b.peak.Load(); p > b.limit {
		t.Errorf("peak %d over the limit %d", p, b.limit)
	}
	h1.release()
	if b.stat.Load() != 0 || b.reading != 0 || b.readingN != 0 {
		t.Errorf("at rest: used %d, reading %d (%d bytes)", b.stat.Load(), b.reading, b.readingN)
	}
}

// An uncompressed body with a Content-Length reserves that, not the cap; a
// body without one keeps the worst case; a lying Content-Length smaller
// than the body gets no more than it announced, and the reservation never
// passes the cap.
func TestReservationFollowsContentLength(t *testing.T) {
	body := strings.Repeat("x", 300<<10)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var peakSeen atomic.Int64
	var f *Fetcher
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				buf := make([]byte, 4096)
				n, _ := conn.Read(buf)
				req := string(buf[:n])
				peakSeen.Store(max(peakSeen.Load(), f.MemoryStats().Reserved))
				switch {
				case strings.HasPrefix(req, "GET /robots.txt"):
					fmt.Fprint(conn, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				case strings.HasPrefix(req, "GET /cl "):
					fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
				case strings.HasPrefix(req, "GET /liar "):
					fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n%s", body)
				default: // no Content-Length: the body ends with the connection
					fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n%s", body)
				}
			}()
		}
	}()
	const maxBody = 1 << 20
	f = newTestFetcher(t, func(c *Config) { c.MaxBodyBytes = maxBody })
	base := "http://" + ln.Addr().String()
	u, _ := url.Parse(base + "/cl")
	for _, tc := range []struct {
		path    string
		bodyLen int
	}{{"/cl", len(body)}, {"/liar", 1000}, {"/none", len(body)}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st := &reqState{limit: maxBody}
		hold, err := f.mem.reserve(ctx, pageReserve(maxBody, u))
		if err != nil {
			t.Fatal(err)
		}
		st.mem, st.links = hold, linkAllowance(u)
		st.covered.Store(maxBody)
		req, _ := http.NewRequestWithContext(withState(ctx, st), http.MethodGet, base+tc.path, nil)
		resp, err := f.transport.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if err != nil || len(got) != tc.bodyLen {
			t.Errorf("%s: read %d bytes, %v; want %d", tc.path, len(got), err, tc.bodyLen)
		}
		wantHold := pageReserve(maxBody, u)
		if tc.path != "/none" {
			wantHold = linkAllowance(u) + bodyReserve(max(int64(tc.bodyLen), bodyStep))
		}
		if h := hold.size(); h != wantHold || h > pageReserve(maxBody, u) {
			t.Errorf("%s: reservation %d after the body, want %d (cap %d)", tc.path, h, wantHold, pageReserve(maxBody, u))
		}
		hold.release()
	}
	if m := f.MemoryStats(); m.Reserved != 0 || m.Peak > f.mem.limit {
		t.Errorf("at rest: %+v (limit %d)", m, f.mem.limit)
	}
}
