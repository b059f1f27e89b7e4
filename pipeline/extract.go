package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	readability "github.com/go-shiori/go-readability"
	trafilatura "github.com/markusmobius/go-trafilatura"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Extraction errors carry stable reason codes.
var (
	ErrExtractEmpty = errors.New("extract:empty")
	ErrExtractParse = errors.New("extract:parse")
	ErrTooDeep      = errors.New("extract:too_deep")
	ErrTooLarge     = errors.New("extract:too_large")
)

// Extraction limits the pipeline uses unless a job says otherwise.
const (
	// DefaultMaxDepth bounds element nesting.
	DefaultMaxDepth = 512
	// DefaultMaxNodes bounds the elements of a page.
	DefaultMaxNodes = 200000
	// DefaultMaxTextBytes bounds a page's visible text.
	DefaultMaxTextBytes = 1 << 20
)

// ExtractOptions tunes main-content extraction. Default fills the limits;
// Extract itself takes a zero limit as none.
type ExtractOptions struct {
	// Fallback lets trafilatura compare its result with readability and
	// DOM distiller and take the better one (default off).
	Fallback bool
	// MaxDepth refuses pages whose element nesting is deeper (parsers and
	// tree walkers recurse; a hostile page must not blow the stack).
	// Default DefaultMaxDepth.
	MaxDepth int
	// MaxNodes refuses pages with more elements than this. Default
	// DefaultMaxNodes.
	MaxNodes int
	// MaxTextBytes refuses pages with more visible text than this; such a
	// page is a dump, not a document (Gopher's word limit would reject it
	// anyway), and refusing early keeps the pipeline's cost bounded.
	// Default DefaultMaxTextBytes.
	MaxTextBytes int
}

// Default fills the unset limits of o.
func (o *ExtractOptions) Default() {
	if o.MaxDepth == 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxNodes == 0 {
		o.MaxNodes = DefaultMaxNodes
	}
	if o.MaxTextBytes == 0 {
		o.MaxTextBytes = DefaultMaxTextBytes
	}
}

// Validate reports the first limit extraction cannot run with.
func (o ExtractOptions) Validate() error {
	switch {
	case o.MaxDepth < 1:
		return fmt.Errorf("pipeline extract options: max depth %d must be positive (leave it 0 for %d)", o.MaxDepth, DefaultMaxDepth)
	case o.MaxNodes < 1:
		return fmt.Errorf("pipeline extract options: max nodes %d must be positive (leave it 0 for %d)", o.MaxNodes, DefaultMaxNodes)
	case o.MaxTextBytes < 1:
		return fmt.Errorf("pipeline extract options: max text bytes %d must be positive (leave it 0 for %d)", o.MaxTextBytes, DefaultMaxTextBytes)
	}
	return nil
}

// DefaultExtractOptions returns ExtractOptions with Default applied: the
// options the pipeline uses unless a job says otherwise.
func DefaultExtractOptions() ExtractOptions {
	var o ExtractOptions
	o.Default()
	return o
}

// Extracted is a page's main content and metadata.
type Extracted struct {
	// Text is the main content as plain text, one block per line.
	Text string
	// Markdown is the main content keeping headings, lists, tables and
	// links (made absolute against the page URL).
	Markdown    string
	Title       string
	Author      string
	SiteName    string
	Description string
	// CanonicalURL is <link rel=canonical> or og:url, made absolute.
	CanonicalURL string
	PublishedAt  *time.Time
	// HTMLLang is the <html lang> attribute, if any.
	HTMLLang string
	// JSONLD holds the page's schema.org JSON-LD objects (graphs flattened).
	JSONLD []map[string]any
	// OpenGraph maps og:* (and article:*) properties to their content.
	OpenGraph map[string]string
	// Confidence is a 0..1 estimate of how sure extraction is that Text is
	// the page's main content (share of the page's text it kept, and
	// whether trafilatura's own extractor, not a rescue, produced it).
	Confidence float64
	// PageType is the page's kind as ClassifyPage told it: article,
	// forum, product, collection, listing, documentation or service.
	PageType string
	// Source names the candidate Text came from: "trafilatura",
	// "readability" or "dom" (the page's own text with boilerplate
	// regions pruned).
	Source string
	// Root is the parsed page, for structured-field selectors.
	Root *html.Node
	// Base is the URL relative links resolve against.
	Base *url.URL
}

