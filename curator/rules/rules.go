// Package rules applies curator-written, per-domain extraction rules
// (schemas.ExtractionRule) to captured HTML: CSS selectors for the article
// body and for fields, followed by normalisers. It is pure (no network, no
// disk) so that the pipeline can apply accepted rules to later pages and the
// curator UI can preview a draft rule on a domain's captured pages with the
// very same code.
package rules

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/PuerkitoBio/goquery"
	"github.com/andybalholm/cascadia"
	"github.com/swardnet/sward/schemas"
	"golang.org/x/net/html"
)

// Result is what a rule extracted from one page.
type Result struct {
	// Text is the body text, paragraphs separated by blank lines; empty
	// when the rule has no body selector or it matched nothing.
	Text string `json:"text"`
	// BodyMatched reports whether the body selector matched anything.
	BodyMatched bool `json:"body_matched"`
	// Fields holds each field whose selector matched, after normalising.
	Fields map[string]string `json:"fields"`
	// Missing lists fields whose selector matched nothing.
	Missing []string `json:"missing,omitempty"`
	// Errors maps a field to why its normalisers rejected the value.
	Errors map[string]string `json:"errors,omitempty"`
}

// Compiled is a rule whose selectors and normalisers have been parsed.
type Compiled struct {
	Rule    schemas.ExtractionRule
	body    cascadia.Selector
	exclude []cascadia.Selector
	fields  []compiledField
}

type compiledField struct {
	rule  schemas.FieldRule
	sel   cascadia.Selector
	norms []normaliser
}

type normaliser func(v string, base *url.URL) (string, error)

// Compile checks a rule and parses its selectors and normalisers, so that
// a bad rule is refused when it is written rather than when it is applied.
func Compile(r schemas.ExtractionRule) (*Compiled, error) {
	c := &Compiled{Rule: r}
	var err error
	if r.Body != "" {
		if c.body, err = cascadia.Compile(r.Body); err != nil {
			return nil, fmt.Errorf("rule for %s: body selector %q: %w", r.Domain, r.Body, err)
		}
	}
	for _, x := range r.Exclude {
		s, err := cascadia.Compile(x)
		if err != nil {
			return nil, fmt.Errorf("rule for %s: exclude selector %q: %w", r.Domain, x, err)
		}
		c.exclude = append(c.exclude, s)
	}
	for _, f := range r.Fields {
		if f.Name == "" {
			return nil, fmt.Errorf("rule for %s: a field has no name", r.Domain)
		}
		s, err := cascadia.Compile(f.Selector)
		if err != nil {
			return nil, fmt.Errorf("rule for %s: field %q selector %q: %w", r.Domain, f.Name, f.Selector, err)
		}
		cf := compiledField{rule: f, sel: s}
		for _, n := range f.Normalise {
			fn, err := parseNormaliser(n)
			if err != nil {
				return nil, fmt.Errorf("rule for %s: field %q: %w", r.Domain, f.Name, err)
			}
			cf.norms = append(cf.norms, fn)
		}
		c.fields = append(c.fields, cf)
	}
	return c, nil
}

// Apply compiles r and applies it to one page.
func Apply(r schemas.ExtractionRule, pageURL string, page []byte) (Result, error) {
	c, err := Compile(r)
	if err != nil {
		return Result{}, err
	}
	return c.Apply(pageURL, page)
}

// Apply runs the rule on one page. pageURL resolves relative links for the
// "url" normaliser.
func (c *Compiled) Apply(pageURL string, page []byte) (Result, error) {
	base, err := url.Parse(pageURL)
	if err != nil {
		return Result{}, fmt.Errorf("applying rule: page url %q: %w", pageURL, err)
	}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(page))
	if err != nil {
		return Result{}, fmt.Errorf("applying rule to %s: parsing html: %w", pageURL, err)
	}
	res := Result{Fields: map[string]string{}}
	// Fields first: Exclude may remove nodes a field wants (a byline).
	for _, f := range c.fields {
		sel := doc.FindMatcher(f.sel).First()
		if sel.Length() == 0 {
			res.Missing = append(res.Missing, f.rule.Name)
			continue
		}
		var v string
		if f.rule.Attr != "" {
			v, _ = sel.Attr(f.rule.Attr)
		} else {
			v = blockText(sel.Nodes)
		}
		for _, n := range f.norms {
			if v, err = n(v, base); err != nil {
				break
			}
		}
		if err != nil {
			if res.Errors == nil {
				res.Errors = map[string]string{}
			}
			res.Errors[f.rule.Name] = err.Error()
			continue
		}
		res.Fields[f.rule.Name] = v
	}
	if c.body != nil {
		body := doc.FindMatcher(c.body)
		for _, x := range c.exclude {
			body.FindMatcher(x).Remove()
		}
		res.BodyMatched = body.Length() > 0
		res.Text = blockText(body.Nodes)
	}
	return res, nil
}

// skipped elements never contribute text.
var skipped = map[string]bool{"script": true, "style": true, "noscript": true, "template": true, "head": true, "iframe": true, "object": true, "svg": true}

// block elements end a paragraph.
var block = map[string]bool{
	"p": true, "div": true, "section": true, "article": true, "main": true, "header": true, "footer": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "li": true, "ul": true, "ol": true,
	"blockquote": true, "pre": true, "tr": true, "table": true, "br": true, "hr": true, "dd": true, "dt": true,
	"figcaption": true, "aside": true, "nav": true, "form": true,
}

