package pipeline

import (
	"bytes"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// blockKind says what a rendered block was in the page.
type blockKind uint8

const (
	blockPara blockKind = iota
	blockHeading
	blockItem
	blockRow
	blockCode
)

// block is one rendered unit of content: a paragraph, heading, list item,
// table row or code block, as plain text and as markdown.
type block struct {
	kind     blockKind
	text     string
	md       string
	linkText int // runes of text inside links
}

// renderBlocks turns an extracted content tree into blocks.
func renderBlocks(n *html.Node, base *url.URL) []block {
	r := &renderer{base: base}
	r.children(n, 0)
	r.flush(blockPara)
	return r.blocks
}

// joinText joins blocks as plain text, one block per line.
func joinText(bs []block) string {
	var b strings.Builder
	for i, x := range bs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(x.text)
	}
	return b.String()
}

// joinMarkdown joins blocks as markdown: list items and table rows that
// follow each other stay on consecutive lines, other blocks are separated
// by a blank line.
func joinMarkdown(bs []block) string {
	var b strings.Builder
	for i, x := range bs {
		if i > 0 {
			prev := bs[i-1].kind
			if (x.kind == blockItem && prev == blockItem) || (x.kind == blockRow && prev == blockRow) {
				b.WriteByte('\n')
			} else {
				b.WriteString("\n\n")
			}
		}
		b.WriteString(x.md)
	}
	return b.String()
}

type renderer struct {
	base     *url.URL
	blocks   []block
	text     []byte // current block, plain
	md       []byte // current block, markdown
	mdPrefix string
	space    bool
	inLink   int
	linkText int
	// soft marks an inline element boundary: the extractor trims text
	// nodes, so "and <a>link</a> more" arrives as "and", "link", "more";
	// a space goes back in where two words would otherwise touch.
	soft bool
}

// maxRenderDepth bounds recursion on pathological trees.
const maxRenderDepth = 600

func (r *renderer) children(n *html.Node, depth int) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		r.node(c, depth+1)
	}
}

// addText appends inline text to both renderings, collapsing whitespace.
func (r *renderer) addText(s string) {
	for _, c := range s {
		if unicode.IsSpace(c) {
			r.space = len(r.text) > 0
			continue
		}
		if !r.space && r.soft && isWordRune(c) && len(r.text) > 0 {
			last, _ := utf8.DecodeLastRune(r.text)
			r.space = isWordRune(last)
		}
		r.soft = false
		if r.space {
			r.text = append(r.text, ' ')
			r.md = append(r.md, ' ')
			r.space = false
		}
		r.text = utf8.AppendRune(r.text, c)
		r.md = utf8.AppendRune(r.md, c)
		if r.inLink > 0 {
			r.linkText++
		}
	}
}

// addMD appends markdown syntax only.
func (r *renderer) addMD(s string) {
	if r.space && len(r.md) > 0 {
		r.text = append(r.text, ' ')
		r.md = append(r.md, ' ')
		r.space = false
	}
	r.md = append(r.md, s...)
}

// flush ends the current block.
func (r *renderer) flush(kind blockKind) {
	t := string(bytes.TrimSpace(r.text))
	m := string(bytes.TrimSpace(r.md))
	r.text, r.md = r.text[:0], r.md[:0]
	r.space = false
	lt := r.linkText
	r.linkText = 0
	if t == "" {
		return
	}
	r.blocks = append(r.blocks, block{kind: kind, text: t, md: r.mdPrefix + m, linkText: lt})
}

