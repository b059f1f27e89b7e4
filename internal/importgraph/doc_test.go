package importgraph

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// architectureDoc is the map whose import graph this package checks.
var architectureDoc = filepath.Join("..", "..", "docs", "ARCHITECTURE.md")

// graphMarker opens the paragraph just before the graph's code block.
const graphMarker = "The import graph"

// everything, as the right side of a graph line, lets a package import
// every project package (cmd/sward).
const everything = "everything"

var parenthetical = regexp.MustCompile(`\([^()]*\)`)

// docGraph reads the import graph of docs/ARCHITECTURE.md: the first code
// block after graphMarker, one rule a line (an indented line continues the
// one above): "a, b  ->  c, d" says packages a and b import no project
// package but c and d; a line without "->" names leaves. Parenthesised
// notes are comments; any other word is a package name. It returns each package's allowed imports.
func docGraph(t *testing.T) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(architectureDoc)
	if err != nil {
		t.Fatalf("reading the architecture doc: %v", err)
	}
	doc := string(raw)
	i := strings.Index(doc, graphMarker)
	if i < 0 {
		t.Fatalf("%s has no %q paragraph: keep the graph there", architectureDoc, graphMarker)
	}
	_, block, ok := strings.Cut(doc[i:], "```\n")
	if ok {
		block, _, ok = strings.Cut(block, "```")
	}
	if !ok {
		t.Fatalf("%s: no code block after %q", architectureDoc, graphMarker)
	}
	var rules []string
	for line := range strings.Lines(block) {
		switch {
		case strings.TrimSpace(line) == "":
		case line[0] == ' ' && len(rules) > 0:
			rules[len(rules)-1] += " " + line
		default:
			rules = append(rules, line)
		}
	}
	graph := map[string][]string{}
	for _, rule := range rules {
		rule = parenthetical.ReplaceAllString(rule, "")
		lhs, rhs, _ := strings.Cut(rule, "->")
		allowed := names(rhs)
		for _, p := range names(lhs) {
			if _, dup := graph[p]; dup {
				t.Errorf("%s names %s on the left of two graph lines", architectureDoc, p)
			}
			graph[p] = allowed
		}
	}
	return graph
}

// names splits a list of package names on commas and white space.
func names(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// TestDocGraphMatchesGoList: every package of the module is on the left of
// a line of the documented graph, no line names a package that is gone,
// and each package imports no project package its line does not list
// (internal/logkey aside: any package but the pipeline may import it).
func TestDocGraphMatchesGoList(t *testing.T) {
	pkgs := listPackages(t)
	graph := docGraph(t)
	var missing []string
	for path, p := range pkgs {
		r := rel(path)
		allowed, ok := graph[r]
		if !ok {
			missing = append(missing, r)
			continue
		}
		if len(allowed) == 1 && allowed[0] == everything {
			continue
		}
		for _, imp := range p.imports {
			ri := rel(imp)
			if !strings.HasPrefix(imp, module+"/") || (ri == logkeyPkg && r != "pipeline") {
				continue
			}
			ok := false
			for _, a := range allowed {
				ok = ok || a == ri
			}
			if !ok {
				t.Errorf("%s imports %s, which its line of the graph in %s does not list (%v): fix the code or the doc",
					r, ri, architectureDoc, allowed)
			}
		}
	}
	sort.Strings(missing)
	for _, r := range missing {
		t.Errorf("package %s is missing from the import graph in %s: add a line for it", r, architectureDoc)
	}
	for name, allowed := range graph {
		for _, n := range append([]string{name}, allowed...) {
			if n == everything {
				continue
			}
			if _, ok := pkgs[module+"/"+n]; !ok {
				t.Errorf("the graph in %s names %s, which go list does not report", architectureDoc, n)
			}
		}
	}
}

// TestDocGraphParse pins the graph's line format on a small sample.
func TestDocGraphParse(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "A.md")
	text := "intro\n\n" + graphMarker + ", as go list reports it:\n\n```\n" +
		"schemas            (leaf: imports nothing)\n" +
		"a, b/c  ->  schemas (a note,\n" +
		"            over two lines), d\n" +
		"cmd/x   ->  everything\n```\n\nafter\n```\nz -> y\n```\n"
	if err := os.WriteFile(doc, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	old := architectureDoc
	architectureDoc = doc
	defer func() { architectureDoc = old }()
	got := docGraph(t)
	want := map[string]string{"schemas": "", "a": "schemas d", "b/c": "schemas d", "cmd/x": everything}
	if len(got) != len(want) {
		t.Fatalf("docGraph = %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || strings.Join(g, " ") != v {
			t.Errorf("docGraph[%q] = %v, want %q", k, g, v)
		}
	}
}
