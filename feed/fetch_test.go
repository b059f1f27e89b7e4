package feed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

// getFetcher is a test LiveFetcher that does a plain GET and builds a
// Document, standing in for a network node plus the pipeline.
type getFetcher struct {
	client *http.Client
	calls  atomic.Int64
}

func (g *getFetcher) FetchURL(ctx context.Context, rawURL string) (*schemas.Document, error) {
	g.calls.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: status %d", ErrUnreachable, resp.StatusCode)
	}
	u, _ := url.Parse(rawURL)
	sum := sha256.Sum256(body)
	text := string(body)
	md := text
	now := time.Now().UTC()
	return &schemas.Document{
		ID: hex.EncodeToString(sum[:8]) + fmt.Sprint(now.UnixNano()), URL: rawURL, Text: text, Markdown: &md,
		Host: u.Hostname(), FetchedAt: now, Date: now.Format(time.RFC3339), Language: "en",
		ContentSHA256: hex.EncodeToString(sum[:]), CaptureCID: "bafkreitest", NodePeerID: "12D3KooWlocal",
	}, nil
}

func TestFetchCache(t *testing.T) {
	const u = "https://docs.example.com/page"
	fresh := mkDoc("fresh", u, "Page", "cached text", time.Now().UTC().Add(-10*time.Minute))
	live := mkDoc("live", u, "Page", "live text", time.Now().UTC())
	var calls atomic.Int64
	ok := fakeFetcher{fetch: func(ctx context.Context, url string) (*schemas.Document, error) {
		calls.Add(1)
		d := live
		return &d, nil
	}}
	fail := func(err error) fakeFetcher {
		return fakeFetcher{fetch: func(ctx context.Context, url string) (*schemas.Document, error) {
			calls.Add(1)
			return nil, err
		}}
	}
	slow := fakeFetcher{fetch: func(ctx context.Context, url string) (*schemas.Document, error) {
		calls.Add(1)
		<-ctx.Done()
		return nil, fmt.Errorf("waiting for a node: %w", ctx.Err())
	}}
	age := func(s int64) *int64 { return &s }

	tests := []struct {
		name      string
		fetcher   LiveFetcher
		cached    bool
		req       FetchRequest
		code      int
		cache     string
		content   string
		calls     int64
		errSubstr string
	}{
		{"fresh cache is returned at once", ok, true, FetchRequest{URL: u, MaxAge: age(3600)}, 200, CacheHit, "# Page\n\ncached text", 0, ""},
		{"fresh cache as text", ok, true, FetchRequest{URL: u, MaxAge: age(3600), Format: "text"}, 200, CacheHit, "cached text", 0, ""},
		{"default max age is an hour", ok, true, FetchRequest{URL: u}, 200, CacheHit, "# Page\n\ncached text", 0, ""},
		{"stale cache goes live", ok, true, FetchRequest{URL: u, MaxAge: age(60)}, 200, CacheMiss, "# Page\n\nlive text", 1, ""},
		{"max_age 0 forces live", ok, true, FetchRequest{URL: u, MaxAge: age(0)}, 200, CacheMiss, "# Page\n\nlive text", 1, ""},
		{"uncached goes live", ok, false, FetchRequest{URL: u}, 200, CacheMiss, "# Page\n\nlive text", 1, ""},
		{"unreachable is 502", fail(fmt.Errorf("dial: %w", ErrUnreachable)), false, FetchRequest{URL: u}, 502, "", "", 1, "page unreachable"},
		{"robots refusal is 403", fail(fmt.Errorf("robots.txt disallows: %w", ErrRefused)), false, FetchRequest{URL: u}, 403, "", "", 1, "refused"},
		{"timeout is 504", slow, false, FetchRequest{URL: u}, 504, "", "", 1, "timed out"},
		{"standalone with stale cache", nil, true, FetchRequest{URL: u, MaxAge: age(0)}, 200, CacheStale, "# Page\n\ncached text", 0, ""},
		{"standalone without cache is 503", nil, false, FetchRequest{URL: u}, 503, "", "", 0, "sward up"},
		{"bad url", ok, false, FetchRequest{URL: "ftp://x"}, 400, "", "", 0, "http or https"},
		{"bad format", ok, false, FetchRequest{URL: u, Format: "pdf"}, 400, "", "", 0, "format"},
		{"negative max age", ok, false, FetchRequest{URL: u, MaxAge: age(-1)}, 400, "", "", 0, "max_age"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls.Store(0)
			f := newTestFeed(t, Config{Fetcher: tc.fetcher, FetchTimeout: 200 * time.Millisecond})
			if tc.cached {
				if err := f.Add(context.Background(), fresh); err != nil {
					t.Fatal(err)
				}
			}
			srv := newTestServer(t, f)
			var res FetchResponse
			code, e := postJSON(t, srv.Client(), srv.URL+"/v1/fetch", tc.req, &res)
			if code != tc.code {
				t.Fatalf("status %d (%v), want %d", code, e, tc.code)
			}
			if n := calls.Load(); n != tc.calls {
				t.Errorf("fetcher called %d times, want %d", n, tc.calls)
			}
			if tc.errSubstr != "" && !strings.Contains(e["error"], tc.errSubstr) {
				t.Errorf("error %q lacks %q", e["error"], tc.errSubstr)
			}
			if code != 200 {
				return
			}
			if res.Cache != tc.cache || res.Content != tc.content {
				t.Errorf("cache %q content %q, want %q %q", res.Cache, res.Content, tc.cache, tc.content)
			}
			if res.Document == nil || res.Document.ContentSHA256 == "" || res.Document.CaptureCID == "" || res.Document.NodePeerID == "" {
				t.Errorf("no provenance: %+v", res.Document)
			}
			if tc.cache == CacheMiss {
				// The live capture joins the index with its change status.
				r, err := f.Get(context.Background(), "live")
				if err != nil || r == nil {
					t.Fatalf("live capture not indexed: %v", err)
				}
				want := ChangeNew
				if tc.cached {
					want = ChangeChanged
				}
				if r.Change.Status != want || res.Document.Change.Status != want {
					t.Errorf("change %s/%s, want %s", r.Change.Status, res.Document.Change.Status, want)
				}
			}
		})
	}
}

