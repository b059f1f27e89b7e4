package pipeline

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// wordBlocks returns one paragraph block of n four-letter words.
func wordBlocks(n int) []block {
	return []block{{kind: blockPara, text: strings.TrimSpace(strings.Repeat("word ", n))}}
}

func TestChooseBlocks(t *testing.T) {
	tests := []struct {
		name      string
		pageType  string
		primary   int // words in trafilatura's text
		readable  int
		dom       int
		visible   int // word characters on the page
		want      string
		readCalls int
	}{
		{"article kept when strong", PageArticle, 500, 5000, 5000, 2000, SourceTrafilatura, 0},
		{"weak article, readability has 5x more", PageArticle, 50, 600, 0, 10000, SourceReadability, 1},
		{"weak article, readability only a little more", PageArticle, 100, 300, 0, 10000, SourceTrafilatura, 1},
		{"empty article takes readability", PageArticle, 0, 100, 0, 10000, SourceReadability, 1},
		{"near-empty article takes a much longer DOM text", PageArticle, 10, 0, 800, 10000, SourceDOM, 1},
		{"weak article keeps readability over a slightly longer DOM text", PageArticle, 10, 600, 800, 10000, SourceReadability, 1},
		{"listing takes the longer DOM text", PageListing, 300, 0, 400, 2000, SourceDOM, 0},
		{"listing keeps trafilatura when DOM finds nothing more", PageListing, 300, 0, 250, 2000, SourceTrafilatura, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			c := candidates{
				primary: nil,
				visible: tt.visible * 4,
				dom:     func() []block { return nonEmpty(tt.dom) },
				readable: func() []block {
					calls++
					return nonEmpty(tt.readable)
				},
			}
			c.primary = nonEmpty(tt.primary)
			_, got := chooseBlocks(tt.pageType, c)
			if got != tt.want {
				t.Errorf("source %q, want %q", got, tt.want)
			}
			if calls != tt.readCalls {
				t.Errorf("readability run %d times, want %d", calls, tt.readCalls)
			}
		})
	}
}

func nonEmpty(n int) []block {
	if n == 0 {
		return nil
	}
	return wordBlocks(n)
}

// TestNoscriptContent: forum software that renders with JavaScript
// serves its posts to crawlers inside <noscript> (the Discourse layout);
// the posts must come out as text, not as markup or nothing, and a
// tracking-pixel <noscript> must not be unwrapped.
func TestNoscriptContent(t *testing.T) {
	post := func(who, text string) string {
		return `<div class="topic-body crawler-post"><div class="crawler-post-meta"><span class="creator"><span itemprop="name">` + who +
			`</span></span></div><div class="post" itemprop="text"><p>` + text + `</p></div></div>`
	}
	page := `<html><head><title>Best first telescope</title></head><body>
<noscript><img src="https://px.example/t.gif"></noscript>
<section id="main"></section>
<noscript data-path="/t/best-first-telescope/1555"><header><a href="/">Astronomy Forum</a></header>
<div id="main-outlet" class="wrap" role="main"><h1>Best first telescope</h1>` +
		post("stargazer", "I am new to astronomy and would like advice on choosing my first telescope for planets and deep-sky objects.") +
		post("orion", "Before buying a telescope, begin with a binocular and a sky chart; learn the constellations first.") +
		post("stargazer", "Thanks, I will start with binoculars and a planisphere this winter and report back.") +
		`</div></noscript></body></html>`
	ex, err := Extract(page, "https://forum.example.org/t/best-first-telescope/1555", DefaultExtractOptions())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ex.Text, "<div") || strings.Contains(ex.Text, "itemprop") {
		t.Fatalf("markup in text: %q", ex.Text)
	}
	for _, want := range []string{"choosing my first telescope", "begin with a binocular", "start with binoculars"} {
		if !strings.Contains(ex.Text, want) {
			t.Errorf("text lacks %q: %q", want, ex.Text)
		}
	}
	if i, j := strings.Index(ex.Text, "choosing my first"), strings.Index(ex.Text, "start with binoculars"); i < 0 || j < i {
		t.Errorf("posts out of order: %q", ex.Text)
	}
}

