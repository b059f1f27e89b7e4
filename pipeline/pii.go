package pipeline

import (
	"net/netip"
	"regexp"
	"strings"
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
	// phoneRE finds international (+CC ...) and grouped national numbers;
	// matches are kept only with 9 to 15 digits.
	phoneRE = regexp.MustCompile(`(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-]\d{2,4}){1,4}\b|\+\d{9,15}\b`)
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
		s = cardRE.ReplaceAllStringFunc(s, func(m string) string {
			if luhnValid(m) {
				n.Card++
				return RedactCard
			}
			return m
		})
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
		s = phoneRE.ReplaceAllStringFunc(s, func(m string) string {
			if isPhone(m) {
				n.Phone++
				return RedactPhone
			}
			return m
		})
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

// isPhone keeps matches with a plausible number of digits that do not look
// like a date, a year range or a decimal number.
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
	if strings.HasPrefix(m, "+") || strings.Contains(m, "(") {
		return true
	}
	// bare groups: require phone-like separators and no dotted-date shape
	seps := strings.Count(m, "-") + strings.Count(m, " ") + strings.Count(m, ".")
	return seps >= 2 && strings.Count(m, ".") != 1
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