// Extract finds the main content and metadata of an HTML page.
func Extract(page string, pageURL string, opt ExtractOptions) (*Extracted, error) {
	root, err := html.Parse(strings.NewReader(page))
	if err != nil {
		// x/net/html refuses pages nested deeper than its open-element limit.
		if strings.Contains(err.Error(), "open stack") || strings.Contains(err.Error(), "nest") {
			return nil, fmt.Errorf("%w: %v", ErrTooDeep, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrExtractParse, err)
	}
	return ExtractNode(root, pageURL, opt)
}

// ExtractNode is Extract on an already parsed page.
func ExtractNode(root *html.Node, pageURL string, opt ExtractOptions) (ex *Extracted, err error) {
	if opt.MaxDepth > 0 || opt.MaxNodes > 0 {
		depth, nodes := treeShape(root)
		if opt.MaxDepth > 0 && depth > opt.MaxDepth {
			return nil, fmt.Errorf("%w: nesting depth %d exceeds %d", ErrTooDeep, depth, opt.MaxDepth)
		}
		if opt.MaxNodes > 0 && nodes > opt.MaxNodes {
			return nil, fmt.Errorf("%w: %d elements exceed %d", ErrTooLarge, nodes, opt.MaxNodes)
		}
	}
	visible, visibleBytes := visibleText(root)
	if opt.MaxTextBytes > 0 && visibleBytes > opt.MaxTextBytes {
		return nil, fmt.Errorf("%w: %d bytes of visible text exceed %d", ErrTooLarge, visibleBytes, opt.MaxTextBytes)
	}
	if unwrapNoscript(root, visible) {
		visible, _ = visibleText(root)
	}
	base, _ := url.Parse(pageURL)
	if base != nil && (base.Scheme == "" || base.Host == "") {
		base = nil
	}
	topts := trafilatura.Options{
		OriginalURL:     base,
		EnableFallback:  opt.Fallback,
		ExcludeComments: true,
		IncludeLinks:    true,
		Focus:           trafilatura.Balanced,
		HtmlDateMode:    trafilatura.Disabled,
	}
	// A third-party extractor must not take the process down on a page it
	// cannot handle; turn its panic into a reasoned reject.
	defer func() {
		if r := recover(); r != nil {
			ex, err = nil, fmt.Errorf("%w: extractor failed: %v", ErrExtractParse, r)
		}
	}()
	ld, og := pageMetadata(root)
	pageType, scores := classifyScores(root, pageURL, ld, og)
	unlinkTableCells(root)
	res, terr := trafilatura.ExtractDocument(root, topts)
	var md trafilatura.Metadata
	var primary []block
	if terr == nil && res != nil && res.ContentNode != nil {
		md = res.Metadata
		primary = trimBlocks(renderBlocks(res.ContentNode, base), md.Title, md.Description)
	}
	profile := extractionProfile(pageType, scores)
	blocks, source := chooseBlocks(profile, candidates{
		primary: primary,
		visible: visible,
		dom: func() []block {
			return trimBlocks(domBlocks(root, base, profile), md.Title, md.Description)
		},
		readable: func() []block {
			art, err := readability.FromDocument(root, base)
			if err != nil || art.Node == nil {
				return nil
			}
			return trimBlocks(renderBlocks(art.Node, base), md.Title, md.Description)
		},
	})
	ex = &Extracted{Root: root, Base: base, PageType: pageType, Source: source}
	ex.Text = joinText(blocks)
	ex.Markdown = joinMarkdown(blocks)
	if strings.TrimSpace(ex.Text) == "" {
		return nil, fmt.Errorf("%w: %v", ErrExtractEmpty, terr)
	}
	ex.Title, ex.Author, ex.SiteName, ex.Description = unglueTitle(root, md.Title), md.Author, md.Sitename, md.Description
	if !md.Date.IsZero() {
		t := md.Date.UTC()
		ex.PublishedAt = &t
	}
	ex.HTMLLang = htmlLang(root)
	ex.JSONLD, ex.OpenGraph = ld, og
	ex.CanonicalURL = canonicalURL(root, ex.OpenGraph, base)
	fillFromStructured(ex)
	ex.Confidence = extractionConfidence(visible, ex.Text)
	return ex, nil
}

// treeShape reports the deepest element nesting and the element count,
// without recursion.
func treeShape(root *html.Node) (depth, nodes int) {
	type item struct {
		n *html.Node
		d int
	}
	stack := []item{{root, 0}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.n.Type == html.ElementNode {
			nodes++
		}
		depth = max(depth, it.d)
		for c := it.n.FirstChild; c != nil; c = c.NextSibling {
			stack = append(stack, item{c, it.d + 1})
		}
	}
	return depth, nodes
}

// visibleText counts the letters and digits, and the bytes, of the
// page's text outside scripts and styles.
func visibleText(root *html.Node) (n, size int) {
	walkDOM(root, func(x *html.Node) bool {
		if isUnrendered(x) {
			return false
		}
		if x.Type == html.TextNode {
			size += len(x.Data)
			if size <= 1<<20 {
				n += wordCharCount(x.Data)
			}
		}
		return true
	})
	return n, size
}

func wordCharCount(s string) int {
	n := 0
	for _, r := range s {
		if isWordRune(r) {
			n++
		}
	}
	return n
}

// extractionConfidence rises with the amount of text kept (short
// extractions are often a teaser or a caption, not the article) and falls
// when extraction kept a tiny share of a text-rich page, or all of a long
// one (likely boilerplate came too).
func extractionConfidence(total int, text string) float64 {
	kept := wordCharCount(text)
	if total == 0 || kept == 0 {
		return 0
	}
	c := math.Sqrt(min(1, float64(kept)/1500))
	share := float64(kept) / float64(total)
	if share < 0.02 {
		c *= 0.6
	}
	if share > 0.98 && total > 5000 {
		c *= 0.8
	}
	return c
}

func htmlLang(root *html.Node) string {
	for c := root.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.DataAtom == atom.Html {
			return strings.ToLower(strings.TrimSpace(attr(c, "lang")))
		}
	}
	return ""
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// pageMetadata collects JSON-LD objects and OpenGraph properties.
func pageMetadata(root *html.Node) ([]map[string]any, map[string]string) {
	var ld []map[string]any
	og := map[string]string{}
	walkDOM(root, func(n *html.Node) bool {
		if n.Type != html.ElementNode {
			return true
		}
		switch n.DataAtom {
		case atom.Script:
			if strings.EqualFold(strings.TrimSpace(attr(n, "type")), "application/ld+json") && n.FirstChild != nil {
				ld = appendJSONLD(ld, n.FirstChild.Data)
			}
			return false
		case atom.Meta:
			prop := strings.ToLower(attr(n, "property"))
			if prop == "" {
				prop = strings.ToLower(attr(n, "name"))
			}
			if strings.HasPrefix(prop, "og:") || strings.HasPrefix(prop, "article:") {
				if _, seen := og[prop]; !seen {
					og[prop] = strings.TrimSpace(attr(n, "content"))
				}
			}
		case atom.Link:
			if strings.EqualFold(attr(n, "rel"), "canonical") {
				if _, seen := og["link:canonical"]; !seen {
					og["link:canonical"] = strings.TrimSpace(attr(n, "href"))
				}
			}
		}
		return true
	})
	return ld, og
}

// appendJSONLD decodes one JSON-LD script, flattening arrays and @graph.
func appendJSONLD(out []map[string]any, raw string) []map[string]any {
	var v any
	if err := json.Unmarshal([]byte(strings.TrimSpace(raw)), &v); err != nil {
		return out
	}
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		if depth > 4 {
			return
		}
		switch t := v.(type) {
		case []any:
			for _, x := range t {
				walk(x, depth+1)
			}
		case map[string]any:
			if g, ok := t["@graph"]; ok {
				walk(g, depth+1)
				if len(t) <= 2 { // only @context and @graph
					return
				}
			}
			out = append(out, t)
		}
	}
	walk(v, 0)
	return out
}

