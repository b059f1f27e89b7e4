package schemas

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// ErrBadURL is wrapped by NormalizeURL errors: the URL is not an absolute
// http(s) URL the frontier can hold.
var ErrBadURL = errors.New("not a crawlable http(s) URL")

// maxURLLength bounds what the frontier stores; longer URLs are almost always
// traps (session ids, calendars) and browsers cap near this too.
const maxURLLength = 8192

// trackingParams are query parameters that identify a click or campaign,
// never a different page. Names are compared lowercase.
var trackingParams = map[string]bool{
	"gclid": true, "dclid": true, "gbraid": true, "wbraid": true, "gclsrc": true,
	"fbclid": true, "msclkid": true, "yclid": true, "twclid": true, "ttclid": true,
	"igshid": true, "li_fat_id": true, "mc_cid": true, "mc_eid": true,
	"ref_src": true, "ref_url": true, "_hsenc": true, "_hsmi": true,
	"mkt_tok": true, "vero_id": true, "vero_conv": true, "oly_anon_id": true,
	"oly_enc_id": true, "wickedid": true, "rb_clickid": true, "s_cid": true,
	"_openstat": true, "spm": true,
}

// isTrackingParam reports whether a (decoded) query parameter name only
// tracks the visitor.
func isTrackingParam(name string) bool {
	name = strings.ToLower(name)
	return strings.HasPrefix(name, "utm_") || trackingParams[name]
}

// NormalizeURL returns the canonical spelling of an http(s) URL, so that
// every spelling of one page has one frontier entry: scheme and host are
// lowercased (internationalised hosts become punycode, a trailing dot is
// dropped), default ports, user info and the fragment are removed, dot
// segments are resolved, an empty path becomes "/", percent-encoding is
// normalised (unreserved characters decoded, other escapes uppercased,
// characters that must be escaped are escaped), and tracking parameters
// (utm_*, gclid, fbclid, mc_cid, ...) are dropped while the other query
// parameters keep their order. NormalizeURL(NormalizeURL(u)) equals
// NormalizeURL(u).
func NormalizeURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if len(raw) > maxURLLength {
		return "", fmt.Errorf("normalize URL of %d bytes: longer than %d: %w", len(raw), maxURLLength, ErrBadURL)
	}
	u, err := url.Parse(fixStrayPercents(raw))
	if err != nil {
		return "", fmt.Errorf("normalize URL: %w: %w", ErrBadURL, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", fmt.Errorf("normalize URL %q: scheme %q: %w", raw, u.Scheme, ErrBadURL)
	}
	if u.Opaque != "" || u.Host == "" {
		return "", fmt.Errorf("normalize URL %q: no host: %w", raw, ErrBadURL)
	}
	host, err := normalizeHost(u.Hostname())
	if err != nil {
		return "", fmt.Errorf("normalize URL %q: %w", raw, err)
	}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("normalize URL %q: port %q: %w", raw, port, ErrBadURL)
		}
		if !(scheme == "http" && n == 80) && !(scheme == "https" && n == 443) {
			host += ":" + strconv.Itoa(n)
		}
	}

	path := removeDotSegments(normalizeEscapes(u.EscapedPath(), isPathChar))
	if path == "" {
		path = "/"
	}
	var b strings.Builder
	b.Grow(len(raw))
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(host)
	b.WriteString(path)
	if q := normalizeQuery(u.RawQuery); q != "" {
		b.WriteByte('?')
		b.WriteString(q)
	}
	out := b.String()
	if len(out) > maxURLLength {
		return "", fmt.Errorf("normalize URL: normalised form of %d bytes is longer than %d: %w", len(out), maxURLLength, ErrBadURL)
	}
	return out, nil
}

// URLKey is the frontier's seen-set key for a normalised URL: the first 128
// bits of its SHA-256. A cryptographic hash keeps a hostile node from
// crafting colliding outlinks that would hide a page from the crawl.
func URLKey(normalized string) [16]byte {
	sum := sha256.Sum256([]byte(normalized))
	var k [16]byte
	copy(k[:], sum[:16])
	return k
}

