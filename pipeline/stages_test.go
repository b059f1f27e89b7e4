package pipeline

import (
	"errors"
	"math"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/swardnet/sward/schemas"
)

func TestDecode(t *testing.T) {
	latin1 := []byte("<html><body><p>caf\xe9 cr\xe8me</p></body></html>")
	tests := []struct {
		name    string
		body    []byte
		ct      string
		want    string
		wantErr error
	}{
		{"utf8", []byte("<p>café</p>"), "text/html; charset=utf-8", "<p>café</p>", nil},
		{"undeclared utf8", []byte("<p>naïve</p>"), "text/html", "<p>naïve</p>", nil},
		{"latin1 header", latin1, "text/html; charset=iso-8859-1", "café crème", nil},
		{"meta charset", append([]byte(`<meta charset="windows-1252">`), latin1...), "text/html", "café crème", nil},
		{"empty", []byte("  \n\t"), "text/html", "", ErrEmptyBody},
		{"png labelled html", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "text/html", "", ErrBinaryBody},
		{"nul bytes", []byte("abc\x00\x00def"), "text/html", "", ErrBinaryBody},
		{"invalid utf8", []byte(strings.Repeat("ok \xff\xfe ", 50)), "text/html; charset=utf-8", "", ErrInvalidUTF8},
		{"stray invalid byte", []byte(strings.Repeat("fine text ", 200) + "\xff"), "text/html; charset=utf-8", "fine text", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.body, tt.ct)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(got, tt.want) {
				t.Fatalf("got %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"e\u0301cole", "\u00e9cole"},                    // NFC
		{"Itâ€™s a cafÃ© test", "It’s a café test"},      // mojibake
		{"  a \t  b  \n\n\n c\u200b ", "a b\nc"},         // whitespace, zero-width
		{"日本語のテキスト", "日本語のテキスト"},                         // untouched
		{"Ã and é together: Ãµ", "Ã and é together: Ãµ"}, // not repairable as a line
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestC4Lines(t *testing.T) {
	cfg := DefaultConfig()
	in := "This line is long enough to stay.\nToo short\nPlease enable JavaScript to view comments.\nRead our privacy policy for details here.\nA citation[12] is removed here."
	got, removed := c4Lines(in, "en", &cfg)
	want := "This line is long enough to stay.\nA citation is removed here."
	if got != want || removed != 3 {
		t.Fatalf("got %q (%d removed), want %q (3)", got, removed, want)
	}
	if got, _ := c4Lines("短い行です。\n二行目", "ja", &cfg); got != "短い行です。\n二行目" {
		t.Fatalf("unspaced language lines were dropped: %q", got)
	}
}

func TestDetectLanguage(t *testing.T) {
	tests := []struct{ text, lang string }{
		{"The quick brown fox jumps over the lazy dog while the farmer watches from the porch of the old house.", "en"},
		{"Der schnelle braune Fuchs springt über den faulen Hund, während der Bauer von der Veranda des alten Hauses zusieht.", "de"},
		{"Le renard brun rapide saute par-dessus le chien paresseux pendant que le fermier regarde depuis le porche.", "fr"},
		{"Быстрая коричневая лиса прыгает через ленивую собаку, пока фермер смотрит с крыльца старого дома.", "ru"},
	}
	for _, tt := range tests {
		lang, score := DetectLanguage(tt.text)
		if lang != tt.lang || score <= 0 || score > 1 {
			t.Errorf("DetectLanguage(%.20q) = %s %.2f, want %s", tt.text, lang, score, tt.lang)
		}
	}
	if lang, score := DetectLanguage("12345 !!! ---"); lang != "" || score != 0 {
		t.Errorf("no-language text detected as %s %.2f", lang, score)
	}
}

func TestRedactPII(t *testing.T) {
	tests := []struct {
		in, want string
		n        PIICounts
	}{
		{"Write to jane.doe@example.org today.", "Write to [EMAIL] today.", PIICounts{Email: 1}},
		{"Call +44 20 7946 0958 or (555) 123-4567.", "Call [PHONE] or [PHONE].", PIICounts{Phone: 2}},
		{"Server 8.8.8.8 and router 192.168.1.1.", "Server [IP] and router 192.168.1.1.", PIICounts{IP: 1}},
		{"IPv6 2606:4700:4700::1111 and ::1", "IPv6 [IP] and ::1", PIICounts{IP: 1}},
		{"Card 4111 1111 1111 1111 ok", "Card [CARD] ok", PIICounts{Card: 1}},
		{"Not a card 4111 1111 1111 1112", "Not a card 4111 1111 1111 1112", PIICounts{}},
		{"In 2019-2020 the price was 1,299.00 on 12.03.2020.", "In 2019-2020 the price was 1,299.00 on 12.03.2020.", PIICounts{}},
		{"Doc range 203.0.113.7 is an example.", "Doc range 203.0.113.7 is an example.", PIICounts{}},
	}
	for _, tt := range tests {
		got, n := RedactPII(tt.in)
		if got != tt.want || n != tt.n {
			t.Errorf("RedactPII(%q) = %q %+v, want %q %+v", tt.in, got, n, tt.want, tt.n)
		}
	}
}

func TestLuhn(t *testing.T) {
	for s, want := range map[string]bool{
		"4111111111111111": true, "5500 0000 0000 0004": true, "4111111111111112": false,
		"0000000000000000": false, "123": false,
	} {
		if got := luhnValid(s); got != want {
			t.Errorf("luhnValid(%q) = %v, want %v", s, got, want)
		}
	}
}

func words(n int, seed string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(seed)
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteByte(' ')
	}
	return b.String()
}

func TestDedup(t *testing.T) {
	d := NewDedup(5, 14, 8)
	base := words(300, "w")
	edited := strings.Replace(base, "wa ", "zz ", 1)
	other := words(300, "q")
	r := d.Add(d.Key(base), true, true)
	if r.Exact || r.Near || r.ClusterSize != 1 {
		t.Fatalf("first doc: %+v", r)
	}
	r = d.Add(d.Key("  "+strings.ToUpper(base)+"!"), true, true)
	if !r.Exact || r.ClusterSize != 2 {
		t.Fatalf("exact copy (case, spacing, punctuation): %+v", r)
	}
	r = d.Add(d.Key(edited), true, true)
	if r.Exact || !r.Near || r.ClusterSize != 3 {
		t.Fatalf("near copy: %+v", r)
	}
	r = d.Add(d.Key(other), true, true)
	if r.Exact || r.Near || r.ClusterSize != 1 {
		t.Fatalf("different doc: %+v", r)
	}
	if s := Similarity(d.Key(base).Signature, d.Key(edited).Signature); s < 0.8 {
		t.Errorf("similarity of near copies = %.2f", s)
	}
	if s := Similarity(d.Key(base).Signature, d.Key(other).Signature); s > 0.1 {
		t.Errorf("similarity of different docs = %.2f", s)
	}
	if d.Len() != 3 {
		t.Errorf("Len = %d, want 3 (exact copies are not re-added)", d.Len())
	}
}

func TestQualityRules(t *testing.T) {
	good := strings.Repeat("The committee met on Tuesday to discuss the budget and the plans that have been made with the city. ", 1) +
		"Members agreed to review the proposal again next month. They said the costs of the new bridge had risen sharply. " +
		"The mayor wants a decision before the end of the year. Residents have asked for more time to comment on the plans. " +
		"A public meeting will be held at the library. The council expects a large turnout from local families and businesses."
	tests := []struct {
		name   string
		text   string
		reason string // "" = passes
	}{
		{"good prose", good, ""},
		{"too short", "The cat sat on the mat with the dog.", "quality:gopher_min_doc_words"},
		{"no stop words", strings.Repeat("Purple elephants dance quietly. Bright rivers sing loudly. ", 10), "quality:gopher_stop_words"},
		{"repeated lines", strings.Repeat("Buy the best shoes with the lowest prices today.\n", 20), "quality:gopher_dup_line_frac"},
		{"symbols", strings.Repeat("#tag #the #and #of #to #with ", 15), "quality:gopher_symbol_word_ratio"},
		{"curly bracket", good + " function() { return the value; }", "quality:c4_curly_bracket"},
		{"lorem ipsum", good + " Lorem ipsum dolor sit amet.", "quality:c4_lorem_ipsum"},
		{"list page", strings.Repeat("the and of\n", 40) + good, "quality:fineweb_line_punct_ratio"},
	}
	cfg := DefaultConfig()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &checker{scores: map[string]float64{}}
			st := newTextStats(tt.text)
			gopherRepetition(st, &cfg, c)
			gopherQuality(st, "en", &cfg, c)
			filtered, _ := c4Lines(tt.text, "en", &cfg)
			c4Document(filtered, &cfg, c)
			finewebQuality(filtered, &cfg, c)
			if tt.reason == "" {
				if len(c.reasons) != 0 {
					t.Fatalf("good text rejected: %v (scores %v)", c.reasons, c.scores)
				}
				return
			}
			found := false
			for _, r := range c.reasons {
				found = found || r == tt.reason
			}
			if !found {
				t.Fatalf("reasons %v lack %s", c.reasons, tt.reason)
			}
		})
	}
}

