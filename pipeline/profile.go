package pipeline

import (
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// The DOM candidate: the page's own text with boilerplate regions pruned
// (navigation, headers and footers of the site, sidebars, filter panels,
// cookie and newsletter boxes). Trafilatura looks for one article-like
// block and drops the rest; on product, listing, collection and service
// pages the main content is many blocks (cards, panels, sections), which
// this candidate keeps.

// boilerTokens are class/id tokens that mark a region as boilerplate.
var boilerTokens = map[string]bool{
	"nav": true, "navbar": true, "navigation": true, "menu": true, "menubar": true, "megamenu": true,
	"breadcrumb": true, "breadcrumbs": true, "footer": true, "sidebar": true, "cookie": true, "cookies": true,
	"consent": true, "gdpr": true, "newsletter": true, "subscribe": true, "signup": true, "share": true, "sharing": true,
	"social": true, "related": true, "recommended": true, "recommendations": true, "filter": true, "filters": true,
	"facet": true, "facets": true, "refinements": true, "pagination": true, "pager": true, "modal": true, "popup": true,
	"overlay": true, "ad": true, "ads": true, "advert": true, "advertisement": true, "banner": true, "promo": true,
	"skip": true, "login": true, "masthead": true, "toolbar": true, "offcanvas": true, "drawer": true, "toc": true,
	"sharebar": true, "widget": true, "comments": false,
}

// siteTokens qualify "header": a site header, not an entry's header.
var siteTokens = map[string]bool{"site": true, "global": true, "top": true, "page": true, "main": true, "masthead": true}

func classTokens(n *html.Node) []string {
	v := strings.ToLower(attr(n, "class") + " " + attr(n, "id"))
	return strings.FieldsFunc(v, func(r rune) bool {
		return r == ' ' || r == '-' || r == '_' || r == '\t' || r == '\n' || r == ':' || r == '/'
	})
}

// isBoilerplate reports an element the DOM candidate skips, by its tag,
// role, visibility or class/id tokens (boilerTokens, and extra: the
// profile's own).
func isBoilerplate(n *html.Node, extra map[string]bool) bool {
	switch n.DataAtom {
	case atom.Nav, atom.Footer, atom.Aside, atom.Form, atom.Dialog, atom.Header:
		return true
	// Form controls are not content: "Add to cart", size and colour
	// pickers, quantity boxes, tab strips.
	case atom.Button, atom.Select, atom.Option, atom.Label, atom.Fieldset, atom.Input, atom.Textarea:
		return true
	}
	switch strings.ToLower(attr(n, "role")) {
	case "navigation", "banner", "contentinfo", "complementary", "search", "dialog", "menu", "menubar", "alertdialog",
		"button", "listbox", "radiogroup", "option", "slider", "spinbutton", "tablist", "combobox":
		return true
	}
	if strings.EqualFold(attr(n, "aria-hidden"), "true") || hasAttr(n, "hidden") {
		return true
	}
	if st := strings.ToLower(strings.ReplaceAll(attr(n, "style"), " ", "")); strings.Contains(st, "display:none") || strings.Contains(st, "visibility:hidden") {
		return true
	}
	toks := classTokens(n)
	header, site := false, false
	for _, t := range toks {
		if boilerTokens[t] || extra[t] {
			return true
		}
		header = header || t == "header"
		site = site || siteTokens[t]
	}
	return header && site
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

// A region the DOM candidate would skip is kept when it holds more than
// wrapperShare of the text it is cut from: it is the page's wrapper, not
// boilerplate (a <form> around an ASP.NET page, a results list with
// "filter" in its id, a column of class "widget-…", a <main> that carries
// "pagination" among its classes). Without it the candidate lost all or
// most of such pages; on WCXB it gains +0.0043 mean F1 (forum 0.714 ->
// 0.752), the news benchmark unchanged.
const wrapperShare = 0.5

// pruner copies an element tree without its boilerplate regions.
type pruner struct {
	extra map[string]bool // class/id tokens of boilerplate for the page's profile
	keep  int             // a region with more word characters than this is a wrapper: kept
}

// copy copies the element tree under n without boilerplate regions (and
// without scripts and styles), so the renderer sees only content.
func (p pruner) copy(n *html.Node, depth int) *html.Node {
	c := &html.Node{Type: n.Type, DataAtom: n.DataAtom, Data: n.Data, Attr: n.Attr}
	if depth > maxRenderDepth {
		return c
	}
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		switch ch.Type {
		case html.ElementNode:
			if isUnrendered(ch) {
				continue
			}
			if isBoilerplate(ch, p.extra) && !wordCharsOver(ch, p.keep) {
				continue
			}
			c.AppendChild(p.copy(ch, depth+1))
		case html.TextNode:
			c.AppendChild(&html.Node{Type: html.TextNode, Data: ch.Data})
		case html.DocumentNode:
			c.AppendChild(p.copy(ch, depth+1))
		}
	}
	return c
}

// wordCharsOver reports whether the text under n has more than limit word
// characters, reading no further than it must.
func wordCharsOver(n *html.Node, limit int) bool {
	count := 0
	walkDOM(n, func(x *html.Node) bool {
		if count > limit {
			return false
		}
		if x.Type == html.TextNode {
			count += wordCharCount(x.Data)
		}
		return true
	})
	return count > limit
}

// findMain returns the page's <main> (or role=main) element, if any.
func findMain(root *html.Node) *html.Node {
	var found *html.Node
	walkDOM(root, func(n *html.Node) bool {
		if found != nil || isCode(n) {
			return false
		}
		if n.Type == html.ElementNode && (n.DataAtom == atom.Main || strings.EqualFold(attr(n, "role"), "main")) {
			found = n
			return false
		}
		return true
	})
	return found
}

// findBody returns the page's <body>.
func findBody(root *html.Node) *html.Node {
	for c := root.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.DataAtom == atom.Html {
			for b := c.FirstChild; b != nil; b = b.NextSibling {
				if b.Type == html.ElementNode && b.DataAtom == atom.Body {
					return b
				}
			}
		}
	}
	return root
}

