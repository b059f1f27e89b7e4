package pipeline

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Post-extraction cleanup. Trafilatura keeps the page's headline and
// standfirst (both stored as Title and Description) and, on many news
// sites, a trailing run of "related stories" links. Both are removed from
// the body text so that Text is the article alone.

// linkDense reports a block that is mostly link text.
func linkDense(b block) bool {
	n := utf8.RuneCountInString(b.text)
	return n > 0 && float64(b.linkText) >= 0.5*float64(n)
}

// trimBlocks drops leading blocks that repeat the title or description and
// trailing blocks that are link lists.
func trimBlocks(bs []block, title, description string) []block {
	start := 0
	for start < len(bs) && start < 6 {
		t := bs[start].text
		short := utf8.RuneCountInString(t) < 250
		if sameText(t, title) || sameText(t, description) || (short && similarTitle(t, title)) || (short && linkDense(bs[start])) || isBylineLine(t) || isNavLine(t) {
			start++
			continue
		}
		break
	}
	bs = bs[start:]
	end := len(bs)
	for end > 0 {
		b := bs[end-1]
		if linkDense(b) || isCopyrightLine(b.text) || isCallToAction(b.text) || isNavLine(b.text) {
			end--
			continue
		}
		// a heading left at the end introduced the dropped links
		if b.kind == blockHeading && end < len(bs) {
			end--
			continue
		}
		break
	}
	if end == 0 {
		return bs
	}
	return dropPromoLines(bs[:end])
}

// promoRE matches newsletter and legal lines that sites put anywhere in
// an article, not only at its end.
var promoRE = regexp.MustCompile(`(?i)(sign up (for|to) (our|the)[^.]{0,40}newsletter|subscribe to (our|the)[^.]{0,40}(newsletter|mailing list)|get (our|the)[^.]{0,30}newsletter|all rights reserved|^\s*(copyright|©)\s*(©\s*)?(\d{4}|\(c\)))`)

// dropPromoLines removes short newsletter prompts and copyright lines
// wherever they are in the text.
func dropPromoLines(bs []block) []block {
	out := bs[:0:0]
	for _, b := range bs {
		if b.kind != blockHeading && utf8.RuneCountInString(b.text) <= 160 && promoRE.MatchString(b.text) {
			continue
		}
		out = append(out, b)
	}
	return out
}

// navSep are the characters sites put between menu entries and
// breadcrumbs.
const navSep = "<>«»|›‹•·→←"

// isNavLine reports a short line that is a run of menu entries or a
// breadcrumb ("< HOME PAGE < GAME REPORTS", "Home › News › Sport"): at
// least two parts split by two or more navigation separators (or one
// that opens the line), each part at most four words, and no sentence
// punctuation.
func isNavLine(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > 100 || strings.ContainsAny(s, ".,;:?!\"") {
		return false
	}
	seps := 0
	for _, r := range s {
		if strings.ContainsRune(navSep, r) {
			seps++
		}
	}
	first, _ := utf8.DecodeRuneInString(s)
	if seps < 2 && !(seps == 1 && strings.ContainsRune(navSep, first)) {
		return false
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(navSep, r) })
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if n := len(strings.Fields(p)); n == 0 || n > 4 {
			return false
		}
	}
	return true
}

// sameText compares two texts by their word tokens, ignoring case and
// punctuation; one may be a truncation of the other (ellipsis-cut
// descriptions).
func sameText(a, b string) bool {
	ta, tb := lowerTokens(a), lowerTokens(b)
	if len(ta) == 0 || len(tb) == 0 {
		return false
	}
	if len(ta) > len(tb) {
		ta, tb = tb, ta
	}
	if len(ta) < 3 && len(ta) != len(tb) {
		return false
	}
	for i := range ta {
		if ta[i] != tb[i] {
			return false
		}
	}
	return float64(len(ta)) >= 0.6*float64(len(tb))
}

func lowerTokens(s string) []string {
	toks := benchTokens(s)
	for i, t := range toks {
		toks[i] = strings.ToLower(t)
	}
	return toks
}