func TestConfigForJob(t *testing.T) {
	base := DefaultConfig()
	job := &schemas.JobSpec{Name: "j", Quality: map[string]float64{
		"min_doc_words": 10, "lang:de": 0.9, "top_2gram_frac": 0.5, "dup_7gram_frac": 0.2,
	}, Languages: []string{"de"}}
	c, err := base.ForJob(job)
	if err != nil {
		t.Fatal(err)
	}
	if c.MinDocWords != 10 || c.LanguageThresholds["de"] != 0.9 || c.TopNGramFrac[2] != 0.5 || c.DupNGramFrac[7] != 0.2 || !c.languageAllowed("de") || c.languageAllowed("en") {
		t.Fatalf("overrides not applied: %+v", c)
	}
	if base.MinDocWords != 50 || base.TopNGramFrac[2] != 0.2 || len(base.LanguageThresholds) != 0 {
		t.Fatal("ForJob changed the base config")
	}
	for _, bad := range []map[string]float64{{"no_such_rule": 1}, {"dup_line_frac": 2}} {
		if _, err := base.ForJob(&schemas.JobSpec{Name: "j", Quality: bad}); err == nil {
			t.Errorf("override %v accepted", bad)
		}
	}
	bad := DefaultConfig()
	bad.DedupBands = 0
	if _, err := New(bad); err == nil {
		t.Error("New accepted zero dedup bands")
	}
}

