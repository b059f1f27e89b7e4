package node

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

// The hostile pages of issue #14, item 2.
const (
	ampBase20K  = "/base20k"  // 124 KB page, a 20 KB <base href>, 5,000 links
	ampBase200K = "/base200k" // the same with a 200 KB <base href>
	ampSitemap  = "/sitemap.xml"
)

// ampPaths are the pages a node is sent to fetch.
var ampPaths = []string{ampBase20K, ampBase200K, ampSitemap}

// amplifySite serves the amplification pages: HTML pages whose 5,000
// relative links would each resolve to a URL as long as the page's
// <base href> (20 KB or 200 KB), plus short absolute-path links that are
// kept; and a sitemap of 50,000 entries reached through a redirect to a
// path just under MaxURLBytes (a longer one is refused: TestBadPortsRefused),
// against which its relative entries would resolve past the cap, with
// absolute-path entries and lastmods as well.
func amplifySite() http.Handler {
	page := func(baseLen int) []byte {
		var b strings.Builder
		fmt.Fprintf(&b, `<html><head><base href="/%s/"></head><body>`, strings.Repeat("a", baseLen))
		for i := range 5000 {
			if i%2 == 0 {
				fmt.Fprintf(&b, `<a href="l%d">x</a>`, i)
			} else {
				fmt.Fprintf(&b, `<a href="/short/%d">y</a>`, i)
			}
		}
		b.WriteString("</body></html>")
		return []byte(b.String())
	}
	p20, p200 := page(20000), page(200000)
	longPath := "/" + strings.Repeat("d", MaxURLBytes-100) + "/sitemap.xml"
	var sm strings.Builder
	sm.WriteString(`<?xml version="1.0"?><urlset>`)
	for i := range 50000 {
		if i%2 == 0 {
			fmt.Fprintf(&sm, `<url><loc>p%d-%s</loc></url>`, i, strings.Repeat("b", 100))
		} else {
			fmt.Fprintf(&sm, `<url><loc>/s/%d/%s</loc><lastmod>2026-11-30</lastmod></url>`, i, strings.Repeat("c", 60))
		}
	}
	sm.WriteString(`</urlset>`)
	sitemap := []byte(sm.String())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/robots.txt":
			http.NotFound(w, r)
		case ampBase20K:
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write(p20)
		case ampBase200K:
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write(p200)
		case ampSitemap:
			http.Redirect(w, r, longPath, http.StatusMovedPermanently)
		case longPath:
			w.Header().Set("Content-Type", "application/xml")
			_, _ = w.Write(sitemap)
		default:
			http.NotFound(w, r)
		}
	})
}

// The amplification pages must not amplify into hundreds of megabytes of
// outlinks: every URL kept is at most MaxURLBytes, none resolved against
// the long base or path survives, the total per page and per sitemap stays
// under its cap, and what a held capture counts against the memory budget
// is exactly its body and outlinks, within the fetch's reservation.
func TestOutlinkAmplificationBounded(t *testing.T) {
	srv := httptest.NewServer(amplifySite())
	defer srv.Close()
	f := newTestFetcher(t, nil)
	for _, tc := range []struct {
		path  string
		limit int64
		min   int
	}{{ampBase20K, maxOutlinkBytes, 2500}, {ampBase200K, maxOutlinkBytes, 2500}, {ampSitemap, maxSitemapBytes, 25000}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, release := f.FetchHeld(ctx, schemas.LeaseItem{JobID: "j", URL: srv.URL + tc.path}, schemas.HostBudget{})
		cancel()
		if c.Error != "" {
			t.Fatalf("%s: %s", tc.path, c.Error)
		}
		var total int64
		for _, l := range c.Outlinks {
			if len(l) > MaxURLBytes {
				t.Fatalf("%s: outlink of %d bytes kept", tc.path, len(l))
			}
			if strings.Contains(l, "aaaaaaaaaa") || strings.Contains(l, "dddddddddd") {
				t.Fatalf("%s: a link resolved against the long base or path was kept", tc.path)
			}
			total += int64(len(l))
		}
		total += int64(len(c.OutlinkLastMod)) * lastModEntryBytes
		if total > tc.limit {
			t.Errorf("%s: %d bytes of outlinks, bound %d", tc.path, total, tc.limit)
		}
		if len(c.Outlinks) != tc.min {
			t.Errorf("%s: %d outlinks, want the %d short ones", tc.path, len(c.Outlinks), tc.min)
		}
		u, _ := url.Parse(c.URL)
		held := f.MemoryStats().Reserved
		if held != captureBytes(c) || held > bodyReserve(f.cfg.MaxBodyBytes)+linkAllowance(u) {
			t.Errorf("%s: %d bytes held for a capture of %d", tc.path, held, captureBytes(c))
		}
		release()
		t.Logf("%s: body %d, %d outlinks, %d bytes of outlinks and lastmods", tc.path, len(c.Body), len(c.Outlinks), total)
	}
	if m := f.MemoryStats(); m.Reserved != 0 {
		t.Errorf("%d bytes still reserved after every release", m.Reserved)
	}
}