// normalizeHost lowercases a host name (IDNs to punycode) or canonicalises
// an IP literal, returning it ready to put in a URL (IPv6 in brackets).
func normalizeHost(h string) (string, error) {
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return "", fmt.Errorf("empty host: %w", ErrBadURL)
	}
	if strings.Contains(h, ":") {
		a, err := netip.ParseAddr(h)
		if err != nil || a.Zone() != "" || !a.Is6() {
			return "", fmt.Errorf("host %q is not an IPv6 address: %w", h, ErrBadURL)
		}
		return "[" + a.String() + "]", nil
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.String(), nil
	}
	ascii := true
	for i := 0; i < len(h); i++ {
		if h[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if !ascii {
		p, err := idna.Lookup.ToASCII(h)
		if err != nil {
			return "", fmt.Errorf("host %q: %w: %w", h, ErrBadURL, err)
		}
		h = p
	}
	h = strings.ToLower(h)
	if len(h) > 253 {
		return "", fmt.Errorf("host of %d bytes is too long: %w", len(h), ErrBadURL)
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("host %q has an empty or over-long label: %w", h, ErrBadURL)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("host %q has character %q: %w", h, c, ErrBadURL)
			}
		}
	}
	return h, nil
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isSubDelim(c byte) bool {
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=':
		return true
	}
	return false
}

// isPathChar reports whether c may appear unescaped in a path (RFC 3986
// pchar plus the separator).
func isPathChar(c byte) bool {
	return isUnreserved(c) || isSubDelim(c) || c == ':' || c == '@' || c == '/'
}

// isQueryChar reports whether c may appear unescaped in a query.
func isQueryChar(c byte) bool {
	return isPathChar(c) || c == '?'
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

const upperHex = "0123456789ABCDEF"

// normalizeEscapes rewrites an escaped URL component so that each byte has
// one spelling: escapes of unreserved characters are decoded, other escapes
// are uppercased, a stray '%' becomes %25, and bytes not allowed raw are
// escaped.
func normalizeEscapes(s string, allowed func(byte) bool) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				v := hi<<4 | lo
				if isUnreserved(v) {
					b.WriteByte(v)
				} else {
					b.WriteByte('%')
					b.WriteByte(upperHex[v>>4])
					b.WriteByte(upperHex[v&15])
				}
				i += 2
				continue
			}
		}
		if c != '%' && allowed(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

// fixStrayPercents escapes a '%' that starts no valid escape, as browsers
// do, so that "100%/x" parses.
func fixStrayPercents(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+2 < len(s) {
			if _, ok := unhex(s[i+1]); ok {
				if _, ok := unhex(s[i+2]); ok {
					continue
				}
			}
		}
		return fixFrom(s, i)
	}
	return s
}

// fixFrom rewrites s from the first stray '%' at i on.
func fixFrom(s string, i int) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			ok := i+2 < len(s)
			if ok {
				_, ok1 := unhex(s[i+1])
				_, ok2 := unhex(s[i+2])
				ok = ok1 && ok2
			}
			if !ok {
				b.WriteString("%25")
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// removeDotSegments resolves "." and ".." path segments (RFC 3986 5.2.4)
// in an absolute path.
func removeDotSegments(p string) string {
	if p == "" {
		return ""
	}
	if !strings.Contains(p, ".") {
		return p
	}
	segs := strings.Split(p, "/")
	// segs[0] is "" for an absolute path.
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	r := strings.Join(out, "/")
	if !strings.HasPrefix(r, "/") {
		r = "/" + r
	}
	return r
}

// normalizeQuery drops tracking and empty parameters and normalises the
// escapes of the rest, keeping their order.
func normalizeQuery(q string) string {
	if q == "" {
		return ""
	}
	parts := strings.Split(q, "&")
	kept := parts[:0]
	for _, p := range parts {
		if p == "" {
			continue
		}
		p = normalizeEscapes(p, isQueryChar)
		name, _, _ := strings.Cut(p, "=")
		if dec, err := url.QueryUnescape(name); err == nil {
			name = dec
		}
		if isTrackingParam(name) {
			continue
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, "&")
}
