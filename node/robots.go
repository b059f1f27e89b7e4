package node

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// MaxRobotsBytes is how much of a robots.txt file is parsed (RFC 9309
// section 2.5 asks for at least 500 KiB); the rest is ignored.
const MaxRobotsBytes = 500 << 10

// Robots is a parsed robots.txt file with RFC 9309 semantics.
//
// sward parses robots.txt itself rather than with temoto/robotstxt (the
// parser colly bundles) because that library breaks RFC 9309 section 2.2.2
// in two ways that change verdicts: on rules of equal length the first one
// listed wins instead of the least restrictive (allow), and a wildcard rule's
// length is measured on its compiled regular expression rather than on its
// octets. It also neither merges groups naming the same agent nor
// normalises percent-encoding before comparing.
type Robots struct {
	groups []robotsGroup
	// allowAll and disallowAll stand for a missing (4xx) and an unreachable
	// (5xx, network error) file.
	allowAll, disallowAll bool
}

type robotsGroup struct {
	agents     []string
	rules      []robotsRule
	usage      []robotsUsage
	crawlDelay time.Duration
	hasDelay   bool
}

// robotsUsage is a Content-Usage rule (IETF aipref, "Indicating
// Preferences Regarding Content Usage" attached to robots.txt): the usage
// preferences, such as "train-ai=n", for the paths matching pattern.
type robotsUsage struct {
	pattern string // normalised, as for allow and disallow; "/" without a path
	prefs   string
}

type robotsRule struct {
	allow   bool
	pattern string // normalised; '*' and a final '$' are special
}

// RobotsAllowAll is the verdict for a robots.txt that does not exist.
func RobotsAllowAll() *Robots { return &Robots{allowAll: true} }

// RobotsDisallowAll is the verdict for a robots.txt that cannot be reached.
func RobotsDisallowAll() *Robots { return &Robots{disallowAll: true} }

// ParseRobots parses a robots.txt body. It never fails: lines it cannot
// understand are ignored, as RFC 9309 requires. Only the first
// MaxRobotsBytes are read.
func ParseRobots(body []byte) *Robots {
	if len(body) > MaxRobotsBytes {
		body = body[:MaxRobotsBytes]
		// Drop the partial last line so a cut rule is not misread.
		if i := bytes.LastIndexAny(body, "\r\n"); i >= 0 {
			body = body[:i]
		}
	}
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	r := &Robots{}
	var cur *robotsGroup
	inAgents := false
	for len(body) > 0 {
		var line []byte
		if i := bytes.IndexAny(body, "\r\n"); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		k := strings.ToLower(strings.TrimSpace(string(key)))
		v := strings.TrimSpace(string(val))
		switch k {
		case "user-agent", "useragent", "user agent":
			if !inAgents || cur == nil {
				r.groups = append(r.groups, robotsGroup{})
				cur = &r.groups[len(r.groups)-1]
			}
			inAgents = true
			cur.agents = append(cur.agents, agentToken(v))
		case "allow", "disallow", "dissallow", "dissalow", "disalow":
			inAgents = false
			if cur == nil || v == "" {
				// Rules outside a group, and empty rules, match nothing.
				continue
			}
			cur.rules = append(cur.rules, robotsRule{allow: k == "allow", pattern: normalizeRobotsPath(v)})
		case "content-usage":
			inAgents = false
			if cur == nil || v == "" {
				continue
			}
			// "Content-Usage: [path] preferences": the path is optional and
			// starts with "/" (or a wildcard); without it the rule covers
			// every path of the site.
			pattern, prefs := "/", v
			if v[0] == '/' || v[0] == '*' {
				pattern, prefs = v, ""
				if i := strings.IndexAny(v, " \t"); i >= 0 {
					pattern, prefs = v[:i], v[i+1:]
				}
				pattern, prefs = normalizeRobotsPath(pattern), strings.TrimSpace(prefs)
			}
			if prefs == "" {
				continue
			}
			cur.usage = append(cur.usage, robotsUsage{pattern: pattern, prefs: prefs})
		case "crawl-delay":
			inAgents = false
			if cur == nil {
				continue
			}
			if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 && secs < 1e6 {
				cur.crawlDelay = time.Duration(secs * float64(time.Second))
				cur.hasDelay = true
			}
		default:
			// Sitemap and unknown records do not end a run of user-agent
			// lines in practice, but RFC 9309 groups end at the next
			// user-agent after a rule, which the cases above handle.
		}
	}
	return r
}

// agentToken reduces a user-agent line value to its lowercase product token
// ("Swardbot/1.0 (+url)" -> "swardbot").
func agentToken(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if i := strings.IndexAny(v, "/ \t"); i >= 0 {
		v = v[:i]
	}
	return v
}