// domBlocks renders the DOM candidate: the <main> region when the page
// has one with enough text, else the whole body, boilerplate pruned.
func domBlocks(root *html.Node, base *url.URL, profile string) []block {
	from, words := findBody(root), 0
	if m := findMain(root); m != nil {
		if w := wordCharCount(textContent(m)); w > 200 {
			from, words = m, w
		}
	}
	if words == 0 {
		words = wordCharCount(textContent(from))
	}
	p := pruner{extra: profileTokens[profile], keep: int(wrapperShare * float64(words))}
	return dropRepeats(renderBlocks(p.copy(from, 0), base))
}

// Candidate sources.
const (
	SourceTrafilatura = "trafilatura"
	SourceDOM         = "dom"
	SourceReadability = "readability"
)

// Thresholds of the candidate choice, measured on WCXB's tuning split
// (pages of every type; see docs/pipeline.md for the figures).
const (
	// weakShare: trafilatura's text is weak when it holds less than this
	// share of the page's visible text; only then is readability run
	// (it costs about as much as trafilatura itself).
	weakShare = 0.2
	// readabilityGain: readability's text replaces trafilatura's when it
	// has this many times the words (trafilatura kept a teaser or a
	// caption of a page that is one long text). Lower ratios gained on
	// WCXB but cost the news benchmark its short paywalled articles.
	readabilityGain = 5
	// domShareArticle and domGainArticle: on an article the DOM candidate
	// replaces the best so far only when trafilatura kept almost nothing
	// (under domShareArticle of the page's text) and the DOM candidate
	// has domGainArticle times the words.
	domShareArticle = 0.03
	domGainArticle  = 1.5
)

// An article call that rests on the default score and at most one weak
// cue (paragraphs, a wordy slug: at most weakArticleScore) while another
// type has evidence (at least rivalScore) is extracted as a page of many
// blocks. On WCXB such pages are mostly service, listing, collection and
// product pages the classifier could not place: 86 pages, +0.0041 mean F1
// on both the tune and the check split, while the 16 true articles among
// them lose 0.004 each; no page of the news benchmark is one.
const (
	weakArticleScore = 1.0
	rivalScore       = 0.5
)

// profileBlocks is the extraction profile of a page read as many blocks
// whatever its type (chooseBlocks treats every profile but the two
// article ones so). profileWeakArticle is an article call that rests on
// the default score and at most one weak cue with no rival type: read as
// an article, but the DOM candidate is weighed whatever trafilatura's
// share of the page (on WCXB 68 pages, mostly services, listings and
// collections the classifier found no evidence for: +0.0024 mean F1, tune
// +0.0027, check +0.0015; no page of the news benchmark is one).
const (
	profileBlocks      = "blocks"
	profileWeakArticle = "weak-article"
)

// extractionProfile is the profile chooseBlocks extracts a page of type
// pageType with, given the classifier's scores.
func extractionProfile(pageType string, score map[string]float64) string {
	if pageType != PageArticle || score[PageArticle] > weakArticleScore {
		return pageType
	}
	for t, v := range score {
		if t != PageArticle && v >= rivalScore {
			return profileBlocks
		}
	}
	return profileWeakArticle
}

// candidates are the extractions chooseBlocks compares. primary is
// trafilatura's; the others are computed only when the rule needs them.
type candidates struct {
	primary  []block
	dom      func() []block
	readable func() []block
	// visible is the page's visible word-character count.
	visible int
}

