package node

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/swardnet/sward/schemas"
)

func TestFetchPage(t *testing.T) {
	latin1 := []byte("<html><head><meta charset=\"iso-8859-1\"><base href=\"/docs/\">" +
		"<meta name=\"robots\" content=\"noindex\"><meta name=\"tdm-reservation\" content=\"0\"></head><body>" +
		"caf\xe9 <a href=\"a.html#frag\">a</a><a href=\"a.html\">dup</a><a href=\"http://other.example/x\">x</a>" +
		"<a rel=\"nofollow\" href=\"/secret\">no</a><a href=\"mailto:x@y\">m</a><a href=\"javascript:1\">j</a></body></html>")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ua := r.Header.Get("User-Agent"); !strings.Contains(ua, "swardbot") {
			t.Errorf("User-Agent %q lacks swardbot", ua)
		}
		if r.Header.Get("Cookie") != "" || r.Header.Get("Authorization") != "" {
			t.Errorf("credentials sent: %v", r.Header)
		}
		switch r.URL.Path {
		case "/robots.txt":
			fmt.Fprint(w, "User-agent: *\nDisallow: /private/\n")
		case "/.well-known/tdmrep.json":
			fmt.Fprint(w, `[{"location":"/reserved/*","tdm-reservation":1,"tdm-policy":"https://p.example/policy"}]`)
		case "/start":
			http.SetCookie(w, &http.Cookie{Name: "s", Value: "1"})
			http.Redirect(w, r, "/page", http.StatusFound)
		case "/page":
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("X-Robots-Tag", "otherbot: noai")
			w.Header().Add("X-Robots-Tag", "swardbot: noai")
			w.Header().Set("Content-Usage", "train-ai=n")
			w.Header().Set("Etag", `"v1"`)
			w.Header().Set("Set-Cookie", "not=kept")
			_, _ = w.Write(latin1)
		case "/reserved/page":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Tdm-Reservation", "0")
			fmt.Fprint(w, "plain")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	f := newTestFetcher(t, nil)

	c := fetch(t, f, srv.URL+"/start")
	if c.Error != "" {
		t.Fatalf("error %q", c.Error)
	}
	if err := (&schemas.Capture{}).Validate(); err == nil {
		t.Fatal("sanity: empty capture validates")
	}
	if c.Version != schemas.CaptureVersion || c.JobID != "job1" || c.Depth != 1 || c.Status != 200 || c.NodePeerID != "" {
		t.Errorf("capture identity fields wrong: %+v", c)
	}
	if c.URL != srv.URL+"/start" || c.FinalURL != srv.URL+"/page" {
		t.Errorf("URL %q FinalURL %q", c.URL, c.FinalURL)
	}
	if !strings.Contains(string(c.Body), "café") || c.Charset != "windows-1252" {
		t.Errorf("body not decoded from latin-1: charset %q body %q", c.Charset, c.Body)
	}
	if c.BodySHA256 != schemas.SHA256Hex(c.Body) || c.BodySize != int64(len(c.Body)) || c.Truncated {
		t.Errorf("hash/size/truncated wrong")
	}
	if c.ContentType != "text/html" || c.Headers["Etag"] != `"v1"` || c.Headers["Set-Cookie"] != "" {
		t.Errorf("headers wrong: %q %v", c.ContentType, c.Headers)
	}
	wantLinks := []string{srv.URL + "/docs/a.html", "http://other.example/x"}
	if fmt.Sprint(c.Outlinks) != fmt.Sprint(wantLinks) {
		t.Errorf("outlinks %v, want %v", c.Outlinks, wantLinks)
	}
	if !c.OptOut.NoAI || !c.OptOut.NoIndex || c.OptOut.TDMReserved || c.OptOut.ContentUsage != "train-ai=n" {
		t.Errorf("opt-out %+v", c.OptOut)
	}
	if c.FetchedAt.IsZero() || c.FetchedAt.Location() != time.UTC {
		t.Errorf("FetchedAt %v", c.FetchedAt)
	}

	// The well-known TDMRep file outranks the page's header.
	c = fetch(t, f, srv.URL+"/reserved/page")
	if c.Error != "" || !c.OptOut.TDMReserved || c.OptOut.TDMPolicy != "https://p.example/policy" || c.ContentType != "text/plain" {
		t.Errorf("reserved page: err %q opt-out %+v", c.Error, c.OptOut)
	}

	c = fetch(t, f, srv.URL+"/private/x")
	wantErrPrefix(t, c, "robots: disallowed by /private/")
	c = fetch(t, f, srv.URL+"/missing")
	if c.Error != "http: 404" || c.Status != 404 {
		t.Errorf("missing: %q %d", c.Error, c.Status)
	}
}

func TestRobotsFetchOutcomes(t *testing.T) {
	huge := strings.Repeat("# padding padding padding padding padding padding\n", (MaxRobotsBytes/50)+100) + "User-agent: *\nDisallow: /\n"
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter)
		wantErr string
	}{
		{"404 allows all", func(w http.ResponseWriter) { w.WriteHeader(404) }, ""},
		{"403 allows all", func(w http.ResponseWriter) { w.WriteHeader(403) }, ""},
		{"500 disallows all", func(w http.ResponseWriter) { w.WriteHeader(500) }, "robots: robots.txt unreachable: http 500"},
		{"503 disallows all", func(w http.ResponseWriter) { w.WriteHeader(503) }, "robots: robots.txt unreachable: http 503"},
		{"garbage allows", func(w http.ResponseWriter) { _, _ = w.Write(bytes.Repeat([]byte{0, 0xff, '\n', ':'}, 5000)) }, ""},
		{"huge: rules past 500 KiB ignored", func(w http.ResponseWriter) { fmt.Fprint(w, huge) }, ""},
		{"disallow", func(w http.ResponseWriter) { fmt.Fprint(w, "User-agent: swardbot\nDisallow: /page\n") }, "robots: disallowed by /page"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/robots.txt" {
					tc.handler(w)
					return
				}
				w.Header().Set("Content-Type", "text/html")
				fmt.Fprint(w, "page")
			}))
			defer srv.Close()
			f := newTestFetcher(t, nil)
			c := fetch(t, f, srv.URL+"/page")
			if tc.wantErr == "" && c.Error != "" {
				t.Fatalf("error %q, want success", c.Error)
			}
			if tc.wantErr != "" {
				wantErrPrefix(t, c, tc.wantErr)
			}
			assertStillWorks(t, f)
		})
	}
}