// groupsFor returns the groups that name token or, when none does, the
// groups for "*".
func (r *Robots) groupsFor(token string) []*robotsGroup {
	token = strings.ToLower(token)
	var matched []*robotsGroup
	for _, want := range []string{token, "*"} {
		for i := range r.groups {
			for _, a := range r.groups[i].agents {
				if a == want {
					matched = append(matched, &r.groups[i])
					break
				}
			}
		}
		if len(matched) > 0 {
			break
		}
	}
	return matched
}

// rulesFor merges the groups that name token (or, failing that, "*").
func (r *Robots) rulesFor(token string) (rules []robotsRule, delay time.Duration, hasDelay bool) {
	for _, g := range r.groupsFor(token) {
		rules = append(rules, g.rules...)
		if g.hasDelay && (!hasDelay || g.crawlDelay > delay) {
			delay, hasDelay = g.crawlDelay, true
		}
	}
	return rules, delay, hasDelay
}

// Allowed reports whether token may fetch pathQuery (the URL's path and
// query). When a rule decided, it is returned as "allow: /x" or
// "disallow: /x".
func (r *Robots) Allowed(token, pathQuery string) (bool, string) {
	switch {
	case r.allowAll:
		return true, ""
	case r.disallowAll:
		return false, "robots.txt unreachable"
	}
	if pathQuery == "" {
		pathQuery = "/"
	}
	p := normalizeRobotsPath(pathQuery)
	if p == "/robots.txt" {
		return true, ""
	}
	rules, _, _ := r.rulesFor(token)
	best := -1
	var bestRule robotsRule
	for _, rule := range rules {
		if !robotsMatch(rule.pattern, p) {
			continue
		}
		n := len(rule.pattern)
		if n > best || (n == best && rule.allow && !bestRule.allow) {
			best, bestRule = n, rule
		}
	}
	if best < 0 {
		return true, ""
	}
	if bestRule.allow {
		return true, "allow: " + bestRule.pattern
	}
	return false, "disallow: " + bestRule.pattern
}

// ContentUsage returns the usage preferences (IETF aipref vocabulary, for
// example "train-ai=n, search=y") that the group for token states for
// pathQuery in Content-Usage rules, or "" when none applies. As with allow
// and disallow, the rule with the longest matching path wins; rules of
// equal length are all returned, joined, so the most restrictive of them
// is honoured by whoever reads the preferences.
func (r *Robots) ContentUsage(token, pathQuery string) string {
	if r.allowAll || r.disallowAll {
		return ""
	}
	if pathQuery == "" {
		pathQuery = "/"
	}
	p := normalizeRobotsPath(pathQuery)
	best := -1
	var prefs []string
	for _, g := range r.groupsFor(token) {
		for _, u := range g.usage {
			if !robotsMatch(u.pattern, p) {
				continue
			}
			switch n := len(u.pattern); {
			case n > best:
				best, prefs = n, []string{u.prefs}
			case n == best:
				prefs = append(prefs, u.prefs)
			}
		}
	}
	return strings.Join(prefs, ", ")
}

// CrawlDelay returns the crawl-delay the group for token asks for.
func (r *Robots) CrawlDelay(token string) time.Duration {
	if r.allowAll || r.disallowAll {
		return 0
	}
	_, d, _ := r.rulesFor(token)
	return d
}

// robotsMatch matches a normalised path against a pattern where '*' matches
// any run of octets and a final '$' anchors the end. Greedy matching with
// one backtrack point keeps it linear in practice and never exponential.
func robotsMatch(pattern, path string) bool {
	anchored := strings.HasSuffix(pattern, "$")
	if anchored {
		pattern = pattern[:len(pattern)-1]
	}
	if !strings.Contains(pattern, "*") {
		if anchored {
			return path == pattern
		}
		return strings.HasPrefix(path, pattern)
	}
	if !anchored {
		// A prefix match equals a full match of pattern+"*".
		pattern += "*"
	}
	p, s := 0, 0
	star, mark := -1, 0
	for s < len(path) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, s
			p++
		case p < len(pattern) && pattern[p] == path[s]:
			p++
			s++
		case star >= 0:
			p = star + 1
			mark++
			s = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// normalizeRobotsPath applies RFC 9309 section 2.2.2: percent-encode octets
// outside printable ASCII, decode percent-encoded unreserved characters, and
// upper-case the remaining escapes, so "/%7Efoo" and "/~foo" compare equal.
// '*' and '$' pass through: they are wildcards only on the pattern side.
func normalizeRobotsPath(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			v := unhex(s[i+1])<<4 | unhex(s[i+2])
			if isUnreserved(v) {
				b.WriteByte(v)
			} else {
				b.WriteByte('%')
				b.WriteByte(hex[v>>4])
				b.WriteByte(hex[v&15])
			}
			i += 2
		case c <= 0x20 || c >= 0x7f:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func isUnreserved(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
