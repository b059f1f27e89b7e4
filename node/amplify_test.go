package node

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A page with a 20 KB <base href> and 5,000 links, and a 50,000-entry
// sitemap reached through a 20 KB redirect path, must not amplify into
// hundreds of megabytes of outlinks: every URL kept is at most MaxURLBytes
// and the total per page and per sitemap is bounded.
func TestOutlinkAmplificationBounded(t *testing.T) {
	long := strings.Repeat("a", 20000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/robots.txt":
			http.NotFound(w, r)
		case r.URL.Path == "/page":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<html><head><base href="/%s/"></head><body>`, long)
			for i := range 5000 {
				fmt.Fprintf(w, `<a href="l%d">x</a><a href="/short/%d">y</a>`, i, i)
			}
		case r.URL.Path == "/sitemap.xml":
			http.Redirect(w, r, "/"+long+"/sitemap.xml", http.StatusMovedPermanently)
		case strings.HasSuffix(r.URL.Path, "/sitemap.xml"):
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprint(w, `<?xml version="1.0"?><urlset>`)
			for i := range 50000 {
				fmt.Fprintf(w, `<url><loc>p%d-%s</loc></url><url><loc>/s/%d/%s</loc></url>`, i, strings.Repeat("b", 100), i, strings.Repeat("c", 60))
			}
			fmt.Fprint(w, `</urlset>`)
		}
	}))
	defer srv.Close()
	f := newTestFetcher(t, func(c *Config) { c.MaxBodyBytes = 10 << 20 })
	for _, tc := range []struct {
		path  string
		limit int
	}{{"/page", maxOutlinkBytes}, {"/sitemap.xml", maxSitemapBytes}} {
		c := fetch(t, f, srv.URL+tc.path)
		if c.Error != "" {
			t.Fatalf("%s: %s", tc.path, c.Error)
		}
		total := 0
		for _, l := range c.Outlinks {
			if len(l) > MaxURLBytes {
				t.Fatalf("%s: outlink of %d bytes kept", tc.path, len(l))
			}
			if strings.Contains(l, long) {
				t.Fatalf("%s: a link resolved against the 20 KB base was kept", tc.path)
			}
			total += len(l)
		}
		if total > tc.limit {
			t.Errorf("%s: %d bytes of outlinks, bound %d", tc.path, total, tc.limit)
		}
		if len(c.Outlinks) == 0 {
			t.Errorf("%s: the short links were lost too", tc.path)
		}
		t.Logf("%s: %d outlinks, %d bytes", tc.path, len(c.Outlinks), total)
	}
}