func TestRobotsRedirectsAndCache(t *testing.T) {
	var robotsHits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/robots"):
			n := 0
			fmt.Sscanf(r.URL.Query().Get("n"), "%d", &n)
			if r.URL.Path == "/robots.txt" {
				robotsHits.Add(1)
			}
			if n < 4 {
				http.Redirect(w, r, fmt.Sprintf("/robots-hop?n=%d", n+1), http.StatusFound)
				return
			}
			fmt.Fprint(w, "User-agent: *\nDisallow: /no\n")
		default:
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, "ok")
		}
	}))
	defer srv.Close()
	f := newTestFetcher(t, nil)
	wantErrPrefix(t, fetch(t, f, srv.URL+"/no"), "robots: disallowed by /no")
	if c := fetch(t, f, srv.URL+"/yes"); c.Error != "" {
		t.Fatalf("yes: %q", c.Error)
	}
	if n := robotsHits.Load(); n != 1 {
		t.Errorf("robots.txt fetched %d times, want 1 (cached)", n)
	}
}

func TestPolitenessCrawlDelay(t *testing.T) {
	var mu sync.Mutex
	var starts []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			fmt.Fprint(w, "User-agent: *\nCrawl-delay: 0.2\n")
			return
		}
		if strings.HasPrefix(r.URL.Path, "/.well-known/") {
			w.WriteHeader(404)
			return
		}
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	f := newTestFetcher(t, func(c *Config) { c.MaxConcurrency = 8 })
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The budget asks for 4 in parallel, but crawl-delay still spaces
			// the starts.
			c := f.Fetch(context.Background(), schemas.LeaseItem{URL: fmt.Sprintf("%s/p%d", srv.URL, i)}, schemas.HostBudget{MaxConcurrency: 1})
			if c.Error != "" {
				t.Errorf("fetch: %q", c.Error)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(starts) != 4 {
		t.Fatalf("%d requests", len(starts))
	}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < 190*time.Millisecond {
			t.Errorf("gap %d = %s, want >= crawl-delay 200ms", i, gap)
		}
	}
}

