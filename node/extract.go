package node

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/saintfish/chardet"
	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/transform"
)

// maxOutlinks bounds the links kept from one page.
const maxOutlinks = 5000

// MaxURLBytes bounds a URL the node keeps or follows, measured after it is
// resolved against the page, its <base href> or a redirect: longer ones are
// dropped (crawlers and browsers commonly stop at about 2 KiB).
const MaxURLBytes = 2048

// maxOutlinkBytes bounds the total bytes of the outlinks kept from one HTML
// page; maxSitemapBytes those of one sitemap. With MaxURLBytes they cap what
// a hostile page can make the node hold, whatever its <base href>.
const (
	maxOutlinkBytes = 1 << 20
	maxSitemapBytes = 4 << 20
)

// pageMeta is what the fetcher reads from an HTML page besides its links.
type pageMeta struct {
	outlinks []string
	// robots holds the directives of <meta name="robots"> and
	// <meta name="swardbot">, lowercased.
	robots       []string
	tdmReserved  string // "" when absent
	tdmPolicy    string
	contentUsage string
}

// parseHTML tokenises a page once: <base href>, <a>/<area> links (honouring
// rel=nofollow), and the robots, TDMRep and content-usage meta tags. The
// tokenizer never builds a tree, so hostile nesting cannot blow the stack
// or the heap.
func parseHTML(body []byte, pageURL *url.URL) pageMeta {
	var m pageMeta
	base := newLinkBase(pageURL)
	baseSeen := false
	linkBytes := 0 // bytes of m.outlinks
	seen := make(map[string]struct{})
	z := html.NewTokenizer(bytes.NewReader(body))
	z.SetMaxBuf(1 << 20)
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return m
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		name, hasAttr := z.TagName()
		if !hasAttr {
			continue
		}
		switch string(name) {
		case "base":
			if baseSeen {
				continue
			}
			if href, ok := attr(z, "href"); ok {
				if u, err := pageURL.Parse(strings.TrimSpace(href)); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
					base = newLinkBase(u)
					baseSeen = true
				}
			}
		case "a", "area":
			if len(m.outlinks) >= maxOutlinks || linkBytes >= maxOutlinkBytes {
				continue
			}
			var href []byte
			hasHref, nofollow := false, false
			for {
				k, v, more := z.TagAttr()
				switch string(k) {
				case "href":
					if !hasHref {
						href, hasHref = v, true
					}
				case "rel":
					nofollow = nofollow || hasToken(string(v), "nofollow")
				}
				if !more {
					break
				}
			}
			if !hasHref || nofollow {
				continue
			}
			if link := absLink(base, string(href)); link != "" {
				if _, dup := seen[link]; !dup && linkBytes+len(link) <= maxOutlinkBytes {
					seen[link] = struct{}{}
					m.outlinks = append(m.outlinks, link)
					linkBytes += len(link)
				}
			}
		case "meta":
			attrs := attrMap(z)
			content := strings.TrimSpace(attrs["content"])
			switch strings.ToLower(strings.TrimSpace(attrs["name"])) {
			case "robots", RobotsToken:
				for _, d := range strings.Split(content, ",") {
					if d = strings.ToLower(strings.TrimSpace(d)); d != "" {
						m.robots = append(m.robots, d)
					}
				}
			case "tdm-reservation":
				m.tdmReserved = content
			case "tdm-policy":
				m.tdmPolicy = content
			case "content-usage":
				m.contentUsage = content
			}
		}
	}
}

func attr(z *html.Tokenizer, want string) (string, bool) {
	for {
		k, v, more := z.TagAttr()
		if string(k) == want {
			return string(v), true
		}
		if !more {
			return "", false
		}
	}
}

func attrMap(z *html.Tokenizer) map[string]string {
	m := make(map[string]string, 4)
	for {
		k, v, more := z.TagAttr()
		if _, dup := m[string(k)]; !dup {
			m[string(k)] = string(v)
		}
		if !more {
			return m
		}
	}
}

