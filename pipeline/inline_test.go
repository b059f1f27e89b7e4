package pipeline

import (
	"strings"
	"testing"
)

// articlePage wraps body paragraphs in enough article text for the
// extractor to take the page as an article.
func articlePage(inner string) string {
	filler := strings.Repeat("<p>The committee met on Tuesday to discuss the long-running plans for the river crossing, and members agreed to publish the full report next month after a public consultation.</p>\n", 4)
	return "<html><head><title>Report</title></head><body><nav><a href='/'>Home</a></nav><article><h1>Report</h1>" + filler + inner + filler + "</article><footer>Footer</footer></body></html>"
}

// TestInlineText covers text lost, moved or glued at inline boundaries,
// each bug found on real Common Crawl and archive pages.
func TestInlineText(t *testing.T) {
	tests := []struct {
		name, html string
		want       []string // substrings of Text
		not        []string
	}{
		{"table cell first child", `<table><tr><th>Name</th><th>Born</th></tr><tr><td><a href="/l">Leonardo da Vinci</a></td><td>1452</td></tr><tr><td><b>Michelangelo</b> Buonarroti</td><td>1475</td></tr></table>`,
			[]string{"Leonardo da Vinci", "Michelangelo Buonarroti"}, nil},
		{"link text in place", `<p>She works at the <a href="https://allenai.org">Allen Institute for AI</a> as a research scientist on language models and their evaluation.</p>`,
			[]string{"at the Allen Institute for AI as a research"}, nil},
		{"br boundary", `<p>The office moved from 12 Main Street<br>New York to a larger building downtown near the station.</p>`,
			[]string{"Street\nNew York"}, []string{"StreetNew"}},
		{"inline boundary", "<p>The paper by <a href=\"/fok\">Fok</a>\n<span>(University of Toronto)</span> and <em>colleagues</em>\nwas cited widely in the following years.</p>",
			[]string{"Fok (University of Toronto) and colleagues was"}, nil},
		{"short heading kept", `<h2>Results</h2><p>The results were published in a peer-reviewed journal and confirmed by two independent teams.</p>`,
			[]string{"Results\nThe results"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex, err := Extract(articlePage(tt.html), "https://example.org/2024/05/report-on-crossing", DefaultExtractOptions())
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(ex.Text, w) {
					t.Errorf("text lacks %q:\n%s", w, ex.Text)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(ex.Text, w) {
					t.Errorf("text has %q:\n%s", w, ex.Text)
				}
			}
		})
	}
}

// TestBylineTrimmed checks that a byline or dateline line before the body
// leaves Text and Markdown.
func TestBylineTrimmed(t *testing.T) {
	for _, line := range []string{"· Publié le 3 mars 2024 à 10h04", "By Jane Doe", "Updated 12 May 2023, 10:04"} {
		page := strings.Replace(articlePage(""), "<h1>Report</h1>", "<h1>Report</h1><p>"+line+"</p>", 1)
		ex, err := Extract(page, "https://example.org/2024/05/report-on-crossing", DefaultExtractOptions())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(ex.Text, line) || strings.Contains(ex.Markdown, line) {
			t.Errorf("byline %q left in text:\n%s", line, ex.Text)
		}
		if !strings.HasPrefix(ex.Text, "The committee met") {
			t.Errorf("text starts %q, want the body", ex.Text[:40])
		}
	}
}