func (r *renderer) node(n *html.Node, depth int) {
	if depth > maxRenderDepth {
		return
	}
	switch n.Type {
	case html.TextNode:
		r.addText(n.Data)
		return
	case html.ElementNode:
	default:
		r.children(n, depth)
		return
	}
	switch a := tagAtom(n); a {
	case atom.Script, atom.Style, atom.Noscript, atom.Template, atom.Head, atom.Img, atom.Svg,
		atom.Iframe, atom.Object, atom.Button, atom.Input, atom.Select, atom.Textarea:
		return
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		r.flush(blockPara)
		r.addMD(strings.Repeat("#", int(n.Data[1]-'0')) + " ")
		r.children(n, depth)
		r.flush(blockHeading)
	case atom.Br, atom.Hr:
		r.flush(blockPara)
	case atom.A:
		href := absURL(r.base, attr(n, "href"))
		if len(r.text) > 0 && !r.space {
			// the link starts a new word (see soft)
			last, _ := utf8.DecodeLastRune(r.text)
			r.space = isWordRune(last)
		}
		start, textStart := len(r.md), len(r.text)
		if href != "" {
			r.addMD("[")
		}
		r.inLink++
		r.children(n, depth)
		r.inLink--
		r.soft = true
		if href == "" {
			return
		}
		if len(r.text) == textStart {
			r.md = r.md[:start] // nothing to link
			return
		}
		r.md = append(r.md, "]("+href+")"...)
	case atom.B, atom.Strong, atom.Em, atom.I, atom.Span, atom.Mark, atom.U:
		r.soft = true
		r.children(n, depth)
		r.soft = true
	case atom.Ul, atom.Ol, atom.Dl:
		r.flush(blockPara)
		i := 0
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if ca := tagAtom(c); c.Type == html.ElementNode && (ca == atom.Li || ca == atom.Dt || ca == atom.Dd) {
				i++
				marker := "- "
				if a == atom.Ol {
					marker = strconv.Itoa(i) + ". "
				}
				r.item(c, depth+1, marker)
				continue
			}
			r.node(c, depth+1)
		}
		r.flush(blockPara)
	case atom.Li, atom.Dt, atom.Dd:
		r.item(n, depth, "- ")
	case atom.Table:
		r.table(n, depth)
	case atom.Pre:
		r.flush(blockPara)
		code := strings.Trim(textContent(n), "\n")
		if strings.TrimSpace(code) != "" {
			// code keeps its line breaks and indentation
			r.text = append(r.text[:0], code...)
			r.md = append(r.md[:0], "```\n"+code+"\n```"...)
		}
		r.flush(blockCode)
	case atom.Blockquote:
		r.flush(blockPara)
		old := r.mdPrefix
		r.mdPrefix += "> "
		r.children(n, depth)
		r.flush(blockPara)
		r.mdPrefix = old
	case atom.P, atom.Div, atom.Section, atom.Article, atom.Main, atom.Header, atom.Footer,
		atom.Aside, atom.Nav, atom.Figure, atom.Figcaption, atom.Address, atom.Details, atom.Summary,
		atom.Body, atom.Html, atom.Form, atom.Fieldset, atom.Caption:
		r.flush(blockPara)
		r.children(n, depth)
		r.flush(blockPara)
	default:
		r.children(n, depth)
	}
}

// item renders one list item; nested blocks inside it become items too.
func (r *renderer) item(n *html.Node, depth int, marker string) {
	r.flush(blockPara)
	old := r.mdPrefix
	r.addMD(marker)
	r.mdPrefix = old
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		r.node(c, depth+1)
		if len(r.blocks) > 0 && len(r.text) == 0 {
			// a nested block ended; what follows is indented under the item
			r.mdPrefix = old + "  "
		}
	}
	r.flush(blockItem)
	// blocks emitted inside the item are list content
	r.mdPrefix = old
}

func (r *renderer) table(n *html.Node, depth int) {
	r.flush(blockPara)
	type cell struct{ text, md string }
	var rows [][]cell
	var lt int
	var walk func(x *html.Node, d int)
	walk = func(x *html.Node, d int) {
		if d > maxRenderDepth {
			return
		}
		for c := x.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode {
				continue
			}
			if tagAtom(c) != atom.Tr {
				walk(c, d+1) // thead, tbody and nested tables flatten
				continue
			}
			var cells []cell
			for td := c.FirstChild; td != nil; td = td.NextSibling {
				if a := tagAtom(td); td.Type == html.ElementNode && (a == atom.Td || a == atom.Th) {
					inner := renderer{base: r.base}
					inner.children(td, d+1)
					inner.flush(blockPara)
					var ct, cm []string
					for _, b := range inner.blocks {
						ct = append(ct, b.text)
						cm = append(cm, b.md)
						lt += b.linkText
					}
					cells = append(cells, cell{strings.Join(ct, " "), strings.Join(cm, " ")})
				}
			}
			if len(cells) > 0 {
				rows = append(rows, cells)
			}
		}
	}
	walk(n, depth)
	first := len(r.blocks)
	for i, row := range rows {
		ts := make([]string, len(row))
		ms := make([]string, len(row))
		for j, c := range row {
			ts[j] = c.text
			ms[j] = strings.ReplaceAll(c.md, "|", `\|`)
		}
		md := "| " + strings.Join(ms, " | ") + " |"
		if i == 0 {
			seps := make([]string, len(row))
			for j := range seps {
				seps[j] = "---"
			}
			md += "\n| " + strings.Join(seps, " | ") + " |"
		}
		text := strings.TrimSpace(strings.Join(ts, " | "))
		if strings.Trim(text, " |") == "" {
			continue
		}
		r.blocks = append(r.blocks, block{kind: blockRow, text: text, md: r.mdPrefix + md})
	}
	if len(r.blocks) > first {
		r.blocks[len(r.blocks)-1].linkText += lt
	}
}

func textContent(n *html.Node) string {
	var b strings.Builder
	walkDOM(n, func(x *html.Node) bool {
		if x.Type == html.TextNode {
			b.WriteString(x.Data)
		}
		return true
	})
	return b.String()
}

// isWordRune reports letters and digits, the characters words are made of.
func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }

// tagAtom is the element's atom; nodes created by the extractor carry only
// their tag name, so look it up when the atom is unset.
func tagAtom(n *html.Node) atom.Atom {
	if n.DataAtom != 0 || n.Type != html.ElementNode {
		return n.DataAtom
	}
	return atom.Lookup([]byte(strings.ToLower(n.Data)))
}
