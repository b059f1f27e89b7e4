package curator

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// A scraped page is hostile input shown in the curator's browser. Two
// independent layers keep it inert: Sanitize rebuilds it from an allowlist
// of elements and attributes (no script, no event handler, no URL that could
// run code or reach the network), and the UI shows the result in an iframe
// with an empty sandbox attribute and a Content-Security-Policy that allows
// nothing but inline data: images.

// allowedTags are kept (without attributes unless allowedAttrs says so).
var allowedTags = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Span: true, atom.A: true, atom.Br: true, atom.Hr: true,
	atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Ul: true, atom.Ol: true, atom.Li: true, atom.Dl: true, atom.Dt: true, atom.Dd: true,
	atom.Table: true, atom.Thead: true, atom.Tbody: true, atom.Tfoot: true, atom.Tr: true, atom.Th: true, atom.Td: true, atom.Caption: true,
	atom.Blockquote: true, atom.Pre: true, atom.Code: true, atom.Em: true, atom.Strong: true, atom.B: true, atom.I: true,
	atom.U: true, atom.S: true, atom.Small: true, atom.Sub: true, atom.Sup: true, atom.Figure: true, atom.Figcaption: true,
	atom.Article: true, atom.Section: true, atom.Header: true, atom.Footer: true, atom.Main: true, atom.Nav: true, atom.Aside: true,
	atom.Time: true, atom.Abbr: true, atom.Cite: true, atom.Q: true, atom.Mark: true, atom.Del: true, atom.Ins: true, atom.Img: true,
}

// droppedWithContent are removed together with everything inside them.
var droppedWithContent = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Template: true, atom.Iframe: true, atom.Object: true, atom.Embed: true,
	atom.Svg: true, atom.Math: true, atom.Title: true, atom.Noscript: true, atom.Applet: true,
	atom.Frame: true, atom.Frameset: true, atom.Noembed: true, atom.Noframes: true, atom.Audio: true, atom.Video: true,
	atom.Canvas: true, atom.Select: true, atom.Textarea: true, atom.Button: true, atom.Xmp: true, atom.Plaintext: true,
}

// allowedAttrs are the only attributes kept; none of them holds a URL or code.
var allowedAttrs = map[string]bool{
	"title": true, "alt": true, "lang": true, "dir": true, "colspan": true, "rowspan": true, "datetime": true,
}

var voidTags = map[atom.Atom]bool{atom.Br: true, atom.Hr: true, atom.Img: true}

// htmlVoid are the elements that never have content or an end tag.
var htmlVoid = map[atom.Atom]bool{
	atom.Area: true, atom.Base: true, atom.Br: true, atom.Col: true, atom.Embed: true, atom.Hr: true, atom.Img: true,
	atom.Input: true, atom.Link: true, atom.Meta: true, atom.Param: true, atom.Source: true, atom.Track: true,
	atom.Wbr: true, atom.Frame: true, atom.Keygen: true,
}

// maxSanitizeDepth bounds the nesting Sanitize keeps, so that matching end
// tags stays cheap on adversarial input; deeper elements keep only their
// text.
const maxSanitizeDepth = 256

// MaxSanitizeInput bounds the HTML Sanitize reads; the rest is dropped.
const MaxSanitizeInput = 4 << 20