func hasToken(list, tok string) bool {
	for _, f := range strings.Fields(strings.ToLower(list)) {
		if f == tok {
			return true
		}
	}
	return false
}

// absLink resolves href against base and keeps it only if it is an
// absolute http(s) URL on an allowed port, at most MaxURLBytes long once
// resolved; the fragment is dropped.
func absLink(base linkBase, href string) string {
	href = strings.TrimSpace(href)
	if href == "" || strings.HasPrefix(href, "#") || len(href) > MaxURLBytes {
		return ""
	}
	ref, err := url.Parse(href)
	if err != nil {
		return ""
	}
	return base.resolve(ref)
}

// linkBase is a URL that references are resolved against. A base longer
// than MaxURLBytes (a hostile <base href> or redirect path) would make
// every relative-path reference at least as long, so those are dropped
// before they are built; references that replace the path are resolved
// against the base's scheme and host alone. Without this, each of a page's
// 5,000 links would build and throw away a URL as long as the base: a
// gigabyte of garbage per page with a 200 KB base.
type linkBase struct {
	u    *url.URL
	host *url.URL // scheme and host only, when long
	long bool
}

func newLinkBase(u *url.URL) linkBase {
	b := linkBase{u: u}
	if len(u.String()) > MaxURLBytes {
		b.long = true
		b.host = &url.URL{Scheme: u.Scheme, Host: u.Host}
	}
	return b
}

// resolve returns ref resolved against the base if the node may keep it
// (see keepLink), else "". On a long base a reference with neither scheme,
// host nor absolute path is dropped, even one whose dot segments would
// climb back under the limit.
func (b linkBase) resolve(ref *url.URL) string {
	if !b.long {
		return keepLink(b.u.ResolveReference(ref))
	}
	if ref.Scheme == "" && ref.Host == "" && !strings.HasPrefix(ref.Path, "/") {
		return ""
	}
	return keepLink(b.host.ResolveReference(ref))
}

// keepLink returns u as a string if the node may follow it: http or https,
// a host, a port that is not refused, no longer than MaxURLBytes. The
// fragment and any credentials are dropped. It returns "" otherwise.
func keepLink(u *url.URL) string {
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || checkPort(u.Port()) != nil {
		return ""
	}
	u.Fragment = ""
	u.RawFragment = ""
	u.User = nil
	s := u.String()
	if len(s) > MaxURLBytes {
		return ""
	}
	return s
}

// decodeBody converts body to UTF-8 and names the charset it decoded from.
// The encoding is chosen as a browser would (byte-order mark, then the
// Content-Type charset, then <meta> for HTML), except that the bytes
// outvote a declaration they contradict: a body that is valid UTF-8 with
// non-ASCII text is UTF-8 whatever it claims, and a body declared UTF-8 (or
// declaring nothing usable) that is not valid UTF-8 is sniffed. Whatever
// happens, the result is valid UTF-8.
func decodeBody(body []byte, contentType string) ([]byte, string) {
	if len(body) == 0 {
		return body, "utf-8"
	}
	enc, name, certain := charset.DetermineEncoding(body, contentType)
	bom := bytes.HasPrefix(body, []byte{0xef, 0xbb, 0xbf}) || bytes.HasPrefix(body, []byte{0xfe, 0xff}) || bytes.HasPrefix(body, []byte{0xff, 0xfe})
	hasHigh := hasHighBit(body)
	if !hasHigh && !bom && !strings.HasPrefix(name, "utf-16") {
		// Pure ASCII reads the same in every ASCII-compatible encoding.
		if !certain && name == "windows-1252" {
			name = "utf-8"
		}
		return body, name
	}
	valid := utf8.Valid(body)
	switch {
	case bom && certain:
	case hasHigh && valid:
		enc, name = encoding.Nop, "utf-8"
	case name == "utf-8" && !valid, !certain && name == "windows-1252":
		enc, name = sniffCharset(body)
	}
	if name == "utf-8" && !bom {
		if valid {
			return body, name
		}
		return []byte(strings.ToValidUTF8(string(body), "\uFFFD")), name
	}
	out, _, err := transform.Bytes(enc.NewDecoder(), body)
	if err != nil {
		return []byte(strings.ToValidUTF8(string(body), "\uFFFD")), "utf-8"
	}
	if !utf8.Valid(out) {
		out = []byte(strings.ToValidUTF8(string(out), "\uFFFD"))
	}
	return out, name
}

