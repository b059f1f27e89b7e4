package pipeline

import (
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// walkDOM visits root and its descendants depth first, in document order,
// without recursion (pages nest deeply). visit returns whether to go into
// the node's children.
func walkDOM(root *html.Node, visit func(*html.Node) bool) {
	stack := []*html.Node{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !visit(n) {
			continue
		}
		for c := n.LastChild; c != nil; c = c.PrevSibling {
			stack = append(stack, c)
		}
	}
}

// isCode reports elements whose content is code or metadata, never page
// text: head, script and style.
func isCode(n *html.Node) bool {
	if n.Type != html.ElementNode {
		return false
	}
	switch n.DataAtom {
	case atom.Head, atom.Script, atom.Style:
		return true
	}
	return false
}

// isUnrendered reports elements whose content a reader never sees as
// text: isCode, and noscript, template and svg.
func isUnrendered(n *html.Node) bool {
	if isCode(n) {
		return true
	}
	if n.Type != html.ElementNode {
		return false
	}
	switch n.DataAtom {
	case atom.Noscript, atom.Template, atom.Svg:
		return true
	}
	return false
}