func canonicalURL(root *html.Node, og map[string]string, base *url.URL) string {
	for _, raw := range []string{og["link:canonical"], og["og:url"]} {
		if raw == "" {
			continue
		}
		if abs := absURL(base, raw); abs != "" {
			return abs
		}
	}
	return ""
}

// absURL resolves ref against base and keeps only http(s) results.
func absURL(base *url.URL, ref string) string {
	u, err := url.Parse(strings.TrimSpace(ref))
	if err != nil {
		return ""
	}
	if base != nil {
		u = base.ResolveReference(u)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

// fillFromStructured completes metadata trafilatura left empty from the
// page's JSON-LD and OpenGraph.
func fillFromStructured(ex *Extracted) {
	var article map[string]any
	for _, obj := range ex.JSONLD {
		if t := ldType(obj); strings.HasSuffix(t, "Article") || t == "BlogPosting" || t == "Report" || t == "WebPage" {
			if article == nil || strings.HasSuffix(t, "Article") || t == "BlogPosting" {
				article = obj
			}
		}
	}
	if ex.Title == "" {
		ex.Title = firstNonEmpty(ldString(article, "headline"), ex.OpenGraph["og:title"])
	}
	if ex.Author == "" {
		ex.Author = ldAuthor(article)
	}
	if ex.SiteName == "" {
		ex.SiteName = firstNonEmpty(ex.OpenGraph["og:site_name"], ldString(ldMap(article, "publisher"), "name"))
	}
	if ex.Description == "" {
		ex.Description = firstNonEmpty(ex.OpenGraph["og:description"], ldString(article, "description"))
	}
	if ex.PublishedAt == nil {
		for _, raw := range []string{ldString(article, "datePublished"), ex.OpenGraph["article:published_time"]} {
			if t, ok := parseDate(raw); ok {
				ex.PublishedAt = &t
				break
			}
		}
	}
}

func ldType(obj map[string]any) string {
	switch t := obj["@type"].(type) {
	case string:
		return t
	case []any:
		if len(t) > 0 {
			s, _ := t[0].(string)
			return s
		}
	}
	return ""
}

func ldMap(obj map[string]any, key string) map[string]any {
	if obj == nil {
		return nil
	}
	switch v := obj[key].(type) {
	case map[string]any:
		return v
	case []any:
		if len(v) > 0 {
			m, _ := v[0].(map[string]any)
			return m
		}
	}
	return nil
}

func ldString(obj map[string]any, key string) string {
	if obj == nil {
		return ""
	}
	if s, ok := obj[key].(string); ok {
		return strings.TrimSpace(s)
	}
	return ""
}

func ldAuthor(article map[string]any) string {
	if article == nil {
		return ""
	}
	var names []string
	add := func(v any) {
		switch t := v.(type) {
		case string:
			names = append(names, strings.TrimSpace(t))
		case map[string]any:
			if s := ldString(t, "name"); s != "" {
				names = append(names, s)
			}
		}
	}
	switch a := article["author"].(type) {
	case []any:
		for _, x := range a {
			add(x)
		}
	default:
		add(a)
	}
	return strings.Join(names, "; ")
}

func firstNonEmpty(xs ...string) string {
	for _, x := range xs {
		if strings.TrimSpace(x) != "" {
			return strings.TrimSpace(x)
		}
	}
	return ""
}

// dateLayouts are the formats parseDate accepts, most specific first.
var dateLayouts = []string{
	time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05",
	"2006-01-02T15:04Z07:00", "2006-01-02 15:04:05", "2006-01-02", time.RFC1123Z, time.RFC1123,
	"January 2, 2006", "Jan 2, 2006", "2 January 2006", "02/01/2006", "2006/01/02",
}

// parseDate reads a date in one of the common machine and human formats
// and returns it in UTC.
func parseDate(raw string) (time.Time, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return time.Time{}, false
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, raw); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// unlinkTableCells replaces a table cell that is one short link by the
// link's text.
// go-trafilatura (v1.12) drops a cell's link children, so a cell that is
// one link ("<td><a>Leonardo da Vinci</a></td>") came out empty; keeping
// the words matters more than the link target.
func unlinkTableCells(root *html.Node) {
	var cells []*html.Node
	walkDOM(root, func(n *html.Node) bool {
		if isCode(n) {
			return false
		}
		if n.Type == html.ElementNode && (n.DataAtom == atom.Td || n.DataAtom == atom.Th) {
			cells = append(cells, n)
			return false
		}
		return true
	})
	for _, cell := range cells {
		var links []*html.Node
		walkDOM(cell, func(n *html.Node) bool {
			if n.Type == html.ElementNode && n.DataAtom == atom.A {
				links = append(links, n)
				return false
			}
			return true
		})
		// only a cell that is one short link: layout tables hold whole
		// pages, and their link lists must stay links (boilerplate cues)
		if len(links) != 1 || strings.TrimSpace(textContent(cell)) != strings.TrimSpace(textContent(links[0])) || len(textContent(cell)) > 120 || !rowHasPlainCell(cell) {
			continue
		}
		for _, a := range links {
			if a.Parent == nil {
				continue
			}
			a.Parent.InsertBefore(&html.Node{Type: html.TextNode, Data: textContent(a)}, a)
			a.Parent.RemoveChild(a)
		}
	}
}

// rowHasPlainCell reports whether the cell's row has another cell with
// text and no link: a data table row, not a table of links.
func rowHasPlainCell(cell *html.Node) bool {
	if cell.Parent == nil {
		return false
	}
	for c := cell.Parent.FirstChild; c != nil; c = c.NextSibling {
		if c == cell || c.Type != html.ElementNode || (c.DataAtom != atom.Td && c.DataAtom != atom.Th) {
			continue
		}
		if strings.TrimSpace(textContent(c)) != "" && !hasLink(c) {
			return true
		}
	}
	return false
}

func hasLink(n *html.Node) bool {
	if n.Type == html.ElementNode && n.DataAtom == atom.A {
		return true
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if hasLink(c) {
			return true
		}
	}
	return false
}
