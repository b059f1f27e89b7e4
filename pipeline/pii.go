package pipeline

import (
	"net/netip"
	"regexp"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Redaction placeholders. They keep the sentence readable and tell a
// model that something was there.
const (
	RedactEmail = "[EMAIL]"
	RedactPhone = "[PHONE]"
	RedactIP    = "[IP]"
	RedactCard  = "[CARD]"
)

var (
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}`)
	// cardRE finds 13-19 digits, optionally grouped by spaces or dashes.
	cardRE = regexp.MustCompile(`\b\d(?:[ \-]?\d){12,18}\b`)
	ipv4RE = regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}\b`)
	ipv6RE = regexp.MustCompile(`(?i)\b(?:[0-9a-f]{1,4}:){2,7}(?::[0-9a-f]{0,4}|[0-9a-f]{1,4})(?::[0-9a-f]{1,4})*\b`)
	// phoneRE finds phone-number candidates: an optional +CC or (area)
	// then digit groups; isPhone and the context decide.
	phoneRE = regexp.MustCompile(`(?:\+\d{1,3}|\(\d{1,4}\)|\d{1,5})(?:[ .\-]?(?:\(\d{1,4}\)|\d{1,5})){1,7}\b`)
	// isoDateRE marks a date inside a candidate (2006-02-28).
	isoDateRE = regexp.MustCompile(`(?:19|20)\d\d[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])`)
)

// PIICounts counts redactions by kind.
type PIICounts struct {
	Email, Phone, IP, Card int
}

// Total is the number of redacted spans.
func (c PIICounts) Total() int { return c.Email + c.Phone + c.IP + c.Card }

// RedactPII replaces e-mail addresses, phone numbers, public IP addresses
// and Luhn-valid card numbers with placeholders. Lines are screened with
// cheap byte counts first, so text without candidates costs one scan.
func RedactPII(s string) (string, PIICounts) {
	var n PIICounts
	if !strings.ContainsAny(s, "@0123456789") {
		return s, n
	}
	lines := strings.Split(s, "\n")
	changed := false
	for i, l := range lines {
		digits, at, colons := 0, false, 0
		for j := 0; j < len(l); j++ {
			switch c := l[j]; {
			case c >= '0' && c <= '9':
				digits++
			case c == '@':
				at = true
			case c == ':':
				colons++
			}
		}
		if digits < 4 && !at && colons < 2 {
			continue
		}
		if r := redactLine(l, digits, at, colons, &n); r != l {
			lines[i], changed = r, true
		}
	}
	if !changed {
		return s, n
	}
	return strings.Join(lines, "\n"), n
}

func redactLine(s string, digits int, at bool, colons int, n *PIICounts) string {
	if digits >= 13 {
		s = replaceIf(s, cardRE, func(i, j int) bool {
			return numberInProse(s, i, j) && luhnValid(s[i:j])
		}, RedactCard, &n.Card)
	}
	if at {
		s = emailRE.ReplaceAllStringFunc(s, func(m string) string {
			n.Email++
			return RedactEmail
		})
	}
	if digits >= 4 && strings.Count(s, ".") >= 3 {
		s = ipv4RE.ReplaceAllStringFunc(s, func(m string) string {
			if publicIP(m) {
				n.IP++
				return RedactIP
			}
			return m
		})
	}
	if colons >= 2 {
		s = ipv6RE.ReplaceAllStringFunc(s, func(m string) string {
			if publicIP(m) {
				n.IP++
				return RedactIP
			}
			return m
		})
	}
	if digits >= 9 {
		s = replaceIf(s, phoneRE, func(i, j int) bool {
			return numberInProse(s, i, j) && !isoDateRE.MatchString(s[i:j]) && isPhone(s[i:j])
		}, RedactPhone, &n.Phone)
	}
	return s
}

// publicIP reports a globally routable unicast address.
func publicIP(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	return a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() &&
		!(a.Is4() && a.As4()[0] >= 224) && !isDocumentationIP(a)
}