func TestParseNumberAndPrice(t *testing.T) {
	nums := map[string]float64{"1,234.50": 1234.5, "1.234,50": 1234.5, "12 500": 12500, "-3.5": -3.5, "12,5": 12.5, "1,000": 1000, "Rating: 4.7 of 5": 4.7}
	for in, want := range nums {
		if got, ok := ParseNumber(in); !ok || math.Abs(got-want) > 1e-9 {
			t.Errorf("ParseNumber(%q) = %v %v, want %v", in, got, ok, want)
		}
	}
	if _, ok := ParseNumber("n/a"); ok {
		t.Error("ParseNumber accepted n/a")
	}
	prices := map[string]Price{"€1.299,00": {1299, "EUR"}, "USD 15.99": {15.99, "USD"}, "$20": {20, "USD"}, "£3.50": {3.5, "GBP"}, "42": {42, ""}}
	for in, want := range prices {
		if got, ok := ParsePrice(in); !ok || got != want {
			t.Errorf("ParsePrice(%q) = %+v, want %+v", in, got, want)
		}
	}
}

func TestDecisionString(t *testing.T) {
	for d, want := range map[Decision]string{Accept: "accept", Reject: "reject", Review: "review"} {
		if d.String() != want {
			t.Errorf("%d.String() = %q", d, d.String())
		}
	}
}

func TestCheckerNearMiss(t *testing.T) {
	c := &checker{scores: map[string]float64{}, margin: 0.02}
	c.atMost("close_below_max", 0.295, 0.3)
	c.atMost("far_below_max", 0.2, 0.3)
	c.atMost("over_max", 0.31, 0.3)
	c.atLeast("close_above_min", 50.5, 50)
	c.atLeast("far_above_min", 80, 50)
	c.atLeast("under_min", 49, 50)
	if strings.Join(c.near, ",") != "close_below_max,close_above_min" {
		t.Errorf("near misses = %v", c.near)
	}
	if strings.Join(c.reasons, ",") != "quality:over_max,quality:under_min" {
		t.Errorf("reasons = %v", c.reasons)
	}
	if len(c.scores) != 6 {
		t.Errorf("scores = %v", c.scores)
	}
}

func TestRenderBlocks(t *testing.T) {
	page := `<html><body><div><h2>Title</h2><p>Read<a href="/x">the report</a>now, it is<b>bold</b>.</p>
<ul><li>one</li><li>two <a href="https://o.example/">site</a></li></ul>
<table><tr><th>a</th><th>b|c</th></tr><tr><td>1</td><td>2</td></tr></table>
<blockquote><p>quoted</p></blockquote><pre>x := 1
y := 2</pre></div></body></html>`
	root, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("https://h.example/dir/page")
	bs := renderBlocks(root, base)
	text, md := joinText(bs), joinMarkdown(bs)
	wantText := "Title\nRead the report now, it is bold.\none\ntwo site\na | b|c\n1 | 2\nquoted\nx := 1\ny := 2"
	if text != wantText {
		t.Errorf("text:\n%s\nwant:\n%s", text, wantText)
	}
	for _, want := range []string{
		"## Title\n\nRead [the report](https://h.example/x) now, it is bold.",
		"- one\n- two [site](https://o.example/)",
		"| a | b\\|c |\n| --- | --- |\n| 1 | 2 |",
		"> quoted",
		"```\nx := 1\ny := 2\n```",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
