package site

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
	"github.com/temoto/robotstxt"
	"golang.org/x/net/html"
)

var (
	defaultOnce sync.Once
	defaultSite *Site
	defaultErr  error
)

// demoSite is the full default site on the demo port, built once and never
// started: tests that need no HTTP share it (and its link-graph cache).
func demoSite(t *testing.T) *Site {
	t.Helper()
	defaultOnce.Do(func() { defaultSite, defaultErr = New(Config{Port: DefaultPort}) })
	if defaultErr != nil {
		t.Fatalf("New(default): %v", defaultErr)
	}
	return defaultSite
}

func smallSite(t *testing.T) *Site {
	t.Helper()
	s, err := New(Config{Hosts: 3, PagesPerHost: 20, Port: DefaultPort})
	if err != nil {
		t.Fatalf("New(small): %v", err)
	}
	return s
}

func TestConfigDefaultAndValidate(t *testing.T) {
	var c Config
	c.Default()
	if c.Hosts != 20 || c.PagesPerHost != 100 || c.Seed != 1 || c.Port != 0 {
		t.Fatalf("Default() = %+v, want 20 hosts, 100 pages, seed 1, port left at 0", c)
	}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default", Config{Hosts: 20, PagesPerHost: 100}, true},
		{"small", Config{Hosts: 3, PagesPerHost: 20, Port: 8480}, true},
		{"one host", Config{Hosts: 1, PagesPerHost: 1}, true},
		{"most hosts", Config{Hosts: MaxHosts, PagesPerHost: 1}, true},
		{"too many hosts", Config{Hosts: MaxHosts + 1, PagesPerHost: 1}, false},
		{"no hosts", Config{Hosts: -1, PagesPerHost: 1}, false},
		{"no pages", Config{Hosts: 1, PagesPerHost: -3}, false},
		{"too many pages", Config{Hosts: 1, PagesPerHost: MaxPagesPerHost + 1}, false},
		{"bad port", Config{Hosts: 1, PagesPerHost: 1, Port: 70000}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate(%+v) = %v, want ok=%v", tt.cfg, err, tt.ok)
			}
			if _, err := New(tt.cfg); (err == nil) != tt.ok {
				t.Fatalf("New(%+v) = %v, want ok=%v", tt.cfg, err, tt.ok)
			}
		})
	}
}

// TestDefaultSiteSize counts the site through its link graph: at least 2,000
// HTML pages over at least 20 hosts, and every host crawlable well under 90 s
// with one connection and 200 ms between requests (1 s on Crawl-delay hosts).
func TestDefaultSiteSize(t *testing.T) {
	s := demoSite(t)
	if got := len(s.Hosts()); got < 20 {
		t.Fatalf("%d hosts, want >= 20", got)
	}
	const depth = 5
	perHost := make(map[string]int)
	pages := 0
	for _, u := range s.Reachable(depth) {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatalf("Reachable returned %q: %v", u, err)
		}
		perHost[pu.Host]++
		if s.Kind(u) != KindTrap {
			pages++
		}
	}
	if pages < 2000 {
		t.Fatalf("%d HTML pages (excluding the calendar trap), want >= 2000", pages)
	}
	smallHosts := 0
	for i, h := range s.Hosts() {
		if perHost[h] == 0 {
			t.Fatalf("host %s has no reachable pages", h)
		}
		// Every request a crawler makes: pages, robots.txt, sitemap, the
		// files and 404s linked from pages, redirect hops. Over-estimate by 30%.
		requests := float64(perHost[h]) * 1.3
		delay := 0.2
		if s.hosts[i].small {
			delay = crawlDelaySeconds
			smallHosts++
		}
		if secs := requests * delay; secs > 65 {
			t.Errorf("host %s: %d pages take about %.0f s to crawl, want well under 90 s", h, perHost[h], secs)
		}
		if perHost[h] > 150 {
			t.Errorf("host %s has %d pages, want <= 150", h, perHost[h])
		}
	}
	if smallHosts < 2 {
		t.Errorf("%d Crawl-delay hosts, want at least 2", smallHosts)
	}
}

