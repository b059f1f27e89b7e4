package site

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxRedirects bounds how many 301 hops the oracle follows, like a crawler.
const maxRedirects = 10

// isHTML reports whether pages of this kind are HTML documents a crawler
// captures and parses for links.
func isHTML(kind string) bool {
	switch kind {
	case KindIndex, KindArticle, KindPII, KindDuplicate, KindOptOut, KindJunk,
		KindStatic, KindTrap, KindDisallowed, KindHidden:
		return true
	}
	return false
}

// links returns the in-site links of an HTML page, rendering it once.
func (s *Site) links(r ref) []ref {
	s.graphMu.Lock()
	ls, ok := s.graph[r]
	s.graphMu.Unlock()
	if ok {
		return ls
	}
	p := s.hosts[r.host].lookup(r.path)
	if p == nil || !isHTML(p.kind) {
		return nil
	}
	ls = s.respond(s.Hosts(), r.host, r.path).links
	if p.kind != KindTrap { // the trap is endless: never cache it
		s.graphMu.Lock()
		s.graph[r] = ls
		s.graphMu.Unlock()
	}
	return ls
}

// resolve follows redirects from r as a crawler does, checking robots.txt on
// every hop. It returns the final page if that is an allowed HTML page.
func (s *Site) resolve(r ref) (ref, bool) {
	for range maxRedirects {
		if disallowed(r.path) {
			return ref{}, false
		}
		p := s.hosts[r.host].lookup(r.path)
		switch {
		case p == nil:
			return ref{}, false
		case p.kind == KindRedirect:
			r = ref{r.host, p.location}
		case isHTML(p.kind):
			return r, true
		default:
			return ref{}, false
		}
	}
	return ref{}, false
}

// reach walks the link graph breadth first from starts (depth 0).
func (s *Site) reach(starts []ref, maxDepth int) []string {
	type item struct {
		r     ref
		depth int
	}
	seen := make(map[ref]bool)
	captured := make(map[ref]bool)
	var queue []item
	for _, r := range starts {
		if !seen[r] {
			seen[r] = true
			queue = append(queue, item{r, 0})
		}
	}
	var out []ref
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		final, ok := s.resolve(it.r)
		if !ok || captured[final] {
			continue
		}
		captured[final] = true
		seen[final] = true
		out = append(out, final)
		if it.depth >= maxDepth {
			continue
		}
		for _, l := range s.links(final) {
			if !seen[l] {
				seen[l] = true
				queue = append(queue, item{l, it.depth + 1})
			}
		}
	}
	addrs := s.Hosts()
	urls := make([]string, len(out))
	for i, r := range out {
		urls[i] = "http://" + addrs[r.host] + r.path
	}
	sort.Strings(urls)
	return urls
}

// Reachable is the test oracle: every URL of an HTML page a correct crawler
// must capture starting from Seeds(), following links up to maxDepth (seed =
// depth 0), honouring robots.txt Disallow, not following non-HTML resources,
// 404s or off-scope links; redirects count as the final URL, at the depth of
// the link that led to them. It is computed from the site's own link graph
// (the links the HTML renderer writes), without HTTP. URLs are sorted.
//
// Trap pages (the calendar) within maxDepth are included: they are HTML and
// in scope, so a crawler that respects maxDepth captures exactly those.
func (s *Site) Reachable(maxDepth int) []string {
	starts := make([]ref, len(s.hosts))
	for i := range s.hosts {
		starts[i] = ref{i, pathHome}
	}
	return s.reach(starts, maxDepth)
}

// ReachableWithSitemaps is Reachable for a crawler that also treats every URL
// listed in the sitemaps as a depth-0 seed. Every sitemap URL is within depth
// 2 of its home page on the default site, and the calendar is entered only
// from home pages, so for maxDepth >= 3 both oracles agree; they differ only
// for shallow crawls.
func (s *Site) ReachableWithSitemaps(maxDepth int) []string {
	var starts []ref
	for i, hp := range s.hosts {
		starts = append(starts, ref{i, pathHome})
		for _, path := range hp.sitemapPaths() {
			starts = append(starts, ref{i, path})
		}
	}
	return s.reach(starts, maxDepth)
}

// PageInfo describes a URL of the site (for tests).
type PageInfo struct {
	Kind        string    // one of the Kind* constants
	Variant     string    // opt-out signal, junk type, resource format, or static page name
	Lang        string    // ISO 639-1 code of the page text; "" for non-HTML
	Title       string    // article title; "" for other pages
	Author      string    // article byline
	Published   time.Time // article publication time
	DuplicateOf string    // URL of the original of a duplicate
	Status      int       // HTTP status the site answers with; 0 for off-site URLs
}

// parse maps a URL onto a host index and path; ok is false for URLs on no
// host of the site. The port is not compared, so a URL stays recognisable
// whichever port the host was given.
func (s *Site) parse(rawURL string) (host int, path string, ok bool) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "") {
		return 0, "", false
	}
	ip := u.Hostname()
	const prefix = "127.0.0."
	if !strings.HasPrefix(ip, prefix) {
		return 0, "", false
	}
	octet, err := strconv.Atoi(ip[len(prefix):])
	if err != nil || octet < 10 || octet-10 >= len(s.hosts) {
		return 0, "", false
	}
	path = u.Path
	if path == "" {
		path = pathHome
	}
	return octet - 10, path, true
}

// Kind reports what a URL is: one of the Kind* constants ("article",
// "duplicate", "junk", "trap", "optout", "resource", "index", ...). URLs on
// no host of the site are KindOffsite; unknown paths are KindNotFound.
func (s *Site) Kind(rawURL string) string {
	return s.Info(rawURL).Kind
}

// Info describes a URL of the site in more detail than Kind.
func (s *Site) Info(rawURL string) PageInfo {
	host, path, ok := s.parse(rawURL)
	if !ok {
		return PageInfo{Kind: KindOffsite}
	}
	p := s.hosts[host].lookup(path)
	if p == nil {
		return PageInfo{Kind: KindNotFound, Status: http.StatusNotFound}
	}
	info := PageInfo{Kind: p.kind, Variant: p.variant, Status: http.StatusOK}
	if isHTML(p.kind) {
		info.Lang = p.lang.code
	}
	if p.kind == KindRedirect {
		info.Status = http.StatusMovedPermanently
	}
	if p.meta != nil {
		info.Title, info.Author, info.Published = p.meta.title, p.meta.author, p.meta.published
	}
	if p.orig != nil {
		info.DuplicateOf = "http://" + s.Hosts()[p.orig.host] + p.orig.path
	}
	return info
}