// blockText returns the visible text under nodes, one paragraph per block
// element, whitespace collapsed, paragraphs joined by a blank line. Nested
// matches are not counted twice.
func blockText(nodes []*html.Node) string {
	var paras []string
	var cur strings.Builder
	flush := func() {
		if s := strings.Join(strings.Fields(cur.String()), " "); s != "" {
			paras = append(paras, s)
		}
		cur.Reset()
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			cur.WriteString(n.Data)
			cur.WriteByte(' ')
			return
		case html.ElementNode:
			if skipped[n.Data] {
				return
			}
			if block[n.Data] {
				flush()
				defer flush()
			}
		case html.CommentNode, html.DoctypeNode:
			return
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	matched := make(map[*html.Node]bool, len(nodes))
	for _, n := range nodes {
		matched[n] = true
	}
	for _, n := range nodes {
		if insideAny(n, matched) {
			continue
		}
		walk(n)
		flush()
	}
	return strings.Join(paras, "\n\n")
}

// insideAny reports whether an ancestor of n is in set.
func insideAny(n *html.Node, set map[*html.Node]bool) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		if set[p] {
			return true
		}
	}
	return false
}

// Normalisers names the normalisers a FieldRule may list, for the UI.
var Normalisers = []string{"trim", "space", "lower", "upper", "number", "date", "url", "regex:PATTERN"}

var numberRE = regexp.MustCompile(`[-+]?\d[\d,. ]*`)

// dateLayouts are tried in order by the "date" normaliser.
var dateLayouts = []string{
	time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04",
	"2006-01-02", "2006/01/02", time.RFC1123Z, time.RFC1123, time.RFC850, time.ANSIC,
	"January 2, 2006", "January 2 2006", "Jan 2, 2006", "Jan 2 2006", "2 January 2006", "2 Jan 2006",
	"Monday, January 2, 2006", "Mon, 2 Jan 2006", "02.01.2006",
}

func parseNormaliser(name string) (normaliser, error) {
	if pat, ok := strings.CutPrefix(name, "regex:"); ok {
		re, err := regexp.Compile(pat)
		if err != nil {
			return nil, fmt.Errorf("normaliser %q: %w", name, err)
		}
		return func(v string, _ *url.URL) (string, error) {
			m := re.FindStringSubmatch(v)
			switch {
			case m == nil:
				return "", fmt.Errorf("regex %q does not match %q", pat, clip(v))
			case len(m) > 1:
				return m[1], nil
			default:
				return m[0], nil
			}
		}, nil
	}
	switch name {
	case "trim":
		return func(v string, _ *url.URL) (string, error) { return strings.TrimSpace(v), nil }, nil
	case "space":
		return func(v string, _ *url.URL) (string, error) { return strings.Join(strings.Fields(v), " "), nil }, nil
	case "lower":
		return func(v string, _ *url.URL) (string, error) { return strings.ToLower(v), nil }, nil
	case "upper":
		return func(v string, _ *url.URL) (string, error) { return strings.ToUpper(v), nil }, nil
	case "number":
		return normaliseNumber, nil
	case "date":
		return normaliseDate, nil
	case "url":
		return func(v string, base *url.URL) (string, error) {
			u, err := base.Parse(strings.TrimSpace(v))
			if err != nil {
				return "", fmt.Errorf("%q is not a URL: %w", clip(v), err)
			}
			if u.Scheme != "http" && u.Scheme != "https" {
				return "", fmt.Errorf("%q is not an http(s) URL", clip(v))
			}
			return u.String(), nil
		}, nil
	}
	return nil, fmt.Errorf("unknown normaliser %q (known: %s)", name, strings.Join(Normalisers, ", "))
}

// normaliseNumber keeps the first number in v, with "," or " " as thousands
// separators and "." as the decimal point; a lone "," followed by one or two
// digits at the end is read as a decimal comma ("3,50").
func normaliseNumber(v string, _ *url.URL) (string, error) {
	m := strings.TrimSpace(numberRE.FindString(v))
	if m == "" {
		return "", fmt.Errorf("no number in %q", clip(v))
	}
	m = strings.ReplaceAll(m, " ", "")
	if i := strings.LastIndexByte(m, ','); i >= 0 && !strings.Contains(m, ".") && len(m)-i-1 <= 2 && strings.Count(m, ",") == 1 {
		m = m[:i] + "." + m[i+1:]
	}
	m = strings.ReplaceAll(m, ",", "")
	m = strings.TrimRight(m, ".")
	f, err := strconv.ParseFloat(m, 64)
	if err != nil {
		return "", fmt.Errorf("no number in %q", clip(v))
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}

func normaliseDate(v string, _ *url.URL) (string, error) {
	s := strings.Join(strings.Fields(v), " ")
	s = strings.TrimFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC().Format(time.RFC3339), nil
		}
	}
	// A date/time attribute often carries a time zone name we do not know;
	// retry with only the leading date.
	if len(s) >= 10 {
		if t, err := time.Parse("2006-01-02", s[:10]); err == nil {
			return t.UTC().Format(time.RFC3339), nil
		}
	}
	return "", errors.New("no date in " + strconv.Quote(clip(v)))
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