// Sanitize rebuilds untrusted HTML from an allowlist. Links keep their text
// but lose their target (an http(s) target is shown as the link's title);
// images keep only their alt text unless they are inline data: images.
func Sanitize(untrusted string) string {
	if len(untrusted) > MaxSanitizeInput {
		untrusted = untrusted[:MaxSanitizeInput]
	}
	z := html.NewTokenizer(strings.NewReader(untrusted))
	var out bytes.Buffer
	var open []atom.Atom // kept elements not yet closed
	skip := 0            // depth inside a dropped-with-content element
	var skipTag atom.Atom
	var skipName string // for custom elements, which have no atom
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			// EOF, or ErrBufferExceeded on absurd input: either way the
			// document ends here, with what is open closed.
			for i := len(open) - 1; i >= 0; i-- {
				out.WriteString("</" + open[i].String() + ">")
			}
			return out.String()
		case html.TextToken:
			if skip == 0 {
				out.WriteString(html.EscapeString(string(z.Text())))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			// Browsers ignore the self-closing flag on HTML elements that
			// are not void ("<a/>" opens an a), and so do we.
			tok := z.Token()
			if skip > 0 {
				if tok.DataAtom == skipTag && tok.Data == skipName {
					skip++
				}
				continue
			}
			if htmlVoid[tok.DataAtom] && !allowedTags[tok.DataAtom] {
				continue // <embed>, <meta>, <link>, <base>, <input>...: no content to drop
			}
			if droppedWithContent[tok.DataAtom] || tok.DataAtom == 0 && isForeign(tok.Data) {
				skip, skipTag, skipName = 1, tok.DataAtom, tok.Data
				continue
			}
			if !allowedTags[tok.DataAtom] || (!voidTags[tok.DataAtom] && len(open) >= maxSanitizeDepth) {
				continue // drop the tag, keep its text
			}
			writeStart(&out, tok)
			if !voidTags[tok.DataAtom] {
				open = append(open, tok.DataAtom)
			}
		case html.EndTagToken:
			tok := z.Token()
			if skip > 0 {
				if tok.DataAtom == skipTag && tok.Data == skipName {
					skip--
				}
				continue
			}
			// Close only what we opened, innermost first.
			for i := len(open) - 1; i >= 0; i-- {
				if open[i] == tok.DataAtom {
					for j := len(open) - 1; j >= i; j-- {
						out.WriteString("</" + open[j].String() + ">")
					}
					open = open[:i]
					break
				}
			}
		case html.CommentToken, html.DoctypeToken:
			// Dropped: conditional comments can carry markup.
		}
	}
}

// isForeign reports an unknown element name with a namespace prefix or a
// custom-element dash; their content is dropped since their behaviour is
// defined by scripts.
func isForeign(name string) bool {
	return strings.ContainsAny(name, ":-")
}

func writeStart(out *bytes.Buffer, tok html.Token) {
	out.WriteString("<" + tok.DataAtom.String())
	for _, a := range tok.Attr {
		key := strings.ToLower(a.Key)
		switch {
		case a.Namespace != "":
			continue
		case allowedAttrs[key]:
			writeAttr(out, key, a.Val)
		case tok.DataAtom == atom.A && key == "href":
			if u := strings.TrimSpace(a.Val); strings.HasPrefix(strings.ToLower(u), "http://") || strings.HasPrefix(strings.ToLower(u), "https://") {
				writeAttr(out, "title", "link to "+u)
			}
		case tok.DataAtom == atom.Img && key == "src":
			if v := strings.TrimSpace(a.Val); isDataImage(v) {
				writeAttr(out, "src", v)
			}
		}
	}
	out.WriteString(">")
}

func isDataImage(v string) bool {
	l := strings.ToLower(v)
	for _, p := range []string{"data:image/png;", "data:image/jpeg;", "data:image/gif;", "data:image/webp;"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

func writeAttr(out *bytes.Buffer, k, v string) {
	out.WriteString(" " + k + `="` + html.EscapeString(v) + `"`)
}

// sandboxCSP is the policy inside the preview document, on top of the
// iframe's empty sandbox and the policy it inherits from the UI page.
const sandboxCSP = "default-src 'none'; img-src data:; style-src 'none'; script-src 'none'; form-action 'none'; base-uri 'none'"

// PreviewDocument wraps sanitised HTML as a complete document for an
// iframe's srcdoc, with its own restrictive policy.
func PreviewDocument(untrusted string) string {
	return `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="` +
		sandboxCSP + `"></head><body>` + Sanitize(untrusted) + `</body></html>`
}