// TestDeterministic renders every page of two independently built sites and
// compares bytes; a different seed must change the articles.
func TestDeterministic(t *testing.T) {
	a, b := smallSite(t), smallSite(t)
	other, err := New(Config{Hosts: 3, PagesPerHost: 20, Port: DefaultPort, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	compared, changed := 0, 0
	for i, hp := range a.hosts {
		paths := []string{"/calendar/2025/06", "/calendar/1999/12", "/nope.html"}
		for path := range hp.pages {
			paths = append(paths, path)
		}
		for _, path := range paths {
			ra, rb := a.respond(a.Hosts(), i, path), b.respond(b.Hosts(), i, path)
			if ra.status != rb.status || !bytes.Equal(ra.body, rb.body) || !slices.Equal(ra.links, rb.links) {
				t.Fatalf("host %d %s differs between two sites with the same config", i, path)
			}
			for k := range ra.header {
				if ra.header.Get(k) != rb.header.Get(k) {
					t.Fatalf("host %d %s: header %s differs", i, path, k)
				}
			}
			compared++
			if p := hp.pages[path]; p != nil && p.kind == KindArticle {
				po := other.hosts[i].pages[path]
				if po == nil || !bytes.Equal(other.respond(other.Hosts(), i, path).body, ra.body) {
					changed++
				}
			}
		}
	}
	if compared < 60 {
		t.Fatalf("compared only %d pages", compared)
	}
	if changed == 0 {
		t.Fatal("seed 2 produced the same articles as seed 1")
	}
}

func TestRobotsTxt(t *testing.T) {
	s := demoSite(t)
	for i, h := range s.Hosts() {
		body := string(s.respond(s.Hosts(), i, "/robots.txt").body)
		for _, want := range []string{"User-agent: *", "Disallow: /private/", "Disallow: /admin/", "Allow: /private/press-kit.html", "Sitemap: http://" + h + "/sitemap.xml"} {
			if !strings.Contains(body, want) {
				t.Errorf("host %s robots.txt lacks %q:\n%s", h, want, body)
			}
		}
		if got := strings.Contains(body, "Crawl-delay: 1"); got != s.hosts[i].small {
			t.Errorf("host %s: Crawl-delay present = %v, want %v", h, got, s.hosts[i].small)
		}
		rb, err := robotstxt.FromString(body)
		if err != nil {
			t.Fatalf("host %s robots.txt does not parse: %v", h, err)
		}
		group := rb.FindGroup("sward")
		for path := range s.hosts[i].pages {
			if got, want := !group.Test(path), disallowed(path); got != want {
				t.Errorf("host %s %s: robotstxt says disallowed=%v, the oracle says %v", h, path, got, want)
			}
		}
		if rb.FindGroup("GPTBot").Test("/") {
			t.Errorf("host %s lets GPTBot crawl", h)
		}
	}
}

// TestNavigationLinksIntoDisallowed makes sure a crawler must honour
// robots.txt: every page's navigation links to disallowed paths.
func TestNavigationLinksIntoDisallowed(t *testing.T) {
	s := smallSite(t)
	links := s.links(ref{0, pathHome})
	var hit []string
	for _, l := range links {
		if disallowed(l.path) {
			hit = append(hit, l.path)
		}
	}
	if !slices.Contains(hit, pathDrafts) || !slices.Contains(hit, pathAdmin) {
		t.Fatalf("home page links to disallowed %v, want %s and %s", hit, pathDrafts, pathAdmin)
	}
	if !slices.Contains(s.links(ref{0, pathDrafts}), ref{0, pathInsider}) {
		t.Fatal("the drafts page does not link to the hidden page")
	}
}

func TestReachable(t *testing.T) {
	s := smallSite(t)
	host := "http://" + s.Hosts()[0]
	prev := map[string]bool{}
	for depth := 0; depth <= 6; depth++ {
		got := s.Reachable(depth)
		set := map[string]bool{}
		trap := 0
		for _, u := range got {
			set[u] = true
			switch k := s.Kind(u); k {
			case KindTrap:
				trap++
			case KindDisallowed, KindHidden, KindRedirect, KindResource, KindNotFound, KindRobots, KindSitemap, KindOffsite:
				t.Errorf("depth %d: Reachable contains %s of kind %s", depth, u, k)
			}
		}
		for u := range prev {
			if !set[u] {
				t.Errorf("depth %d lost %s that depth %d had", depth, u, depth-1)
			}
		}
		// The calendar starts at depth 1; each further level adds the months
		// on both sides.
		if want := max(0, 2*depth-1) * len(s.hosts); trap != want {
			t.Errorf("depth %d: %d calendar pages, want %d", depth, trap, want)
		}
		if depth == 0 && len(got) != len(s.hosts) {
			t.Errorf("depth 0: %d pages, want only the %d seeds", len(got), len(s.hosts))
		}
		if depth >= 1 {
			for _, want := range []string{host + pathSpecial, host + pathAbout} {
				if !set[want] {
					t.Errorf("depth %d: %s missing", depth, want)
				}
			}
			if set[host+pathRedirect1] || set[host+pathDrafts] || set[host+pathAdmin] || set[host+pathInsider] {
				t.Errorf("depth %d: redirect, disallowed or hidden page included", depth)
			}
		}
		if depth >= 2 && !set[host+pathPressKit] {
			t.Errorf("depth %d: the press kit, allowed inside /private/, is missing", depth)
		}
		prev = set
	}
	// With a deep crawl every content page of the plan is reachable.
	all := map[string]bool{}
	for _, u := range s.Reachable(4) {
		all[u] = true
	}
	for i, hp := range s.hosts {
		for _, p := range hp.content {
			if u := "http://" + s.Hosts()[i] + p.path; !all[u] {
				t.Errorf("content page %s (%s) not reachable at depth 4", u, p.kind)
			}
		}
	}
	if a, b := s.Reachable(4), s.ReachableWithSitemaps(4); !slices.Equal(a, b) {
		t.Errorf("at depth 4 the sitemaps add pages: %d vs %d", len(a), len(b))
	}
	if a, b := s.Reachable(0), s.ReachableWithSitemaps(0); len(b) <= len(a) {
		t.Errorf("at depth 0 the sitemaps should add pages: %d vs %d", len(a), len(b))
	}
}

// TestLinkGraphMatchesHTML parses the HTML of many pages and checks that the
// in-site <a href> links are exactly the graph's edges, so the oracle and
// the served pages cannot drift apart.
func TestLinkGraphMatchesHTML(t *testing.T) {
	s := smallSite(t)
	checked := 0
	for _, u := range s.Reachable(3) {
		host, path, ok := s.parse(u)
		if !ok {
			t.Fatalf("cannot parse %s", u)
		}
		resp := s.respond(s.Hosts(), host, path)
		base, _ := url.Parse(u)
		var fromHTML, offsite []string
		for _, href := range anchors(t, resp.body) {
			ref, err := base.Parse(href)
			if err != nil {
				t.Fatalf("%s: bad href %q: %v", u, href, err)
			}
			if s.Kind(ref.String()) == KindOffsite {
				offsite = append(offsite, ref.String())
				continue
			}
			fromHTML = append(fromHTML, ref.String())
		}
		var fromGraph []string
		for _, l := range resp.links {
			fromGraph = append(fromGraph, "http://"+s.Hosts()[l.host]+l.path)
		}
		slices.Sort(fromHTML)
		slices.Sort(fromGraph)
		if !slices.Equal(fromHTML, fromGraph) {
			t.Fatalf("%s: HTML links %v\ngraph links %v", u, fromHTML, fromGraph)
		}
		for _, o := range offsite {
			if !strings.HasPrefix(o, "http://127.0.0.") {
				t.Fatalf("%s: off-site link %s leaves loopback", u, o)
			}
		}
		checked++
	}
	if checked < 100 {
		t.Fatalf("checked only %d pages", checked)
	}
}

func anchors(t *testing.T, body []byte) []string {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("HTML does not parse: %v", err)
	}
	var out []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "a" {
			for _, a := range n.Attr {
				if a.Key == "href" {
					out = append(out, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

// TestKindsPresent checks that even the small test site has every kind of
// page the pipeline must handle.
func TestKindsPresent(t *testing.T) {
	s := smallSite(t)
	seen := map[string]bool{}
	langs := map[string]bool{}
	for i, hp := range s.hosts {
		for path, p := range hp.pages {
			info := s.Info("http://" + s.Hosts()[i] + path)
			if info.Kind != p.kind {
				t.Fatalf("Info(%s).Kind = %s, want %s", path, info.Kind, p.kind)
			}
			seen[p.kind] = true
			if p.variant != "" {
				seen[p.kind+"/"+p.variant] = true
			}
			if isHTML(p.kind) && p.kind != KindJunk {
				langs[info.Lang] = true
			}
			if p.kind == KindDuplicate && s.Kind(info.DuplicateOf) != KindArticle {
				t.Errorf("%s duplicates %s, which is not an article", path, info.DuplicateOf)
			}
		}
	}
	seen[s.Kind("http://"+s.Hosts()[0]+"/calendar/3001/01")] = true
	for _, want := range []string{
		KindIndex, KindArticle, KindPII, KindDuplicate, KindStatic, KindTrap, KindRedirect, KindDisallowed, KindHidden, KindRobots, KindSitemap,
		KindOptOut + "/" + OptOutHeader, KindOptOut + "/" + OptOutMeta, KindOptOut + "/" + OptOutTDMRep,
		KindJunk + "/" + JunkLorem, KindJunk + "/" + JunkLinkFarm, KindJunk + "/" + JunkShort,
		KindResource + "/pdf", KindResource + "/png", KindResource + "/json", KindResource + "/csv",
	} {
		if !seen[want] {
			t.Errorf("small site has no %s page", want)
		}
	}
	if len(langs) < 4 {
		t.Errorf("languages %v, want en, de, fr and es", langs)
	}
	for raw, want := range map[string]string{
		"http://127.0.0.10:1/no/such/page.html":   KindNotFound,
		"http://127.0.0.13:8480/":                 KindOffsite, // host 3 does not exist
		"http://127.0.0.2:8480/click":             KindOffsite,
		"https://example.com/":                    KindOffsite,
		"http://127.0.0.10:8480/calendar/2025/6":  KindNotFound,
		"http://127.0.0.11:8480/calendar/0000/01": KindNotFound,
		"http://127.0.0.11:8480/calendar/9999/12": KindTrap,
		"::not a url": KindOffsite,
	} {
		if got := s.Kind(raw); got != want {
			t.Errorf("Kind(%q) = %q, want %q", raw, got, want)
		}
	}
}

// articleText is the visible text of the <article> element, one line per
// block element, the way an extractor sees it.
func articleText(t *testing.T, body []byte) []string {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("HTML does not parse: %v", err)
	}
	var lines []string
	var cur strings.Builder
	var walk func(n *html.Node, in bool)
	walk = func(n *html.Node, in bool) {
		if n.Type == html.ElementNode && n.Data == "article" {
			in = true
		}
		if in && n.Type == html.TextNode {
			cur.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, in)
		}
		if in && n.Type == html.ElementNode {
			switch n.Data {
			case "p", "h1", "h2", "li", "tr", "caption":
				if line := strings.TrimSpace(cur.String()); line != "" {
					lines = append(lines, line)
				}
				cur.Reset()
			}
		}
	}
	walk(doc, false)
	return lines
}

// TestProseQuality applies the core Gopher/C4 rules to article text so a
// quality filter accepts articles, and checks that junk fails them.
func TestProseQuality(t *testing.T) {
	s := demoSite(t)
	stop := map[string]bool{"the": true, "be": true, "to": true, "of": true, "and": true, "that": true, "have": true, "with": true}
	byLang := map[string]int{}
	for i, hp := range s.hosts[:8] {
		for _, p := range hp.content {
			// A sample keeps the race-enabled run short; slot 17 of every 20
			// is the foreign-language article.
			if p.kind == KindJunk || p.slot%5 != 2 && p.slot%20 != 17 {
				continue
			}
			lines := articleText(t, s.respond(s.Hosts(), i, p.path).body)
			text := strings.Join(lines, "\n")
			words := strings.Fields(text)
			if len(words) < 250 {
				t.Fatalf("%s: %d words, want >= 250", p.path, len(words))
			}
			letters := 0
			for _, w := range words {
				letters += len([]rune(strings.Trim(w, ".,:;!?()")))
			}
			if mean := float64(letters) / float64(len(words)); mean < 3 || mean > 10 {
				t.Errorf("%s: mean word length %.1f outside 3..10", p.path, mean)
			}
			terminal := 0
			sentences := map[string]bool{}
			for _, l := range lines {
				if strings.ContainsAny(l[len(l)-1:], ".!?:") {
					terminal++
				}
				for _, sent := range strings.SplitAfter(l, ". ") {
					if len(sent) > 40 && sentences[sent] {
						t.Errorf("%s repeats the sentence %q", p.path, sent)
					}
					sentences[sent] = true
				}
			}
			// Headings, the byline and table rows have no full stop; FineWeb
			// asks for 12% of lines, real articles have about half.
			if frac := float64(terminal) / float64(len(lines)); frac < 0.5 {
				t.Errorf("%s: only %.0f%% of lines end in punctuation", p.path, 100*frac)
			}
			low := strings.ToLower(text)
			if strings.Contains(low, "lorem ipsum") || strings.ContainsAny(text, "{}") {
				t.Errorf("%s: contains lorem ipsum or a curly brace", p.path)
			}
			if p.lang.code == "en" {
				n := 0
				for _, w := range strings.Fields(low) {
					if stop[strings.Trim(w, ".,:;")] {
						n++
					}
				}
				if n < 20 {
					t.Errorf("%s: %d English stop words, want many", p.path, n)
				}
			}
			byLang[p.lang.code]++
		}
	}
	for _, l := range []string{"en", "de", "fr", "es"} {
		if byLang[l] == 0 {
			t.Errorf("no %s articles checked", l)
		}
	}
}

var (
	emailRE = regexp.MustCompile(`[a-z.]+@[a-z0-9-]+\.example`)
	phoneRE = regexp.MustCompile(`\+\d{1,2} [\d ()-]{8,}`)
)

func TestJunkDuplicatesAndPII(t *testing.T) {
	s := smallSite(t)
	addrs := s.Hosts()
	dups := 0
	for i, hp := range s.hosts {
		for _, p := range hp.content {
			body := s.respond(addrs, i, p.path).body
			text := strings.Join(articleText(t, body), "\n")
			switch {
			case p.kind == KindPII:
				if !emailRE.MatchString(text) || !phoneRE.MatchString(text) {
					t.Errorf("%s: PII article text lacks an e-mail or phone number", p.path)
				}
			case p.kind == KindArticle && emailRE.MatchString(text):
				t.Errorf("%s: ordinary article text has an e-mail address", p.path)
			case p.variant == JunkLorem:
				if !strings.Contains(text, "Lorem ipsum") {
					t.Errorf("%s: lorem page without lorem ipsum", p.path)
				}
			case p.variant == JunkLinkFarm:
				if n := len(anchors(t, body)); n < 200 {
					t.Errorf("%s: link farm has %d links, want hundreds", p.path, n)
				}
				if strings.Contains(string(body), "<p>") {
					t.Errorf("%s: link farm has prose", p.path)
				}
			case p.variant == JunkShort:
				if len(strings.Fields(stripTags(string(body)))) > 8 {
					t.Errorf("%s: short page is not short", p.path)
				}
			case p.kind == KindDuplicate:
				dups++
				orig := strings.Join(articleText(t, s.respond(addrs, p.orig.host, p.orig.path).body), "\n")
				if text == orig {
					t.Errorf("%s: duplicate is identical to its original", p.path)
				}
				if j := jaccard(shingles(text), shingles(orig)); j < 0.75 {
					t.Errorf("%s: duplicate similarity %.2f, want a near-duplicate (>= 0.75)", p.path, j)
				}
				other := hp.content[(p.slot+2)%len(hp.content)]
				unrelated := strings.Join(articleText(t, s.respond(addrs, i, other.path).body), "\n")
				if j := jaccard(shingles(text), shingles(unrelated)); j > 0.3 {
					t.Errorf("%s vs %s: unrelated articles have similarity %.2f", p.path, other.path, j)
				}
			}
			if isHTML(p.kind) && p.variant != JunkLinkFarm && p.variant != JunkShort && !emailRE.Match(body) {
				t.Errorf("%s: footer lacks the newsroom e-mail", p.path)
			}
		}
	}
	if dups == 0 {
		t.Fatal("no duplicates checked")
	}
}

func stripTags(s string) string {
	return regexp.MustCompile(`<[^>]*>`).ReplaceAllString(s, " ")
}

func shingles(text string) map[string]bool {
	w := strings.Fields(strings.ToLower(text))
	out := map[string]bool{}
	for i := 0; i+5 <= len(w); i++ {
		out[strings.Join(w[i:i+5], " ")] = true
	}
	return out
}

func jaccard(a, b map[string]bool) float64 {
	inter := 0
	for k := range a {
		if b[k] {
			inter++
		}
	}
	union := len(a) + len(b) - inter
	if union == 0 {
		return 0
	}
	return float64(inter) / float64(union)
}

// TestHTTP serves a small site on ephemeral ports and fetches a few pages.
func TestHTTP(t *testing.T) {
	s, err := New(Config{Hosts: 3, PagesPerHost: 20})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Close()
	if err := s.Start(ctx); err == nil {
		t.Fatal("second Start succeeded")
	}
	hosts := s.Hosts()
	for i, h := range hosts {
		if !strings.HasPrefix(h, hostIP(i)+":") || strings.HasSuffix(h, ":0") {
			t.Fatalf("host %d listens on %s, want %s:<port>", i, h, hostIP(i))
		}
	}
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(method, u string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, u, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading %s: %v", u, err)
		}
		return resp, body
	}
	home := s.Seeds()[1]
	resp, body := get(http.MethodGet, home)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET %s: %d %s", home, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if want := s.respond(hosts, 1, "/").body; !bytes.Equal(body, want) {
		t.Fatal("served home page differs from the rendered one")
	}
	if resp, body := get(http.MethodHead, home); resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength <= 0 {
		t.Fatalf("HEAD %s: %d, %d body bytes, length %d", home, resp.StatusCode, len(body), resp.ContentLength)
	}
	if resp, _ := get(http.MethodPost, home); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d, want 405", resp.StatusCode)
	}
	// Content types of every non-HTML kind.
	types := map[string]string{"pdf": "application/pdf", "png": "image/png", "json": "application/json", "csv": "text/csv", "css": "text/css"}
	magic := map[string]string{"pdf": "%PDF-", "png": "\x89PNG", "json": "{", "csv": "year,participants,budget"}
	seen := map[string]bool{}
	for i, hp := range s.hosts {
		for path, p := range hp.pages {
			if p.kind != KindResource || seen[p.variant] {
				continue
			}
			seen[p.variant] = true
			resp, body := get(http.MethodGet, "http://"+hosts[i]+path)
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, types[p.variant]) {
				t.Errorf("%s: %d %q, want %s", path, resp.StatusCode, ct, types[p.variant])
			}
			if !strings.HasPrefix(string(body), magic[p.variant]) {
				t.Errorf("%s: body starts %q", path, body[:min(len(body), 16)])
			}
		}
	}
	if len(seen) != len(types) {
		t.Errorf("resource formats served: %v", seen)
	}
	for _, tt := range []struct{ path, ctype, contains string }{
		{"/robots.txt", "text/plain", "Disallow: /private/"},
		{"/sitemap.xml", "application/xml", "<lastmod>"},
		{"/calendar/2025/06", "text/html", "/calendar/2025/07"},
	} {
		resp, body := get(http.MethodGet, "http://"+hosts[0]+tt.path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.ctype) || !strings.Contains(string(body), tt.contains) {
			t.Errorf("GET %s: %d %s, want %s containing %q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.ctype, tt.contains)
		}
	}
	if resp, _ := get(http.MethodGet, "http://"+hosts[0]+pathFormerTeam); resp.StatusCode != 404 {
		t.Errorf("GET %s: %d, want 404", pathFormerTeam, resp.StatusCode)
	}
	// The redirect chain ends at the archived article.
	resp, _ = get(http.MethodGet, "http://"+hosts[2]+pathRedirect1)
	if resp.StatusCode != 200 || resp.Request.URL.String() != "http://"+hosts[2]+pathSpecial {
		t.Errorf("redirect chain ended at %s with %d", resp.Request.URL, resp.StatusCode)
	}
	// Opt-out signals.
	for i, hp := range s.hosts {
		for _, p := range hp.content {
			if p.kind != KindOptOut {
				continue
			}
			resp, body := get(http.MethodGet, "http://"+hosts[i]+p.path)
			var ok bool
			switch p.variant {
			case OptOutHeader:
				ok = strings.Contains(resp.Header.Get("X-Robots-Tag"), "noai")
			case OptOutTDMRep:
				ok = resp.Header.Get("tdm-reservation") == "1"
			case OptOutMeta:
				ok = strings.Contains(string(body), `<meta name="robots" content="noai, noimageai">`)
			}
			if !ok {
				t.Errorf("%s: %s signal missing", p.path, p.variant)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := client.Get(home); err == nil {
		t.Fatal("site still serves after Close")
	}
}

// TestStopsWithContext checks that cancelling Start's context stops the site.
func TestStopsWithContext(t *testing.T) {
	s, err := New(Config{Hosts: 1, PagesPerHost: 5})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the context ended")
	}
}

func TestJobSpec(t *testing.T) {
	s := smallSite(t)
	spec := s.JobSpec("site-test", 4, 500)
	if err := spec.Validate(); err != nil {
		t.Fatalf("JobSpec does not validate: %v", err)
	}
	if !slices.Equal(spec.Scope.Domains, s.Hosts()) || !slices.Equal(spec.Seeds, s.Seeds()) || len(spec.Sitemaps) != len(s.Hosts()) {
		t.Fatalf("JobSpec = %+v", spec)
	}
	for _, u := range s.Reachable(2) {
		if !spec.InScope(u) {
			t.Errorf("%s is not in the job's scope", u)
		}
	}
	for _, u := range []string{"http://127.0.0.2:8480/click", "http://127.0.0.13:8480/"} {
		if spec.InScope(u) {
			t.Errorf("off-site %s is in scope", u)
		}
	}
}

// TestDemoJob checks examples/jobs/demo.yaml against the default site.
func TestDemoJob(t *testing.T) {
	data, err := os.ReadFile("../jobs/demo.yaml")
	if err != nil {
		t.Fatalf("reading the demo job: %v", err)
	}
	spec, err := schemas.ParseJobSpec(data)
	if err != nil {
		t.Fatalf("demo.yaml: %v", err)
	}
	want := demoSite(t).JobSpec("demo", spec.MaxDepth, spec.MaxPages)
	if !slices.Equal(spec.Seeds, want.Seeds) || !slices.Equal(spec.Sitemaps, want.Sitemaps) || !slices.Equal(spec.Scope.Domains, want.Scope.Domains) {
		t.Fatalf("demo.yaml seeds/sitemaps/scope do not match the default site on port %d", DefaultPort)
	}
	if spec.Politeness != want.Politeness || spec.TDMPolicy != want.TDMPolicy {
		t.Errorf("demo.yaml politeness %+v / tdm %s, want %+v / %s", spec.Politeness, spec.TDMPolicy, want.Politeness, want.TDMPolicy)
	}
	if spec.MaxPages != 0 && spec.MaxPages < len(demoSite(t).Reachable(spec.MaxDepth)) {
		t.Errorf("demo.yaml max_pages %d is below the %d reachable pages", spec.MaxPages, len(demoSite(t).Reachable(spec.MaxDepth)))
	}
}

// FuzzRespond feeds arbitrary paths and URLs to the router and the URL
// classifier; neither may panic, and unknown paths must 404.
func FuzzRespond(f *testing.F) {
	for _, seed := range []string{"/", "/calendar/2025/06", "/calendar/+025/06", "/calendar/9999/13", "/files/x-2.pdf", "/old/special-report", "//", "/%zz", "/private/../admin/"} {
		f.Add(seed)
	}
	s, err := New(Config{Hosts: 2, PagesPerHost: 20, Port: DefaultPort})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path string) {
		resp := s.respond(s.Hosts(), 1, path)
		if resp.status == 0 || resp.header.Get("Content-Type") == "" {
			t.Fatalf("%q: empty response", path)
		}
		if s.hosts[1].lookup(path) == nil && resp.status != http.StatusNotFound {
			t.Fatalf("%q: status %d for an unknown path", path, resp.status)
		}
		_ = s.Kind("http://127.0.0.11:8480" + path)
		_ = s.Kind(path)
	})
}

// TestPagination checks that long sections are split into linked listing
// pages and that their articles are one level deeper per page.
func TestPagination(t *testing.T) {
	s, err := New(Config{Hosts: 1, PagesPerHost: 200, Port: DefaultPort})
	if err != nil {
		t.Fatal(err)
	}
	sec := s.hosts[0].lang.sections[0].slug
	host := "http://" + s.Hosts()[0]
	page2 := host + "/" + sec + "/page/2/"
	if k := s.Kind(page2); k != KindIndex {
		t.Fatalf("Kind(%s) = %s, want index", page2, k)
	}
	if !slices.Contains(s.links(ref{0, "/" + sec + "/"}), ref{0, "/" + sec + "/page/2/"}) {
		t.Fatal("the first listing page does not link to the second")
	}
	at2, at3 := s.Reachable(2), s.Reachable(3)
	if !slices.Contains(at2, page2) {
		t.Fatalf("%s not reachable at depth 2", page2)
	}
	onPage2 := s.hosts[0].pages["/"+sec+"/page/2/"].items
	if first := s.hosts[0].pages["/"+sec+"/"].items; len(first) != listingSize || len(onPage2) == 0 {
		t.Fatalf("listing pages hold %d and %d articles, want %d and some", len(first), len(onPage2), listingSize)
	}
	// An article listed only on page 2 (not among the latest on the home
	// page) needs depth 3.
	for _, p := range onPage2 {
		if slices.Contains(s.hosts[0].latest, p) {
			continue
		}
		u := host + p.path
		if slices.Contains(at2, u) && !reachableOtherwise(s, p) {
			t.Errorf("%s reachable at depth 2 though only listed on page 2", u)
		}
		if !slices.Contains(at3, u) {
			t.Errorf("%s not reachable at depth 3", u)
		}
	}
}

// reachableOtherwise reports whether some depth-1 page (home, a first
// listing page, a static or junk page) links to p.
func reachableOtherwise(s *Site, p *page) bool {
	for _, from := range s.links(ref{p.host, pathHome}) {
		if from.path == "/"+s.hosts[p.host].lang.sections[0].slug+"/page/2/" {
			continue
		}
		if slices.Contains(s.links(from), ref{p.host, p.path}) {
			return true
		}
	}
	return false
}

// TestNoSmallHosts: with NoSmallHosts no host asks for a crawl-delay and
// every host has an ordinary host's pages.
func TestNoSmallHosts(t *testing.T) {
	for _, uniform := range []bool{false, true} {
		s, err := New(Config{Hosts: 10, PagesPerHost: 20, NoSmallHosts: uniform})
		if err != nil {
			t.Fatal(err)
		}
		addrs := make([]string, 10)
		for i := range addrs {
			addrs[i] = fmt.Sprintf("127.0.0.%d:80", 10+i)
		}
		robots := string(s.robotsTxt(addrs, 9).body)
		if got := strings.Contains(robots, "Crawl-delay"); got == uniform {
			t.Errorf("NoSmallHosts %v: host 9 robots.txt has Crawl-delay %v:\n%s", uniform, got, robots)
		}
		if got := len(s.hosts[9].pages) == len(s.hosts[0].pages); got != uniform {
			t.Errorf("NoSmallHosts %v: host 9 has %d pages, host 0 %d", uniform, len(s.hosts[9].pages), len(s.hosts[0].pages))
		}
	}
}
