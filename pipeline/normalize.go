package pipeline

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// Normalize makes text canonical: mojibake repaired where detectable,
// Unicode NFC, invisible and control characters removed, whitespace
// collapsed inside lines, blank lines dropped.
func Normalize(s string) string {
	s = RepairMojibake(s)
	s = norm.NFC.String(s)
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = cleanLine(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// cleanLine drops control and zero-width characters and collapses runs of
// whitespace.
func cleanLine(l string) string {
	var b strings.Builder
	b.Grow(len(l))
	space := false
	for _, r := range l {
		switch {
		case r == '\u200b' || r == '\u200c' || r == '\u200d' || r == '\ufeff' || r == '\u00ad' || r == utf8.RuneError:
			continue
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r):
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mojibakeMarkers are what UTF-8 looks like when read as Windows-1252:
// a lead byte 0xC2-0xC3 or 0xE2 rendered as Â/Ã/â followed by a
// continuation byte rendered as a Latin-1 or Windows-1252 symbol.
var mojibakeRE = regexp.MustCompile(`[ÂÃ][\x{80}-\x{BF}\x{152}\x{153}\x{160}\x{161}\x{178}\x{17D}\x{17E}\x{192}\x{2C6}\x{2DC}\x{2013}\x{2014}\x{2018}-\x{201E}\x{2020}-\x{2022}\x{2026}\x{2030}\x{2039}\x{203A}\x{20AC}\x{2122}]|â€[\x{2122}\x{153}\x{9D}\x{A6}\x{201C}\x{201D}\x{2013}\x{2014}\x{2DC}\x{A2}\x{A0}\x{AA}\x{B9}\x{BA}\x{A1}]|â€`)

// RepairMojibake undoes UTF-8 text that was decoded as Windows-1252 (the
// "Ã©" and "â€™" artefacts), line by line, only where re-encoding gives
// valid UTF-8 with fewer artefacts.
func RepairMojibake(s string) string {
	if !strings.Contains(s, "Ã") && !strings.Contains(s, "Â") && !strings.Contains(s, "â€") {
		return s
	}
	if !mojibakeRE.MatchString(s) {
		return s
	}
	lines := strings.Split(s, "\n")
	enc := charmap.Windows1252.NewEncoder()
	for i, l := range lines {
		before := len(mojibakeRE.FindAllStringIndex(l, -1))
		if before == 0 {
			continue
		}
		raw, err := enc.String(l)
		if err != nil || !utf8.ValidString(raw) {
			continue
		}
		if len(mojibakeRE.FindAllStringIndex(raw, -1)) < before {
			lines[i] = raw
		}
	}
	return strings.Join(lines, "\n")
}

// c4PolicyPhrases are C4's markers of cookie and legal boilerplate lines.
var c4PolicyPhrases = []string{
	"terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies",
}

var citationRE = regexp.MustCompile(`\[\d+\]|\[edit\]|\[citation needed\]`)

// c4Lines applies C4's line-level filters and reports what it removed.
// Unspaced scripts skip the words-per-line rule.
func c4Lines(text, lang string, cfg *Config) (string, int) {
	lines := strings.Split(text, "\n")
	out := lines[:0]
	removed := 0
	for _, l := range lines {
		if strings.IndexByte(l, '[') >= 0 {
			l = citationRE.ReplaceAllString(l, "")
		}
		l = strings.TrimSpace(l)
		low := strings.ToLower(l)
		drop := l == ""
		if !drop && cfg.C4MinWordsPerLine > 0 && !noSpaceLangs[lang] && float64(countFields(l)) < cfg.C4MinWordsPerLine {
			drop = true
		}
		if !drop && strings.Contains(low, "javascript") {
			drop = true
		}
		if !drop {
			for _, p := range c4PolicyPhrases {
				if strings.Contains(low, p) {
					drop = true
					break
				}
			}
		}
		if !drop && cfg.C4MaxWordLength > 0 {
			for _, w := range strings.Fields(l) {
				if float64(utf8.RuneCountInString(w)) > cfg.C4MaxWordLength {
					drop = true
					break
				}
			}
		}
		if !drop && cfg.C4TerminalPunct && !endsWithTerminalPunct(l) {
			drop = true
		}
		if drop {
			if l != "" {
				removed++
			}
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n"), removed
}

func endsWithTerminalPunct(l string) bool {
	l = strings.TrimRight(l, " \"'”’)»")
	r, _ := utf8.DecodeLastRuneInString(l)
	switch r {
	case '.', '!', '?', '。', '！', '？', '…', ':', ';':
		return true
	}
	return strings.HasSuffix(l, "...")
}

// countFields counts whitespace-separated fields without allocating.
func countFields(s string) int {
	n, in := 0, false
	for _, r := range s {
		if unicode.IsSpace(r) {
			in = false
			continue
		}
		if !in {
			n++
			in = true
		}
	}
	return n
}