func hasHighBit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// sniffCharset guesses an encoding from the bytes: chardet's best guess, then windows-1252 (the web's default).
func sniffCharset(body []byte) (encoding.Encoding, string) {
	sample := body[:min(len(body), 64<<10)]
	if r, err := chardet.NewTextDetector().DetectBest(sample); err == nil && r.Confidence >= 50 {
		if e, name := charset.Lookup(r.Charset); e != nil && name != "utf-8" {
			return e, name
		}
	}
	e, name := charset.Lookup("windows-1252")
	return e, name
}

// optOut reads the AI/TDM opt-out signals from response headers, page meta
// and the site's TDMRep file (tdm may be nil).
func optOutSignals(h http.Header, meta pageMeta, tdm *tdmRep, pathQuery string) (noai, noindex bool, tdmReserved bool, tdmPolicy, contentUsage string) {
	for _, v := range h.Values("X-Robots-Tag") {
		for _, d := range xRobotsDirectives(v) {
			switch d {
			case "noai":
				noai = true
			case "noindex", "none":
				noindex = true
			}
		}
	}
	for _, d := range meta.robots {
		switch d {
		case "noai":
			noai = true
		case "noindex", "none":
			noindex = true
		}
	}
	// TDMRep (W3C CG report) gives precedence to the well-known file, then
	// the HTTP headers, then the HTML meta tags.
	decided := false
	if tdm != nil {
		if r, ok := tdm.match(pathQuery); ok {
			tdmReserved, tdmPolicy, decided = r.reserved, r.policy, true
		}
	}
	if !decided && h.Get("Tdm-Reservation") != "" {
		tdmReserved = strings.TrimSpace(h.Get("Tdm-Reservation")) == "1"
		tdmPolicy = strings.TrimSpace(h.Get("Tdm-Policy"))
		decided = true
	}
	if !decided && meta.tdmReserved != "" {
		tdmReserved = meta.tdmReserved == "1"
		tdmPolicy = meta.tdmPolicy
	}
	contentUsage = strings.Join(h.Values("Content-Usage"), ", ")
	if contentUsage == "" {
		contentUsage = meta.contentUsage
	}
	return noai, noindex, tdmReserved, tdmPolicy, contentUsage
}

// noFollow reports whether the page asks crawlers not to follow its links
// (X-Robots-Tag or meta robots "nofollow" or "none").
func noFollow(h http.Header, meta pageMeta) bool {
	for _, v := range h.Values("X-Robots-Tag") {
		for _, d := range xRobotsDirectives(v) {
			if d == "nofollow" || d == "none" {
				return true
			}
		}
	}
	for _, d := range meta.robots {
		if d == "nofollow" || d == "none" {
			return true
		}
	}
	return false
}

// xRobotsDirectives returns the directives of one X-Robots-Tag value that
// apply to sward: unscoped ones and those scoped "swardbot:".
func xRobotsDirectives(v string) []string {
	v = strings.ToLower(strings.TrimSpace(v))
	if name, rest, ok := strings.Cut(v, ":"); ok {
		name = strings.TrimSpace(name)
		if !strings.ContainsAny(name, ", ") && !knownArgDirective(name) {
			if name != RobotsToken {
				return nil
			}
			v = rest
		}
	}
	var out []string
	for _, d := range strings.Split(v, ",") {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}

func knownArgDirective(s string) bool {
	switch s {
	case "unavailable_after", "max-snippet", "max-image-preview", "max-video-preview":
		return true
	}
	return false
}
