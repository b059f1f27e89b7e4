package node

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"

	"github.com/swardnet/sward/schemas"
)

func TestSitemapLinks(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.10:8480/sitemap.xml")
	for _, tc := range []struct {
		name string
		body string
		want []string
	}{
		{"urlset", `<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
			<url><loc>http://127.0.0.10:8480/a.html</loc><lastmod>2026-01-01</lastmod></url>
			<url><loc> /b.html#top </loc></url>
			<url><loc>http://127.0.0.10:8480/a.html</loc></url>
			<url><loc>javascript:alert(1)</loc></url>
			<url><loc>ftp://example.org/x</loc></url></urlset>`,
			[]string{"http://127.0.0.10:8480/a.html", "http://127.0.0.10:8480/b.html"}},
		{"index", `<sitemapindex><sitemap><loc>http://127.0.0.10:8480/s2.xml</loc></sitemap></sitemapindex>`,
			[]string{"http://127.0.0.10:8480/s2.xml"}},
		{"truncated", `<urlset><url><loc>http://127.0.0.10:8480/a.html</loc></url><url><loc>http://127.0.0.10:84`,
			[]string{"http://127.0.0.10:8480/a.html"}},
		{"garbage", "\x00\x01 not xml at all <<<", nil},
	} {
		if got := sitemapLinks([]byte(tc.body), base); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
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
		for _, l := range sitemapLinks(body, base) {
			u, err := url.Parse(l)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				t.Fatalf("sitemap link %q is not an absolute http(s) URL", l)
			}
		}
	})
}

func TestFetchSitemapGivesOutlinks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sitemap.xml":
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprint(w, `<urlset><url><loc>/one.html</loc></url><url><loc>/two.html</loc></url></urlset>`)
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
	if c := f.Fetch(context.Background(), schemas.LeaseItem{JobID: "j", URL: srv.URL + "/data.json"}, schemas.HostBudget{}); c.Error == "" {
		t.Errorf("a JSON resource was accepted: %+v", c)
	}
}