func TestBackoffOn429(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/p" {
			w.WriteHeader(404)
			return
		}
		if hits.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	f := newTestFetcher(t, nil)
	start := time.Now()
	c := fetch(t, f, srv.URL+"/p")
	if c.Error != "" || c.Status != 200 {
		t.Fatalf("after 429 retry: %q %d", c.Error, c.Status)
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("retried after %s, want the Retry-After second honoured", el)
	}
	// A host that keeps answering 503 ends in an error once retries run out.
	srv503 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			w.WriteHeader(404)
			return
		}
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv503.Close()
	f2 := newTestFetcher(t, func(c *Config) { c.MaxRetryWait = time.Second })
	c = fetch(t, f2, srv503.URL+"/p")
	if c.Error != "http: 503" || c.Headers["Retry-After"] != "3600" {
		t.Errorf("503: %q %v", c.Error, c.Headers)
	}
}

// hijack takes over the raw connection for servers that misbehave below
// HTTP.
func hijack(t *testing.T, w http.ResponseWriter) net.Conn {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return nil
	}
	return conn
}

func TestHostileServers(t *testing.T) {
	// 32 MiB of zeros gzip to ~32 KiB: far past the 4 MiB cap below at
	// ~1000x expansion.
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestSpeed)
	zeros := make([]byte, 1<<20)
	for range 32 {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()

	stop := make(chan struct{})
	defer close(stop)
	var served atomic.Int64
	tests := []struct {
		name    string
		mod     func(*Config)
		handler http.HandlerFunc
		check   func(t *testing.T, c *schemas.Capture)
	}{
		{
			name: "slowloris headers",
			mod:  func(c *Config) { c.HeaderTimeout = 300 * time.Millisecond },
			handler: func(w http.ResponseWriter, r *http.Request) {
				conn := hijack(t, w)
				defer conn.Close()
				_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\n"))
				for i := 0; i < 100; i++ {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					if _, err := conn.Write([]byte("X-Slow: 1\r\n")); err != nil {
						return
					}
				}
			},
			check: func(t *testing.T, c *schemas.Capture) {
				wantErrPrefix(t, c, "timeout: no response headers within 300ms")
			},
		},
		{
			name: "slowloris body",
			mod:  func(c *Config) { c.TotalTimeout = 700 * time.Millisecond },
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(200)
				for {
					if _, err := w.Write([]byte("<")); err != nil {
						return
					}
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
						return
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			},
			check: func(t *testing.T, c *schemas.Capture) { wantErrPrefix(t, c, "timeout: fetch exceeded 700ms total") },
		},
		{
			name: "endless body is truncated",
			mod:  func(c *Config) { c.MaxBodyBytes = 256 << 10 },
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				chunk := bytes.Repeat([]byte("endless "), 4096)
				for {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			},
			check: func(t *testing.T, c *schemas.Capture) {
				if c.Error != "" || !c.Truncated || c.BodySize != 256<<10 {
					t.Errorf("endless: error %q truncated %v size %d", c.Error, c.Truncated, c.BodySize)
				}
			},
		},
		{
			name: "gzip bomb",
			mod:  func(c *Config) { c.MaxBodyBytes = 4 << 20 },
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.Header().Set("Content-Encoding", "gzip")
				_, _ = w.Write(bomb.Bytes())
			},
			check: func(t *testing.T, c *schemas.Capture) {
				wantErrPrefix(t, c, "too-large: decompression bomb")
				if len(c.Body) != 0 {
					t.Errorf("bomb body kept: %d bytes", len(c.Body))
				}
			},
		},
		{
			name: "stacked content-encoding",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.Header().Set("Content-Encoding", "gzip, gzip")
				_, _ = w.Write([]byte("x"))
			},
			check: func(t *testing.T, c *schemas.Capture) { wantErrPrefix(t, c, "content-encoding: stacked") },
		},
		{
			name: "redirect loop",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/a" {
					http.Redirect(w, r, "/b", http.StatusFound)
					return
				}
				http.Redirect(w, r, "/a", http.StatusFound)
			},
			check: func(t *testing.T, c *schemas.Capture) { wantErrPrefix(t, c, "redirect: loop back to") },
		},
		{
			name: "endless redirect chain",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
			},
			check: func(t *testing.T, c *schemas.Capture) { wantErrPrefix(t, c, "redirect: more than 10 redirects") },
		},
		{
			name: "redirect to private address",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://10.0.0.1/admin", http.StatusFound)
			},
			check: func(t *testing.T, c *schemas.Capture) { wantErrPrefix(t, c, "ssrf: 10.0.0.1 is private") },
		},
		{
			name: "redirect to cloud metadata",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
			},
			check: func(t *testing.T, c *schemas.Capture) { wantErrPrefix(t, c, "ssrf: 169.254.169.254 is cloud-metadata") },
		},
		{
			name: "redirect to a name resolving to a private address (rebinding)",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://rebind.test/", http.StatusFound)
			},
			check: func(t *testing.T, c *schemas.Capture) { wantErrPrefix(t, c, "ssrf: 10.0.0.1 is private") },
		},
		{
			name: "redirect to another scheme",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "ftp://example.org/x", http.StatusFound)
			},
			check: func(t *testing.T, c *schemas.Capture) { wantErrPrefix(t, c, "scheme:") },
		},
		{
			name: "1 GB page is streamed, never buffered",
			mod:  func(c *Config) { c.MaxBodyBytes = 1 << 20 },
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.Header().Set("Content-Length", fmt.Sprint(1<<30))
				chunk := bytes.Repeat([]byte("<p>big</p>"), 3277)
				for n := 0; n < 1<<30; n += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						return
					}
					served.Add(int64(len(chunk)))
				}
			},
			check: func(t *testing.T, c *schemas.Capture) {
				if c.Error != "" || !c.Truncated || c.BodySize != 1<<20 {
					t.Errorf("1GB: error %q truncated %v size %d", c.Error, c.Truncated, c.BodySize)
				}
				if n := served.Load(); n > 64<<20 {
					t.Errorf("server pushed %d bytes before the fetcher hung up", n)
				}
			},
		},
		{
			name: "content type not allowed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "image/png")
				_, _ = w.Write([]byte("\x89PNG"))
			},
			check: func(t *testing.T, c *schemas.Capture) { wantErrPrefix(t, c, "content-type: image/png") },
		},
		{
			name: "sniffed binary without content type",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = nil
				_, _ = w.Write([]byte("%PDF-1.4 binary"))
			},
			check: func(t *testing.T, c *schemas.Capture) { wantErrPrefix(t, c, "content-type: application/pdf") },
		},
		{
			name: "malformed HTML",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				fmt.Fprint(w, strings.Repeat("<div><span>", 50000)+`<a href="/deep">x</a><a href="http://[::1">bad</a><a href='/ok'`+"\x00<<<>>></b></i>")
			},
			check: func(t *testing.T, c *schemas.Capture) {
				if c.Error != "" || len(c.Outlinks) == 0 || !strings.HasSuffix(c.Outlinks[0], "/deep") || strings.Contains(fmt.Sprint(c.Outlinks), "[::1") {
					t.Errorf("malformed: %q %v", c.Error, c.Outlinks)
				}
			},
		},
		{
			name: "invalid charset label",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=x-no-such-charset")
				_, _ = w.Write([]byte("<p>na\xefve caf\xe9 r\xe9sum\xe9 \xe0 la fran\xe7aise, tr\xe8s \xe9l\xe9gant</p>"))
			},
			check: func(t *testing.T, c *schemas.Capture) {
				if c.Error != "" || !strings.Contains(string(c.Body), "café") {
					t.Errorf("invalid label: %q charset %q body %q", c.Error, c.Charset, c.Body)
				}
			},
		},
		{
			name: "lying charset: says UTF-8, sends latin-1",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = w.Write([]byte("<p>caf\xe9 cr\xe8me br\xfbl\xe9e, tr\xe8s \xe9l\xe9gant \xe0 la fran\xe7aise</p>"))
			},
			check: func(t *testing.T, c *schemas.Capture) {
				if c.Error != "" || !strings.Contains(string(c.Body), "crème brûlée") || c.Charset == "utf-8" {
					t.Errorf("lying utf-8: charset %q body %q", c.Charset, c.Body)
				}
			},
		},
		{
			name: "lying charset: says latin-1, sends UTF-8",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=iso-8859-1")
				fmt.Fprint(w, "<p>日本語 and café</p>")
			},
			check: func(t *testing.T, c *schemas.Capture) {
				if c.Error != "" || !strings.Contains(string(c.Body), "日本語 and café") || c.Charset != "utf-8" {
					t.Errorf("lying latin-1: charset %q body %q", c.Charset, c.Body)
				}
			},
		},
		{
			name: "connection dropped mid-headers",
			handler: func(w http.ResponseWriter, r *http.Request) {
				conn := hijack(t, w)
				_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Ty"))
				conn.Close()
			},
			check: func(t *testing.T, c *schemas.Capture) { wantErrPrefix(t, c, "network:") },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/robots.txt" {
					w.WriteHeader(404)
					return
				}
				tc.handler(w, r)
			}))
			defer srv.Close()
			f := newTestFetcher(t, tc.mod)
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			c := fetch(t, f, srv.URL+"/a")
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			tc.check(t, c)
			if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 64<<20 {
				t.Errorf("heap grew by %d MiB", grew>>20)
			}
			assertStillWorks(t, f)
		})
	}
}