// isDocumentationIP reports the TEST-NET and 2001:db8::/32 ranges, which
// are examples, not anybody's address.
func isDocumentationIP(a netip.Addr) bool {
	for _, p := range []string{"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"} {
		if netip.MustParsePrefix(p).Contains(a) {
			return true
		}
	}
	return false
}

// phoneRegions are the regions a number without +CC is tried in: one
// valid national number in any of them (with its trunk prefix and
// grouping) is enough. International numbers are checked against their
// own country's rules.
var phoneRegions = []string{"US", "GB", "FR", "DE", "ES", "IT", "NL", "BE", "CH", "AT", "PT", "IE", "SE", "PL", "AU", "IN", "BR", "MX", "JP"}

// isPhone keeps candidates with 9 to 15 digits that libphonenumber's
// per-region rules accept: a valid number for +CC forms, a possible US
// number for the (area) form, and for bare digit groups a valid national
// number in one of phoneRegions, written with at least two separators.
func isPhone(m string) bool {
	digits := 0
	for _, r := range m {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	if digits < 9 || digits > 15 {
		return false
	}
	if strings.HasPrefix(m, "+") {
		num, err := phonenumbers.Parse(m, "ZZ")
		return err == nil && phonenumbers.IsValidNumber(num)
	}
	if strings.HasPrefix(m, "(") {
		num, err := phonenumbers.Parse(m, "US")
		return err == nil && phonenumbers.IsPossibleNumber(num)
	}
	seps := strings.Count(m, "-") + strings.Count(m, " ") + strings.Count(m, ".")
	if seps < 2 || strings.Count(m, ".") == 1 {
		return false
	}
	for _, region := range phoneRegions {
		if num, err := phonenumbers.Parse(m, region); err == nil && phonenumbers.IsValidNumberForRegion(num, region) {
			return true
		}
	}
	return false
}

// numberInProse reports whether the digits at s[i:j] stand on their own in
// text: not inside a URL or path, not part of a decimal number or a time,
// and not an ISBN.
func numberInProse(s string, i, j int) bool {
	// the whitespace-delimited token holding the match
	ts := strings.LastIndexAny(s[:i], " \t") + 1
	te := len(s)
	if k := strings.IndexAny(s[j:], " \t"); k >= 0 {
		te = j + k
	}
	if tok := s[ts:te]; strings.Contains(tok, "://") || strings.HasPrefix(tok, "www.") || strings.ContainsAny(s[ts:i], "/=?&#") || strings.HasPrefix(s[j:], "/") {
		return false
	}
	digit := func(k int) bool { return k >= 0 && k < len(s) && s[k] >= '0' && s[k] <= '9' }
	if i >= 2 && (s[i-1] == '.' || s[i-1] == ',') && digit(i-2) {
		return false // fraction digits of a decimal
	}
	if j+1 < len(s) && (s[j] == '.' || s[j] == ',' || s[j] == ':') && digit(j+1) {
		return false // integer part of a decimal, or hours of a time
	}
	if i >= 1 && s[i-1] == ':' && digit(i-2) {
		return false
	}
	before := strings.ToLower(s[max(0, i-16):i])
	return !strings.Contains(before, "isbn")
}

// replaceIf replaces each match of re in s that keep accepts with repl,
// counting replacements in *n.
func replaceIf(s string, re *regexp.Regexp, keep func(i, j int) bool, repl string, n *int) string {
	locs := re.FindAllStringIndex(s, -1)
	if len(locs) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, l := range locs {
		if !keep(l[0], l[1]) {
			continue
		}
		b.WriteString(s[last:l[0]])
		b.WriteString(repl)
		last = l[1]
		*n++
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// luhnValid checks the card-number checksum over the digits of s.
func luhnValid(s string) bool {
	sum, n := 0, 0
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if n%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		n++
	}
	return n >= 13 && n <= 19 && sum%10 == 0 && strings.Trim(s, string(s[0])+" -") != ""
}