func TestFetchRealLocalPage(t *testing.T) {
	const page = "# Local page\n\nServed on loopback for the live fetch test.\n"
	var hits atomic.Int64
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/page" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/markdown")
		_, _ = io.WriteString(w, page)
	}))
	defer site.Close()
	fetcher := &getFetcher{client: site.Client()}
	f := newTestFeed(t, Config{Fetcher: fetcher})
	srv := newTestServer(t, f)

	var res FetchResponse
	if code, e := postJSON(t, srv.Client(), srv.URL+"/v1/fetch", FetchRequest{URL: site.URL + "/page"}, &res); code != 200 {
		t.Fatalf("status %d: %v", code, e)
	}
	if res.Cache != CacheMiss || res.Content != page {
		t.Errorf("first fetch: cache %s content %q", res.Cache, res.Content)
	}
	sum := sha256.Sum256([]byte(page))
	if res.Document.ContentSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("content sha256 %s does not match the page", res.Document.ContentSHA256)
	}
	// A second request within max_age is served from the index.
	if code, _ := postJSON(t, srv.Client(), srv.URL+"/v1/fetch", FetchRequest{URL: site.URL + "/page"}, &res); code != 200 || res.Cache != CacheHit {
		t.Errorf("second fetch: status %d cache %s", code, res.Cache)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("site hit %d times, want 1", n)
	}
	// And the page is searchable.
	sr, err := f.Search(context.Background(), SearchRequest{Query: "loopback"})
	if err != nil || len(sr.Hits) != 1 {
		t.Fatalf("search after fetch: %v %v", sr, err)
	}
	// A missing page is a clear 502.
	code, e := postJSON(t, srv.Client(), srv.URL+"/v1/fetch", FetchRequest{URL: site.URL + "/missing"}, nil)
	if code != http.StatusBadGateway || !strings.Contains(e["error"], "404") {
		t.Errorf("missing page: %d %v", code, e)
	}
	// An unreachable address (closed port on loopback) is a clear 502.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/x"
	dead.Close()
	code, e = postJSON(t, srv.Client(), srv.URL+"/v1/fetch", FetchRequest{URL: deadURL}, nil)
	if code != http.StatusBadGateway || !strings.Contains(e["error"], "unreachable") {
		t.Errorf("unreachable: %d %v", code, e)
	}
}

func TestFetchErrorMapping(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := fetchError(ctx, "https://x", time.Second, errors.New("boom"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("client gone: %v", err)
	}
}

func TestFetchCoalescesConcurrentRequests(t *testing.T) {
	const u = "https://busy.example.com/"
	release := make(chan struct{})
	var calls atomic.Int64
	f := newTestFeed(t, Config{Fetcher: fakeFetcher{fetch: func(ctx context.Context, url string) (*schemas.Document, error) {
		calls.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		d := mkDoc("busy", u, "Busy", "one fetch for all", time.Now().UTC())
		return &d, nil
	}}})
	const n = 5
	type result struct {
		res *FetchResponse
		err error
	}
	out := make(chan result, n)
	for i := 0; i < n; i++ {
		go func() {
			res, err := f.Fetch(context.Background(), FetchRequest{URL: u})
			out <- result{res, err}
		}()
	}
	// Let every request join the in-flight fetch before it completes.
	deadline := time.Now().Add(2 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	for i := 0; i < n; i++ {
		r := <-out
		if r.err != nil || r.res.Content != "# Busy\n\none fetch for all" {
			t.Errorf("request %d: %v %+v", i, r.err, r.res)
		}
	}
	if c := calls.Load(); c != 1 {
		t.Errorf("fetcher called %d times for %d concurrent requests, want 1", c, n)
	}
	// A caller that gives up does not cancel the shared fetch for others.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Fetch(ctx, FetchRequest{URL: "https://other.example.com/", MaxAge: new(int64)}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
}

func TestFetchRedirectedURLIsCached(t *testing.T) {
	var calls atomic.Int64
	f := newTestFeed(t, Config{Fetcher: fakeFetcher{fetch: func(ctx context.Context, url string) (*schemas.Document, error) {
		calls.Add(1)
		d := mkDoc("final", "https://www.example.com/final", "Final", "after the redirect", time.Now().UTC())
		return &d, nil
	}}})
	for i, want := range []string{CacheMiss, CacheHit} {
		res, err := f.Fetch(context.Background(), FetchRequest{URL: "http://example.com/start"})
		if err != nil || res.Cache != want || res.Document.URL != "https://www.example.com/final" {
			t.Fatalf("fetch %d: %v %+v", i, err, res)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("fetcher called %d times", calls.Load())
	}
}

func TestServeListenerShutsDownWithOpenStreams(t *testing.T) {
	f := newTestFeed(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.ServeListener(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	ch, stop := openFeed(t, base, "", "")
	defer stop()
	mustAdd(t, f, mkDoc("s", "https://s.example.com/", "S", "shutdown", t0))
	nextDoc(t, ch)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeListener: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown blocked by an open SSE stream")
	}
	// The stream ended.
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("SSE stream still open after shutdown")
		}
	}
}