func TestCrossOriginRedirect(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/robots.txt":
			fmt.Fprint(w, "User-agent: *\nDisallow: /closed\n")
		default:
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, "landed")
		}
	}))
	defer target.Close()
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			w.WriteHeader(404)
			return
		}
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusMovedPermanently)
	}))
	defer src.Close()
	// One global slot: the redirect's robots.txt check must not wait for a
	// second one.
	f := newTestFetcher(t, func(c *Config) { c.MaxConcurrency = 1 })
	c := fetch(t, f, src.URL+"/open")
	if c.Error != "" || string(c.Body) != "landed" || c.FinalURL != target.URL+"/open" {
		t.Fatalf("open: %q %q %q", c.Error, c.Body, c.FinalURL)
	}
	c = fetch(t, f, src.URL+"/closed")
	wantErrPrefix(t, c, "robots: redirect target")
}

func TestHugeCrawlDelayFailsFast(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			fmt.Fprint(w, "User-agent: *\nCrawl-delay: 86400\n")
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	f := newTestFetcher(t, func(c *Config) { c.MaxRetryWait = time.Second })
	start := time.Now()
	c := fetch(t, f, srv.URL+"/p")
	wantErrPrefix(t, c, "politeness: host is not due for another")
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("took %s to give up", el)
	}
	// With a lease deadline closer than the next slot, Fetch returns at once.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f2 := newTestFetcher(t, func(c *Config) { c.MinHostDelay = 30 * time.Second; c.MaxRetryWait = time.Hour })
	if c := f2.Fetch(ctx, schemas.LeaseItem{URL: srv.URL + "/p"}, schemas.HostBudget{}); !strings.HasPrefix(c.Error, "politeness: host is not due") || !strings.Contains(c.Error, "past the deadline") {
		t.Errorf("deadline: %q", c.Error)
	}
}

