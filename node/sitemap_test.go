package node

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

func TestSitemapLinks(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.10:8480/sitemap.xml")
	day := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	for _, tc := range []struct {
		name    string
		body    string
		want    []string
		lastmod map[string]time.Time
	}{
		{"urlset", `<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
			<url><loc>http://127.0.0.10:8480/a.html</loc><lastmod>2026-01-01</lastmod></url>
			<url><lastmod>2026-02-03T04:05:06+01:00</lastmod><loc> /b.html#top </loc></url>
			<url><loc>http://127.0.0.10:8480/a.html</loc><lastmod>2020-01-01</lastmod></url>
			<url><loc>/c.html</loc><lastmod>last tuesday</lastmod></url>
			<url><loc>javascript:alert(1)</loc><lastmod>2026-01-01</lastmod></url>
			<url><loc>ftp://example.org/x</loc></url></urlset>`,
			[]string{"http://127.0.0.10:8480/a.html", "http://127.0.0.10:8480/b.html", "http://127.0.0.10:8480/c.html"},
			map[string]time.Time{
				"http://127.0.0.10:8480/a.html": day("2026-01-01T00:00:00Z"),
				"http://127.0.0.10:8480/b.html": day("2026-02-03T03:05:06Z"),
			}},
		{"index", `<sitemapindex><sitemap><loc>http://127.0.0.10:8480/s2.xml</loc><lastmod>2026-03</lastmod></sitemap></sitemapindex>`,
			[]string{"http://127.0.0.10:8480/s2.xml"},
			map[string]time.Time{"http://127.0.0.10:8480/s2.xml": day("2026-03-01T00:00:00Z")}},
		{"truncated", `<urlset><url><loc>http://127.0.0.10:8480/a.html</loc></url><url><loc>http://127.0.0.10:84`,
			[]string{"http://127.0.0.10:8480/a.html"}, nil},
		{"garbage", "\x00\x01 not xml at all <<<", nil, nil},
	} {
		got, lastmod := sitemapLinks([]byte(tc.body), base, maxSitemapBytes)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
		if !reflect.DeepEqual(lastmod, tc.lastmod) {
			t.Errorf("%s: lastmod %v, want %v", tc.name, lastmod, tc.lastmod)
		}
	}
}

func TestIsSitemapURL(t *testing.T) {
	for raw, want := range map[string]bool{
		"http://h/sitemap.xml": true, "http://h/news/SITEMAP.XML": true,
		"http://h/feed.rss": false, "http://h/page.html": false, "http://h/xml": false,
	} {
		u, _ := url.Parse(raw)
		if got := isSitemapURL(u); got != want {
			t.Errorf("isSitemapURL(%s) = %v, want %v", raw, got, want)
		}
	}
}

func FuzzSitemapLinks(f *testing.F) {
	f.Add([]byte(`<urlset><url><loc>http://a/b</loc></url></urlset>`))
	f.Add([]byte(`<loc><loc>`))
	base, _ := url.Parse("http://127.0.0.1/sitemap.xml")
	f.Fuzz(func(t *testing.T, body []byte) {
		links, lastmod := sitemapLinks(body, base, maxSitemapBytes)
		for _, l := range links {
			u, err := url.Parse(l)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				t.Fatalf("sitemap link %q is not an absolute http(s) URL", l)
			}
		}
		// What a capture carries must validate: lastmods only for links.
		c := schemas.Capture{Outlinks: links, OutlinkLastMod: lastmod}
		if len(lastmod) > len(links) {
			t.Fatalf("%d lastmods for %d links", len(lastmod), len(links))
		}
		for l := range c.OutlinkLastMod {
			if !slices.Contains(links, l) {
				t.Fatalf("lastmod for %q, not a link", l)
			}
		}
	})
}

func TestFetchSitemapGivesOutlinks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sitemap.xml":
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprint(w, `<urlset><url><loc>/one.html</loc></url><url><loc>/two.html</loc><lastmod>2026-11-20</lastmod></url></urlset>`)
		case "/data.json":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"a":1}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	f := testFetcher(t)
	c := f.Fetch(context.Background(), schemas.LeaseItem{JobID: "j", URL: srv.URL + "/sitemap.xml"}, schemas.HostBudget{})
	if c.Error != "" {
		t.Fatalf("sitemap fetch failed: %s", c.Error)
	}
	want := []string{srv.URL + "/one.html", srv.URL + "/two.html"}
	if !reflect.DeepEqual(c.Outlinks, want) {
		t.Errorf("sitemap outlinks %v, want %v", c.Outlinks, want)
	}
	wantMod := map[string]time.Time{srv.URL + "/two.html": time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)}
	if !reflect.DeepEqual(c.OutlinkLastMod, wantMod) {
		t.Errorf("sitemap lastmods %v, want %v", c.OutlinkLastMod, wantMod)
	}
	c.NodePeerID, c.Version = "12D3KooWtest", schemas.CaptureVersion
	if err := c.Validate(); err != nil {
		t.Errorf("sitemap capture does not validate: %v", err)
	}
	if c := f.Fetch(context.Background(), schemas.LeaseItem{JobID: "j", URL: srv.URL + "/data.json"}, schemas.HostBudget{}); c.Error == "" {
		t.Errorf("a JSON resource was accepted: %+v", c)
	}
}
