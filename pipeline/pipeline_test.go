package pipeline

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/swardnet/sward/schemas"
)

// articleHTML is a small but realistic news page.
func articleHTML(title string, paras int) string {
	var b strings.Builder
	b.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>` + title + ` | Daily Planet</title>
<meta property="og:site_name" content="Daily Planet"><meta property="og:url" content="/news/bridge">
<meta name="description" content="The council delayed its vote on the new bridge.">
<link rel="canonical" href="https://planet.example/news/bridge">
<script type="application/ld+json">{"@context":"https://schema.org","@type":"NewsArticle","headline":"` + title + `",
"datePublished":"2025-11-03T08:30:00+01:00","author":{"@type":"Person","name":"Lois Lane"},
"offers":{"price":"1.299,00","priceCurrency":"EUR"}}</script></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
<article><h1>` + title + `</h1><p class="byline">By Lois Lane</p>`)
	sentences := []string{
		"The city council met on Tuesday evening to discuss the future of the old bridge that links the two halves of the town.",
		"Engineers told the members that the structure has become unsafe and that repairs would cost more than a new crossing.",
		"Residents who came to the meeting asked for more time to study the plans and to hear from independent experts.",
		"The mayor said that a decision would be taken before the end of the year, whatever the outcome of the consultation.",
		"Local businesses fear that closing the bridge for a long time would drive customers away from the historic centre.",
		"A public exhibition of the three designs will open at the library next week and will stay open for a month.",
		"Traffic on the river road has doubled since heavy lorries were banned from crossing last spring.",
		"Cyclists have campaigned for a separate lane on any new structure, and their petition gathered four thousand names.",
		"The regional government has promised to cover half of the cost if work starts within two years.",
		"Opposition members questioned whether the estimates include the price of moving gas and water pipes.",
		"An independent survey commissioned last year found corrosion in most of the steel supports under the deck.",
		"Some older residents remember when the bridge was opened by a visiting minister in the summer of 1958.",
		"Historians have asked that the original lamp posts be kept and reused on whichever design is chosen.",
		"Shopkeepers near the eastern end report that sales have fallen since the weight limit was introduced.",
		"The fire service says that emergency vehicles now take a longer route, adding minutes to response times.",
		"Schools on the western bank have changed their bus timetables to avoid the morning queues.",
		"Council officers expect the consultation to receive more responses than any since the bypass was planned.",
		"Whatever is decided, the work is unlikely to finish before the autumn of the year after next.",
	}
	for i := 0; i < paras; i++ {
		b.WriteString("<p>")
		for j := 0; j < 3; j++ {
			b.WriteString(sentences[(i*3+j)%len(sentences)] + " ")
		}
		fmt.Fprintf(&b, "This is paragraph number %d of the report.</p>\n", i+1)
	}
	b.WriteString(`<h2>What happens next</h2><ul><li>Exhibition opens at the library on Monday</li><li>The council votes on the final design in December</li></ul>
<table><tr><th>Design</th><th>Cost</th></tr><tr><td>Arch</td><td>12 million</td></tr><tr><td>Suspension</td><td>15 million</td></tr></table>
<p>Contact the newsroom at news@planet.example or call +1 202 555 0143 with tips. See <a href="/news/bridge-history">the history of the bridge</a> for background.</p>
<p class="price">Price: €1.299,00</p>
</article><footer>Copyright 2025 Daily Planet. All rights reserved. <a href="/privacy">Privacy policy</a></footer></body></html>`)
	return b.String()
}

func TestProcessAcceptsArticle(t *testing.T) {
	p := newTestPipeline(t, func(c *Config) { c.AuditFraction = 0 })
	job := &schemas.JobSpec{Name: "news", TDMPolicy: schemas.TDMSkip, Fields: []schemas.FieldSpec{
		{Name: "headline", Type: "string", JSONLD: "NewsArticle.headline"},
		{Name: "published", Type: "date", JSONLD: "NewsArticle.datePublished"},
		{Name: "price", Type: "price", Selector: "p.price"},
		{Name: "ld_price", Type: "price", JSONLD: "NewsArticle.offers.price"},
		{Name: "history", Type: "url", Selector: "article a", Attr: "href"},
		{Name: "missing", Type: "number", Selector: "span.rating"},
	}}
	c := capture("https://planet.example/news/bridge", articleHTML("Council delays vote on new bridge", 6))
	r := p.Process(c, job)
	if r.Decision != Accept {
		t.Fatalf("decision %s, reasons %v, scores %v", r.Decision, r.Reasons, r.Scores)
	}
	d := r.Doc
	checks := []struct {
		name string
		ok   bool
	}{
		{"text has body", strings.Contains(d.Text, "The city council met on Tuesday")},
		{"text drops nav", !strings.Contains(d.Text, "Sport")},
		{"text drops headline (kept in Title)", !strings.HasPrefix(d.Text, "Council delays")},
		{"id", d.ID == schemas.DocumentID(d.JobID, c.URL)},
		{"url", d.URL == c.URL},
		{"date", d.Date == "2026-01-02T03:04:05Z"},
		{"language", d.Language == "en" && d.LanguageScore > 0.5},
		{"tokens", d.TokenCount > 300},
		{"title", d.Title != nil && *d.Title == "Council delays vote on new bridge"},
		{"author", d.Author != nil && strings.Contains(*d.Author, "Lois Lane")},
		{"published", d.PublishedAt != nil && d.PublishedAt.Equal(time.Date(2025, 11, 3, 7, 30, 0, 0, time.UTC))},
		{"site", d.SiteName != nil && *d.SiteName == "Daily Planet"},
		{"description", d.Description != nil && strings.Contains(*d.Description, "delayed its vote")},
		{"canonical", d.CanonicalURL != nil && *d.CanonicalURL == "https://planet.example/news/bridge"},
		{"host", d.Host == "planet.example"},
		{"fetched", d.FetchedAt.Equal(c.FetchedAt)},
		{"capture cid left to the caller that stores the capture", d.CaptureCID == ""},
		{"peer", d.NodePeerID == c.NodePeerID},
		{"sha", d.ContentSHA256 == schemas.SHA256Hex([]byte(d.Text))},
		{"job", d.JobID == "job1"},
		{"pii", d.PIIRedactions == 2 && strings.Contains(d.Text, RedactEmail) && strings.Contains(d.Text, RedactPhone) && !strings.Contains(d.Text, "news@planet")},
		{"cluster", d.DupClusterSize == 1},
		{"markdown heading", d.Markdown != nil && strings.Contains(*d.Markdown, "## What happens next")},
		{"markdown list", d.Markdown != nil && strings.Contains(*d.Markdown, "- Exhibition opens")},
		{"markdown table", d.Markdown != nil && strings.Contains(*d.Markdown, "| Design | Cost |\n| --- | --- |")},
		{"markdown link", d.Markdown != nil && strings.Contains(*d.Markdown, "[the history of the bridge](https://planet.example/news/bridge-history)")},
		{"field string", r.Fields["headline"] == "Council delays vote on new bridge"},
		{"field date", r.Fields["published"] == time.Date(2025, 11, 3, 7, 30, 0, 0, time.UTC)},
		{"field price css", r.Fields["price"] == Price{1299, "EUR"}},
		{"field price jsonld", r.Fields["ld_price"] == Price{1299, "EUR"}},
		{"field url", r.Fields["history"] == "https://planet.example/news/bridge-history"},
		{"field missing", r.Fields["missing"] == nil},
		{"structured data", d.StructuredData != nil && strings.Contains(*d.StructuredData, `"NewsArticle"`) && strings.Contains(*d.StructuredData, `"og:site_name":"Daily Planet"`)},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: doc %+v fields %v", c.name, d, r.Fields)
		}
	}

	// The same text again is an exact duplicate; a lightly edited copy at
	// another URL is a near duplicate; both grow the cluster.
	r2 := p.Process(capture("https://planet.example/amp/bridge", articleHTML("Council delays vote on new bridge", 6)), job)
	if r2.Decision != Reject || r2.Reasons[0] != "dedup:exact" || r2.Doc.DupClusterSize != 2 {
		t.Errorf("exact copy: %s %v size %d", r2.Decision, r2.Reasons, r2.Doc.DupClusterSize)
	}
	edited := strings.Replace(articleHTML("Council delays vote on new bridge", 6), "paragraph number 3", "paragraph number three", 1)
	r3 := p.Process(capture("https://mirror.example/bridge", edited), job)
	if r3.Decision != Reject || r3.Reasons[0] != "dedup:near" || r3.Doc.DupClusterSize != 3 {
		t.Errorf("near copy: %s %v size %d", r3.Decision, r3.Reasons, r3.Doc.DupClusterSize)
	}

	// Fields become typed Arrow columns, null where missing.
	rec := FieldsToRecord(memory.NewGoAllocator(), job.Fields, []map[string]any{r.Fields, {}})
	defer rec.Release()
	if rec.NumRows() != 2 || rec.NumCols() != int64(len(job.Fields)) {
		t.Fatalf("record shape %dx%d", rec.NumRows(), rec.NumCols())
	}
	if got := rec.Column(0).(*array.String).Value(0); got != "Council delays vote on new bridge" {
		t.Errorf("headline column = %q", got)
	}
	if !rec.Column(2).IsValid(0) || rec.Column(2).IsValid(1) || rec.Column(5).IsValid(0) {
		t.Error("null handling of field columns is wrong")
	}
	if got := rec.Column(2).(*array.Struct).Field(0).(*array.Float64).Value(0); got != 1299 {
		t.Errorf("price amount column = %v", got)
	}
}

func TestProcessRejects(t *testing.T) {
	good := articleHTML("Council delays vote on new bridge", 6)
	nested := strings.Repeat("<div>", 20000) + "<p>deep text here</p>" + strings.Repeat("</div>", 20000)
	boiler := `<html><body><nav><a href="/a">Home</a><a href="/b">News</a><a href="/c">Contact</a></nav>
<div class="cookie">We use cookies. Accept all cookies. Privacy policy. Terms of use.</div>
<footer><a href="/x">About</a> <a href="/y">Careers</a> Copyright 2025</footer></body></html>`
	rng := rand.New(rand.NewPCG(7, 8))
	var mixed strings.Builder
	mixed.WriteString("<html><body><article>")
	scripts := []string{"дом", "書", "بيت", "house", "σπίτι", "בית", "घर", "집"}
	for i := 0; i < 60; i++ {
		mixed.WriteString("<p>")
		for j := 0; j < 20; j++ {
			mixed.WriteString(scripts[rng.IntN(len(scripts))] + " ")
		}
		mixed.WriteString("</p>")
	}
	mixed.WriteString("</article></body></html>")

	tests := []struct {
		name   string
		mod    func(c *schemas.Capture)
		job    *schemas.JobSpec
		prefix string
	}{
		{"robots refusal", func(c *schemas.Capture) { c.Error = "robots: disallowed" }, nil, "robots:disallowed"},
		{"fetch error", func(c *schemas.Capture) { c.Error = "timeout: no answer in 30s" }, nil, "fetch:error"},
		{"status 404", func(c *schemas.Capture) { c.Status = 404 }, nil, "fetch:status_404"},
		{"tdm reserved", func(c *schemas.Capture) { c.OptOut.TDMReserved = true }, &schemas.JobSpec{Name: "j", TDMPolicy: schemas.TDMSkip}, "tdm:reserved"},
		{"noai under default policy", func(c *schemas.Capture) { c.OptOut.NoAI = true }, nil, "tdm:reserved"},
		{"empty body", func(c *schemas.Capture) { c.Body = nil }, nil, "decode:empty"},
		{"empty page", func(c *schemas.Capture) { c.Body = []byte("<html><body></body></html>") }, nil, "extract:empty"},
		{"whitespace page", func(c *schemas.Capture) { c.Body = []byte("   \n  ") }, nil, "decode:empty"},
		{"all boilerplate", func(c *schemas.Capture) { c.Body = []byte(boiler) }, nil, ""},
		{"binary junk as html", func(c *schemas.Capture) {
			b := make([]byte, 4096)
			for i := range b {
				b[i] = byte(rng.UintN(256))
			}
			c.Body = b
		}, nil, "decode:binary"},
		{"gzip as html", func(c *schemas.Capture) { c.Body = []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03junk") }, nil, "decode:binary"},
		{"deeply nested", func(c *schemas.Capture) { c.Body = []byte(nested) }, nil, "extract:too_deep"},
		{"truncated html", func(c *schemas.Capture) { c.Body = []byte(good[:len(good)/7]) }, nil, ""},
		{"5 MB one line", func(c *schemas.Capture) {
			c.Body = []byte("<html><body><p>" + strings.Repeat("lorem", 1<<20) + "</p></body></html>")
		}, nil, "extract:too_large"},
		{"5 MB one line of markup", func(c *schemas.Capture) {
			c.Body = []byte(strings.ReplaceAll(strings.Repeat(`<div class="x"><span>a</span></div>`, 5<<20/36), "\n", ""))
		}, nil, "extract:too_large"},
		{"mixed scripts", func(c *schemas.Capture) { c.Body = []byte(mixed.String()) }, nil, ""},
		{"invalid utf8", func(c *schemas.Capture) { c.Body = []byte(strings.Repeat("<p>bad \xc3\x28 \xa0\xa1 bytes</p>", 200)) }, nil, "decode:invalid_utf8"},
		{"image content type", func(c *schemas.Capture) { c.ContentType = "image/png" }, nil, "decode:content_type"},
		{"unwanted language", nil, &schemas.JobSpec{Name: "j", Languages: []string{"de"}}, "lang:not_wanted"},
		{"strict job threshold", nil, &schemas.JobSpec{Name: "j", Quality: map[string]float64{"min_doc_words": 5000}}, "quality:gopher_min_doc_words"},
		{"bad job override", nil, &schemas.JobSpec{Name: "j", Quality: map[string]float64{"nope": 1}}, "job:invalid_settings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestPipeline(t, nil)
			c := capture("https://planet.example/x", good)
			if tt.mod != nil {
				tt.mod(c)
			}
			start := time.Now()
			r := p.Process(c, tt.job)
			if r.Decision != Reject || len(r.Reasons) == 0 {
				t.Fatalf("decision %s reasons %v, want reject", r.Decision, r.Reasons)
			}
			found := false
			for _, reason := range r.Reasons {
				found = found || strings.HasPrefix(reason, tt.prefix)
				if strings.HasPrefix(reason, "internal:") {
					t.Fatalf("pipeline failed internally: %v", r.Reasons)
				}
			}
			if !found {
				t.Fatalf("reasons %v lack %q", r.Reasons, tt.prefix)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %s", d)
			}
			t.Logf("%v", r.Reasons)
		})
	}
}

func TestProcessTDMRecordKeeps(t *testing.T) {
	p := newTestPipeline(t, func(c *Config) { c.AuditFraction = 0 })
	c := capture("https://planet.example/news/bridge", articleHTML("Council delays vote on new bridge", 6))
	c.OptOut.TDMReserved = true
	if r := p.Process(c, &schemas.JobSpec{Name: "j", TDMPolicy: schemas.TDMRecord}); r.Decision != Accept {
		t.Fatalf("record policy: %s %v", r.Decision, r.Reasons)
	}
}

func TestProcessReviewRouting(t *testing.T) {
	// Audit: a fraction of 1 sends every good document to review, and the
	// draw is a pure function of the URL.
	p := newTestPipeline(t, func(c *Config) { c.AuditFraction = 1 })
	r := p.Process(capture("https://planet.example/a", articleHTML("Council delays vote on new bridge", 6)), nil)
	if r.Decision != Review || !contains(r.Reasons, "review:audit") || r.Doc == nil {
		t.Fatalf("audit: %s %v", r.Decision, r.Reasons)
	}
	if auditDraw("https://planet.example/a") != auditDraw("https://planet.example/a") {
		t.Fatal("audit draw is not deterministic")
	}
	n := 0
	for i := 0; i < 10000; i++ {
		if auditDraw(fmt.Sprintf("https://h.example/%d", i)) < 0.01 {
			n++
		}
	}
	if n < 60 || n > 140 {
		t.Errorf("audit fraction 0.01 picked %d of 10000", n)
	}
	// A body cut at the node's size limit.
	p = newTestPipeline(t, func(c *Config) { c.AuditFraction = 0 })
	tc := capture("https://planet.example/t", articleHTML("Council delays vote on new bridge", 6))
	tc.Truncated = true
	if r = p.Process(tc, nil); r.Decision != Review || !contains(r.Reasons, "review:truncated_body") {
		t.Fatalf("truncated: %s %v", r.Decision, r.Reasons)
	}
	// Borderline language score.
	p = newTestPipeline(t, func(c *Config) { c.AuditFraction = 0; c.MinLanguageScore = 0.99; c.ReviewMargin = 0.5 })
	p.cfg.LanguageThresholds = map[string]float64{"en": 0.6}
	r = p.Process(capture("https://planet.example/b", articleHTML("Council delays vote on new bridge", 6)), nil)
	if r.Decision != Review || !contains(r.Reasons, "review:borderline_language") {
		t.Fatalf("borderline: %s %v", r.Decision, r.Reasons)
	}
	// Low extraction confidence.
	bad := DefaultConfig()
	bad.ReviewConfidence = 1.01
	if _, err := New(bad); err == nil {
		t.Fatal("review confidence above 1 validated")
	}
	p = newTestPipeline(t, func(c *Config) { c.AuditFraction = 0; c.ReviewConfidence = 0.9 })
	r = p.Process(capture("https://planet.example/c", articleHTML("Council delays vote on new bridge", 2)), nil)
	if r.Decision != Review || !contains(r.Reasons, "review:low_confidence") {
		t.Fatalf("low confidence: %s %v %v", r.Decision, r.Reasons, r.Scores["extract_confidence"])
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestProcessConcurrent(t *testing.T) {
	p := newTestPipeline(t, func(c *Config) { c.AuditFraction = 0 })
	var wg sync.WaitGroup
	results := make([]Result, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = p.Process(capture(fmt.Sprintf("https://planet.example/%d", i), articleHTML("Council delays vote on new bridge", 6)), nil)
		}()
	}
	wg.Wait()
	accepted := 0
	for _, r := range results {
		if r.Decision == Accept {
			accepted++
		} else if r.Reasons[0] != "dedup:exact" {
			t.Errorf("unexpected %s %v", r.Decision, r.Reasons)
		}
	}
	if accepted != 1 {
		t.Errorf("%d copies accepted, want exactly 1", accepted)
	}
}

func TestDocumentsRoundTrip(t *testing.T) {
	p := newTestPipeline(t, func(c *Config) { c.AuditFraction = 0 })
	r := p.Process(capture("https://planet.example/news/bridge", articleHTML("Council delays vote on new bridge", 6)), nil)
	if r.Doc == nil {
		t.Fatal("no document")
	}
	rec := schemas.DocumentsToRecord(memory.NewGoAllocator(), []schemas.Document{*r.Doc})
	defer rec.Release()
	back, err := schemas.DocumentsFromRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if back[0].Text != r.Doc.Text || back[0].ID != r.Doc.ID || *back[0].StructuredData != *r.Doc.StructuredData {
		t.Fatal("document did not survive the Arrow round trip")
	}
	if back[0].Markdown != nil {
		t.Fatal("document table carries markdown; it belongs in the markdown table")
	}
	if r.Doc.Markdown == nil {
		t.Fatal("pipeline produced no markdown")
	}
	mrec := schemas.MarkdownToRecord(memory.NewGoAllocator(), []schemas.Document{*r.Doc})
	defer mrec.Release()
	md, err := schemas.MarkdownFromRecord(mrec)
	if err != nil {
		t.Fatal(err)
	}
	if len(md) != 1 || md[0].ID != r.Doc.ID || md[0].Markdown != *r.Doc.Markdown {
		t.Fatalf("markdown did not survive the Arrow round trip: %+v", md)
	}
}
