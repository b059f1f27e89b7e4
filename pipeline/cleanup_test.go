package pipeline

import (
	"strings"
	"testing"
)

// storyBody is enough article text for trafilatura to take the page as
// an article.
var storyBody = strings.Repeat("<p>It was a dark and stormy night when the travellers came to the inn by the river, and the landlord gave them bread and wine and a warm fire.</p>", 8)

// TestUnglueTitle: a heading whose parts are split only by markup (the
// Project Gutenberg layout) must not give a glued title.
func TestUnglueTitle(t *testing.T) {
	tests := []struct{ name, heading, want string }{
		{"br", `<h1>Charles Dickens<br>No Thoroughfare</h1>`, "Charles Dickens No Thoroughfare"},
		{"divs", `<h1><div class="author">Charles Dickens</div><div class="title">No Thoroughfare</div></h1>`, "Charles Dickens No Thoroughfare"},
		{"styled part of a word stays whole", `<h1>Ex<em>ample</em> Title</h1>`, "Example Title"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := `<html><body><article>` + tt.heading + storyBody + `</article></body></html>`
			ex, err := Extract(page, "https://example.org/ebooks/1423", DefaultExtractOptions())
			if err != nil {
				t.Fatal(err)
			}
			if ex.Title != tt.want {
				t.Errorf("title %q, want %q", ex.Title, tt.want)
			}
		})
	}
}

func TestIsNavLine(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"< HOME PAGE < GAME REPORTS", true},
		{"Home › News › Sport", true},
		{"« Previous | Next »", true},
		{"Web | Images | Video | News | Archive", true},
		{"TCP/IP", false},
		{"Input > Output", false},
		{"Prices rose 3% > forecast, economists said.", false},
		{"The committee met on Tuesday and agreed the budget", false},
	}
	for _, tt := range tests {
		if got := isNavLine(tt.line); got != tt.want {
			t.Errorf("isNavLine(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

// TestNavAndPromoLines: a plain-text menu line before the story (an
// archived sports site's "< HOME PAGE < GAME REPORTS") and newsletter and
// copyright lines before a trailing line must not stay in the text.
func TestNavAndPromoLines(t *testing.T) {
	page := `<html><body><div class="story"><p>&lt; HOME PAGE &lt; GAME REPORTS</p><h2>Cardinals 24, Rams 10</h2>` + storyBody +
		`<p>Sign up for our weekly newsletter to get every game report.</p><p>Copyright © 2004 Gridiron Archive. All rights reserved.</p><p>Filed under game reports</p></div></body></html>`
	ex, err := Extract(page, "https://example.org/reports/cardinals-rams-2004-game", DefaultExtractOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"HOME PAGE", "newsletter", "All rights reserved"} {
		if strings.Contains(ex.Text, bad) {
			t.Errorf("text keeps %q: %q", bad, ex.Text)
		}
	}
	if !strings.Contains(ex.Text, "dark and stormy night") || !strings.Contains(ex.Text, "Filed under game reports") {
		t.Errorf("story lost: %q", ex.Text)
	}
}