// chooseBlocks picks the extraction for a page of the given profile (its
// type, profileBlocks or profileWeakArticle: extractionProfile).
//
// Articles: trafilatura's text, unless it is weak (under weakShare of the
// page's text), when readability's is taken if it has readabilityGain
// times the words; then, if trafilatura kept almost nothing (or the
// article call is weak), the DOM candidate if it has domGainArticle times
// the words of the best so far.
//
// Every other type reads as many blocks (posts, cards, panels, sections):
// the DOM candidate is taken unless trafilatura's has at least as many
// words (then the DOM candidate found nothing more).
func chooseBlocks(profile string, c candidates) ([]block, string) {
	best, src := c.primary, SourceTrafilatura
	if profile == PageArticle || profile == profileWeakArticle {
		bw := blockWords(best)
		if c.readable != nil && (bw == 0 || float64(bw) < weakShare*float64(c.visible)) {
			if r := c.readable(); len(r) > 0 && float64(blockWords(r)) > readabilityGain*float64(bw) {
				best, src, bw = r, SourceReadability, blockWords(r)
			}
		}
		if profile == profileWeakArticle || float64(blockWords(c.primary)) < domShareArticle*float64(c.visible) {
			if d := c.dom(); len(d) > 0 && float64(blockWords(d)) > domGainArticle*float64(bw) {
				return d, SourceDOM
			}
		}
		return best, src
	}
	if d := c.dom(); len(d) > 0 && blockWords(best) < blockWords(d) {
		return d, SourceDOM
	}
	return best, src
}

// blockWords counts the word characters of blocks.
func blockWords(bs []block) int {
	n := 0
	for _, b := range bs {
		n += wordCharCount(b.text)
	}
	return n
}

// dropRepeats removes blocks whose text already appeared (menus and
// buttons rendered twice for mobile and desktop, "Add to cart" per card).
// Short repeats go; a repeated long paragraph is kept once.
func dropRepeats(bs []block) []block {
	seen := make(map[string]bool, len(bs))
	out := bs[:0:0]
	for _, b := range bs {
		k := strings.ToLower(b.text)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, b)
	}
	return out
}

// unwrapNoscript replaces a <noscript> that carries the page's content by
// that content, parsed. Forum and documentation software that renders
// with JavaScript (Discourse, for one) serves its posts to clients
// without scripting inside <noscript>, which an HTML parser with
// scripting on (x/net/html's default) keeps as raw text: the extractors
// then see markup as words, or nothing. A <noscript> is unwrapped when its
// text outweighs the rest of the page's visible text; tracking pixels and
// "enable JavaScript" notes stay as they are.
// It reports whether it unwrapped any.
func unwrapNoscript(root *html.Node, visible int) bool {
	var boxes []*html.Node
	unwrapped := false
	walkDOM(root, func(n *html.Node) bool {
		if isCode(n) || (n.Type == html.ElementNode && n.DataAtom == atom.Template) {
			return false
		}
		if n.Type == html.ElementNode && n.DataAtom == atom.Noscript {
			if n.FirstChild != nil && n.FirstChild == n.LastChild && n.FirstChild.Type == html.TextNode && n.Parent != nil {
				boxes = append(boxes, n)
			}
			return false
		}
		return true
	})
	for _, box := range boxes {
		raw := box.FirstChild.Data
		if len(raw) < 200 || len(raw) > 1<<20 || !strings.Contains(raw, "<") {
			continue
		}
		ctx := box.Parent
		if ctx.Type != html.ElementNode {
			continue
		}
		nodes, err := html.ParseFragment(strings.NewReader(raw), ctx)
		if err != nil {
			continue
		}
		inner := 0
		for _, n := range nodes {
			c, _ := visibleText(n)
			inner += c
		}
		// visible (visibleText) leaves <noscript> out: it is the rest of
		// the page
		if inner <= visible {
			continue
		}
		for _, n := range nodes {
			ctx.InsertBefore(n, box)
		}
		ctx.RemoveChild(box)
		unwrapped = true
	}
	return unwrapped
}

// profileTokens are class/id tokens that mark boilerplate on pages of one
// profile only: on a product page its reviews and the other products
// shown beside it (WCXB's product pages leave both out; +0.012 mean F1
// on product pages, recall -0.015); on a forum page the posters'
// signatures (forum +0.008: tune +0.005, check +0.016).
var profileTokens = map[string]map[string]bool{
	PageProduct: {"review": true, "reviews": true, "rating": true, "ratings": true, "upsell": true, "crosssell": true,
		"similar": true, "recently": true, "viewed": true, "recs": true, "recommendation": true},
	PageForum: {"signature": true},
}