// TestFetchContentUsageFromRobots checks that Content-Usage rules in
// robots.txt reach the capture's opt-out, for the requested origin and for
// the origin a redirect lands on.
func TestFetchContentUsageFromRobots(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/robots.txt":
			fmt.Fprint(w, "User-agent: *\nContent-Usage: train-ai=n\n")
		case "/page":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html><body><p>moved here</p></body></html>")
		default:
			http.NotFound(w, r)
		}
	}))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/robots.txt":
			fmt.Fprint(w, "User-agent: *\nAllow: /\nContent-Usage: /ai-free/ train-ai=n\n")
		case "/ai-free/p", "/open/p":
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Content-Usage", "search=y")
			fmt.Fprint(w, "<html><body><p>text</p></body></html>")
		case "/away":
			http.Redirect(w, r, target.URL+"/page", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	f := newTestFetcher(t, nil)

	c := fetch(t, f, srv.URL+"/ai-free/p")
	if c.Error != "" || c.OptOut.ContentUsage != "search=y, train-ai=n" || !c.OptOut.Reserved() {
		t.Errorf("/ai-free/p: err %q opt-out %+v, want header and robots preferences, reserved", c.Error, c.OptOut)
	}
	c = fetch(t, f, srv.URL+"/open/p")
	if c.Error != "" || c.OptOut.ContentUsage != "search=y" || c.OptOut.Reserved() {
		t.Errorf("/open/p: err %q opt-out %+v, want the header's preference only", c.Error, c.OptOut)
	}
	c = fetch(t, f, srv.URL+"/away")
	if c.Error != "" || c.FinalURL != target.URL+"/page" || c.OptOut.ContentUsage != "train-ai=n" || !c.OptOut.Reserved() {
		t.Errorf("redirected page: err %q final %q opt-out %+v, want the target site's robots preference", c.Error, c.FinalURL, c.OptOut)
	}
}