// isCopyrightLine matches the short legal footer lines sites append.
func isCopyrightLine(s string) bool {
	if utf8.RuneCountInString(s) > 120 {
		return false
	}
	l := strings.ToLower(s)
	return strings.Contains(l, "copyright") || strings.Contains(l, "©") || strings.Contains(l, "all rights reserved")
}

// similarTitle reports a heading that shares most of its words with the
// page title (sites often shorten or reword the <title>).
func similarTitle(heading, title string) bool {
	h, t := lowerTokens(heading), lowerTokens(title)
	if len(h) < 3 || len(t) < 3 {
		return false
	}
	in := make(map[string]bool, len(t))
	for _, w := range t {
		in[w] = true
	}
	shared := 0
	for _, w := range h {
		if in[w] {
			shared++
		}
	}
	return float64(shared) >= 0.8*float64(len(h)) && float64(shared) >= 0.6*float64(len(t))
}

// callToAction are phrases of the promotional lines sites put after an
// article: newsletter, subscription and social-media prompts.
var callToAction = []string{
	"subscribe", "newsletter", "sign up", "follow us", "follow newsbeat", "click here",
	"delivered through your letterbox", "have a tip", "listen to", "share this", "read more",
	"on twitter", "on facebook", "on instagram", "send us your",
}

// isCallToAction matches a short promotional line.
func isCallToAction(s string) bool {
	if utf8.RuneCountInString(s) > 200 {
		return false
	}
	l := strings.ToLower(s)
	for _, p := range callToAction {
		if strings.Contains(l, p) {
			return true
		}
	}
	return false
}

// bylineRE matches a short leading line that only says who wrote the
// piece or when: "By Jane Doe", "· Publié le 3 mars 2024", "Updated
// 12 May 2023, 10:04".
var bylineRE = regexp.MustCompile(`(?i)^[\s·|•–—-]*(by|par|von|por|di|door|av|written by|posted by|publié le|publi[ée] le|mis à jour le|published|updated|posted on|veröffentlicht am|aktualisiert am|publicado el)\b`)

// isBylineLine reports a byline or dateline block (short, and matching
// bylineRE).
func isBylineLine(s string) bool {
	return utf8.RuneCountInString(s) <= 80 && bylineRE.MatchString(s)
}

// unglueTitle repairs a title read as the plain text content of a heading
// whose parts are separated only by markup ("<h1>Charles Dickens<br>No
// Thoroughfare</h1>" read as "Charles DickensNo Thoroughfare"): when a
// heading's concatenated text is the title, the heading's text with a
// space at each line break and block boundary is taken instead.
func unglueTitle(root *html.Node, title string) string {
	if title == "" || root == nil {
		return title
	}
	var found string
	walkDOM(root, func(n *html.Node) bool {
		if found != "" || isCode(n) {
			return false
		}
		if n.Type == html.ElementNode && (n.DataAtom == atom.H1 || n.DataAtom == atom.H2) {
			if strings.Join(strings.Fields(textContent(n)), " ") == title {
				found = strings.Join(strings.Fields(spacedText(n)), " ")
			}
			return false
		}
		return true
	})
	if found == "" {
		return title
	}
	return found
}

// spacedText is n's text with a space at every <br> and at the edges of
// block-level elements.
func spacedText(n *html.Node) string {
	var sb strings.Builder
	var walk func(*html.Node, int)
	walk = func(n *html.Node, depth int) {
		if depth > maxRenderDepth {
			return
		}
		switch n.Type {
		case html.TextNode:
			sb.WriteString(n.Data)
			return
		case html.ElementNode:
			switch n.DataAtom {
			case atom.Br:
				sb.WriteByte(' ')
				return
			case atom.Script, atom.Style:
				return
			case atom.Div, atom.P, atom.Li, atom.Section, atom.Header:
				sb.WriteByte(' ')
				defer sb.WriteByte(' ')
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, depth+1)
		}
	}
	walk(n, 0)
	return sb.String()
}