// Regression (found by BenchmarkAmplificationRSS: 338 MiB peak RSS): each
// relative link on a page with a long <base href>, and each relative
// sitemap entry behind a long redirect path, built a URL as long as the
// base before it was dropped: about a gigabyte of garbage per 200 KB-base
// page. Such references are now dropped before they are built, so parsing
// allocates a small multiple of the page.
func TestLongBaseDoesNotAmplifyGarbage(t *testing.T) {
	long := strings.Repeat("a", 200000)
	var page strings.Builder
	fmt.Fprintf(&page, `<html><head><base href="/%s/"></head><body>`, long)
	for i := range 5000 {
		fmt.Fprintf(&page, `<a href="l%d">x</a><a href="?q=%d">q</a><a href="/s/%d">s</a><a href="//other.example/%d">o</a>`, i, i, i, i)
	}
	body := []byte(page.String())
	pageURL, _ := url.Parse("http://127.0.0.1/p")
	var m pageMeta
	alloc := allocated(func() { m = parseHTML(body, pageURL) })
	if len(m.outlinks) != 5000 || m.outlinks[0] != "http://127.0.0.1/s/0" || m.outlinks[1] != "http://other.example/0" {
		t.Fatalf("%d outlinks, first %q; want the 5,000 path-absolute and network-path ones", len(m.outlinks), m.outlinks[:min(2, len(m.outlinks))])
	}
	if alloc > 20*int64(len(body)) {
		t.Errorf("parsing a %d-byte page with a 200 KB base allocated %d bytes", len(body), alloc)
	}

	var sm strings.Builder
	sm.WriteString(`<urlset>`)
	for i := range 50000 {
		fmt.Fprintf(&sm, `<url><loc>p%d</loc></url><url><loc>/s/%d</loc></url>`, i, i)
	}
	sm.WriteString(`</urlset>`)
	sbody := []byte(sm.String())
	base, _ := url.Parse("http://127.0.0.1/" + strings.Repeat("d", 20000) + "/sitemap.xml")
	var links []string
	alloc = allocated(func() { links, _ = sitemapLinks(sbody, base, maxSitemapBytes) })
	if len(links) != 50000 || links[0] != "http://127.0.0.1/s/0" {
		t.Fatalf("%d sitemap links, want the 50,000 path-absolute ones", len(links))
	}
	if alloc > 60*int64(len(sbody)) {
		t.Errorf("parsing a %d-byte sitemap behind a 20 KB path allocated %d bytes", len(sbody), alloc)
	}
	// A short base still resolves relative references as before.
	short := newLinkBase(pageURL)
	if got := absLink(short, "../x?y"); got != "http://127.0.0.1/x?y" {
		t.Errorf("short base: %q", got)
	}
}

// allocated returns the bytes fn allocated on the heap.
func allocated(fn func()) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}