// TestExtractionProfile: an article call with weak evidence of its own
// and a rival with some evidence is extracted as many blocks, one with
// weak evidence and no rival as a weak article; every other page keeps
// its type's profile.
func TestExtractionProfile(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pageType string
		score    map[string]float64
		want     string
	}{
		{"strong article", PageArticle, map[string]float64{PageArticle: 2.4, PageService: 1}, PageArticle},
		{"default article, no rival", PageArticle, map[string]float64{PageArticle: 0.5}, profileWeakArticle},
		{"default article, a weak rival", PageArticle, map[string]float64{PageArticle: 0.5, PageProduct: 0.4}, profileWeakArticle},
		{"one weak cue, no rival", PageArticle, map[string]float64{PageArticle: 1.0}, profileWeakArticle},
		{"a little more than one weak cue", PageArticle, map[string]float64{PageArticle: 1.1}, PageArticle},
		{"default article, a rival with evidence", PageArticle, map[string]float64{PageArticle: 0.5, PageListing: 0.8}, profileBlocks},
		{"one weak cue, a rival with evidence", PageArticle, map[string]float64{PageArticle: 1.0, PageService: 0.6}, profileBlocks},
		{"listing", PageListing, map[string]float64{PageArticle: 0.5, PageListing: 1.8}, PageListing},
	} {
		if got := extractionProfile(tc.pageType, tc.score); got != tc.want {
			t.Errorf("%s: profile %q, want %q", tc.name, got, tc.want)
		}
	}
	// The DOM rule applies to the blocks profile as to any non-article type.
	c := candidates{primary: wordBlocks(300), visible: 8000, dom: func() []block { return wordBlocks(400) }}
	if _, src := chooseBlocks(profileBlocks, c); src != SourceDOM {
		t.Errorf("blocks profile took %q, want the longer DOM text", src)
	}
	// A weak article weighs the DOM text although trafilatura kept a fair
	// share of the page (30% here); a strong one does not.
	c = candidates{primary: wordBlocks(600), visible: 8000, dom: func() []block { return wordBlocks(1000) }}
	if _, src := chooseBlocks(profileWeakArticle, c); src != SourceDOM {
		t.Errorf("weak article took %q, want the DOM text with 1.7x the words", src)
	}
	if _, src := chooseBlocks(PageArticle, c); src != SourceTrafilatura {
		t.Errorf("article took %q, want trafilatura's text", src)
	}
	c.dom = func() []block { return wordBlocks(800) }
	if _, src := chooseBlocks(profileWeakArticle, c); src != SourceTrafilatura {
		t.Errorf("weak article took %q, want trafilatura's text over a DOM text of only 1.3x", src)
	}
}

func TestDOMBlocksPruning(t *testing.T) {
	para := "<p>" + strings.Repeat("Plenty of words about the item itself. ", 12) + "</p>"
	tests := []struct {
		name     string
		body     string
		profile  string
		want     []string
		wantNone []string
	}{
		{
			name:     "a form around the whole page is its wrapper",
			body:     `<nav><a href="/">Home menu</a></nav><form id="MainForm"><h1>Page heading</h1>` + para + `<div class="sidebar">Sidebar links</div></form>`,
			profile:  PageService,
			want:     []string{"Page heading", "Plenty of words"},
			wantNone: []string{"Home menu", "Sidebar links"},
		},
		{
			name:     "a small form is boilerplate",
			body:     `<h1>Page heading</h1>` + para + `<form><p>Search the site</p></form>`,
			profile:  PageService,
			want:     []string{"Page heading"},
			wantNone: []string{"Search the site"},
		},
		{
			name:     "a results list named filter is kept when it holds the page",
			body:     `<div class="filters">Colour Size Price</div><div id="filter_results"><h2>Result one</h2>` + para + `</div>`,
			profile:  PageListing,
			want:     []string{"Result one"},
			wantNone: []string{"Colour Size Price"},
		},
		{
			name:     "form controls are dropped",
			body:     `<h1>Trail pack</h1>` + para + `<label for="s">Select a size</label><select id="s"><option>Small</option></select><button>Add to cart</button><div role="radiogroup">Venom Trio</div>`,
			profile:  PageProduct,
			want:     []string{"Trail pack"},
			wantNone: []string{"Select a size", "Small", "Add to cart", "Venom Trio"},
		},
		{
			name:     "a product page drops its reviews and similar items",
			body:     `<h1>Trail pack</h1>` + para + `<div class="product-reviews"><p>Great pack, five stars</p></div><section class="similar-items"><p>Other pack</p></section>`,
			profile:  PageProduct,
			want:     []string{"Trail pack"},
			wantNone: []string{"five stars", "Other pack"},
		},
		{
			name:     "a forum page drops its posters' signatures",
			body:     `<div class="post"><p class="author">Bob</p>` + para + `<div class="post-signature">Sent from my lathe</div></div>`,
			profile:  PageForum,
			want:     []string{"Bob", "Plenty of words"},
			wantNone: []string{"Sent from my lathe"},
		},
		{
			name:    "other pages keep sections named reviews",
			body:    `<h1>Best packs</h1>` + para + `<div class="product-reviews"><p>Great pack, five stars</p></div>`,
			profile: PageListing,
			want:    []string{"Best packs", "five stars"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, err := html.Parse(strings.NewReader("<html><body>" + tt.body + "</body></html>"))
			if err != nil {
				t.Fatal(err)
			}
			text := joinText(domBlocks(root, nil, tt.profile))
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("text lacks %q:\n%s", w, text)
				}
			}
			for _, w := range tt.wantNone {
				if strings.Contains(text, w) {
					t.Errorf("text keeps %q:\n%s", w, text)
				}
			}
		})
	}
}

func TestWordCharsOver(t *testing.T) {
	root, err := html.Parse(strings.NewReader("<div><p>abc de</p><p>f-g</p><script>ignored</script></div>"))
	if err != nil {
		t.Fatal(err)
	}
	// Text nodes hold "abc de", "f-g" and the script's text: 14 word
	// characters in all (textContent counts script text too).
	want := wordCharCount(textContent(root))
	for _, limit := range []int{0, want - 1, want, want + 1} {
		if got := wordCharsOver(root, limit); got != (want > limit) {
			t.Errorf("wordCharsOver(%d) = %v with %d word characters", limit, got, want)
		}
	}
}
