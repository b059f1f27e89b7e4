package rules

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

const page = `<!doctype html><html><head><title>T</title><script>var x=1</script></head><body>
<header><h1 class="headline">  Big   News </h1><span class="by">By Ada</span></header>
<article class="post">
  <p>First paragraph with <b>bold</b> text.</p>
  <div class="share">Share this!</div>
  <p>Second
     paragraph.</p>
  <script>alert(1)</script>
</article>
<span class="price">Price: 1,234.50 EUR</span>
<span class="eu">3,50 €</span>
<time datetime="2025-03-04T10:00:00+02:00">4 March</time>
<a class="more" href="/next?page=2">next</a>
<a class="bad" href="javascript:alert(1)">x</a>
</body></html>`

func TestApply(t *testing.T) {
	rule := schemas.ExtractionRule{
		Domain:  "news.example.org",
		Body:    "article.post",
		Exclude: []string{".share"},
		Fields: []schemas.FieldRule{
			{Name: "title", Selector: "h1.headline", Normalise: []string{"space"}},
			{Name: "author", Selector: ".by", Normalise: []string{"regex:^By (.+)$"}},
			{Name: "price", Selector: ".price", Normalise: []string{"number"}},
			{Name: "eu_price", Selector: ".eu", Normalise: []string{"number"}},
			{Name: "published_at", Selector: "time", Attr: "datetime", Normalise: []string{"date"}},
			{Name: "next", Selector: "a.more", Attr: "href", Normalise: []string{"url"}},
			{Name: "bad_link", Selector: "a.bad", Attr: "href", Normalise: []string{"url"}},
			{Name: "missing", Selector: ".nothing"},
			{Name: "upper", Selector: ".by", Normalise: []string{"upper"}},
		},
	}
	res, err := Apply(rule, "https://news.example.org/a/b", []byte(page))
	if err != nil {
		t.Fatal(err)
	}
	if want := "First paragraph with bold text.\n\nSecond paragraph."; res.Text != want {
		t.Errorf("text = %q, want %q", res.Text, want)
	}
	if !res.BodyMatched {
		t.Error("body not reported as matched")
	}
	want := map[string]string{
		"title":        "Big News",
		"author":       "Ada",
		"price":        "1234.5",
		"eu_price":     "3.5",
		"published_at": "2025-03-04T08:00:00Z",
		"next":         "https://news.example.org/next?page=2",
		"upper":        "BY ADA",
	}
	if !reflect.DeepEqual(res.Fields, want) {
		t.Errorf("fields = %v, want %v", res.Fields, want)
	}
	if !reflect.DeepEqual(res.Missing, []string{"missing"}) {
		t.Errorf("missing = %v", res.Missing)
	}
	if _, ok := res.Errors["bad_link"]; !ok {
		t.Errorf("javascript: link was not refused by the url normaliser: %v", res.Errors)
	}
}

func TestCompileRefusesBadRules(t *testing.T) {
	tests := []struct {
		name string
		rule schemas.ExtractionRule
		want string
	}{
		{"bad body selector", schemas.ExtractionRule{Body: "div[["}, "body selector"},
		{"bad exclude", schemas.ExtractionRule{Body: "p", Exclude: []string{">>"}}, "exclude selector"},
		{"bad field selector", schemas.ExtractionRule{Fields: []schemas.FieldRule{{Name: "t", Selector: "::"}}}, "field \"t\" selector"},
		{"unknown normaliser", schemas.ExtractionRule{Fields: []schemas.FieldRule{{Name: "t", Selector: "h1", Normalise: []string{"shout"}}}}, "unknown normaliser"},
		{"bad regex", schemas.ExtractionRule{Fields: []schemas.FieldRule{{Name: "t", Selector: "h1", Normalise: []string{"regex:("}}}}, "normaliser"},
		{"unnamed field", schemas.ExtractionRule{Fields: []schemas.FieldRule{{Selector: "h1"}}}, "no name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.rule)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestNormalisers(t *testing.T) {
	tests := []struct {
		norm, in, want string
		wantErr        bool
	}{
		{"trim", "  a b  ", "a b", false},
		{"space", " a \n\t b ", "a b", false},
		{"lower", "ÄB", "äb", false},
		{"number", "about 12 items", "12", false},
		{"number", "-7.25", "-7.25", false},
		{"number", "1 000 000", "1000000", false},
		{"number", "none", "", true},
		{"date", "2024-02-29", "2024-02-29T00:00:00Z", false},
		{"date", "March 5, 2023", "2023-03-05T00:00:00Z", false},
		{"date", "Published: 2023-03-05 at noon", "", true},
		{"date", "yesterday", "", true},
		{"url", "../x", "https://h.example/x", false},
		{"url", "mailto:a@b", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.norm+"/"+tt.in, func(t *testing.T) {
			fn, err := parseNormaliser(tt.norm)
			if err != nil {
				t.Fatal(err)
			}
			u := mustURL(t, "https://h.example/a/b")
			got, err := fn(tt.in, u)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSetField(t *testing.T) {
	var d schemas.Document
	for _, f := range DocumentFields {
		val := "v-" + f
		if f == "published_at" {
			val = "2024-01-02"
		}
		known, err := SetField(&d, f, val)
		if !known || err != nil {
			t.Fatalf("SetField(%s) = %v, %v", f, known, err)
		}
		got, _ := Field(&d, f)
		if f == "published_at" {
			if !d.PublishedAt.Equal(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("published_at = %v", d.PublishedAt)
			}
			continue
		}
		if got != val {
			t.Errorf("Field(%s) = %q, want %q", f, got, val)
		}
	}
	if known, _ := SetField(&d, "price", "1"); known {
		t.Error("price reported as a Document field")
	}
	if _, err := SetField(&d, "published_at", "soon"); err == nil {
		t.Error("bad date accepted")
	}
	if _, err := SetField(&d, "title", ""); err != nil || d.Title != nil {
		t.Errorf("clearing title: err %v, title %v", err, d.Title)
	}
}

func FuzzApply(f *testing.F) {
	f.Add([]byte(page), "article p", "h1")
	f.Add([]byte("<p>x"), "p:nth-child(2n+1)", "a[href]")
	f.Fuzz(func(t *testing.T, html []byte, body, field string) {
		rule := schemas.ExtractionRule{Body: body, Fields: []schemas.FieldRule{{Name: "f", Selector: field, Normalise: []string{"space", "number"}}}}
		c, err := Compile(rule)
		if err != nil {
			return
		}
		res, err := c.Apply("https://h.example/", html)
		if err != nil {
			return
		}
		if strings.Contains(res.Text, "\n\n\n") {
			t.Fatalf("text has empty paragraphs: %q", res.Text)
		}
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestNestedMatchesCountOnce(t *testing.T) {
	res, err := Apply(schemas.ExtractionRule{Body: "div"}, "https://h.example/", []byte(`<div><p>a</p><div><p>b</p></div></div><div>c</div>`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "a\n\nb\n\nc" {
		t.Fatalf("text = %q", res.Text)
	}
}
