package evalset

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	if _, err := z.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestLoad reads both layouts, gzipped and plain pages, sorted by id.
func TestLoad(t *testing.T) {
	article := t.TempDir()
	write(t, filepath.Join(article, "ground-truth.json"),
		[]byte(`{"b": {"articleBody": "B body", "url": "https://b.example/"}, "a": {"articleBody": "A body", "url": "https://a.example/"}}`))
	write(t, filepath.Join(article, "html", "a.html.gz"), gz(t, "<p>A</p>"))
	write(t, filepath.Join(article, "html", "b.html"), []byte("<p>B</p>"))

	wcxb := t.TempDir()
	write(t, filepath.Join(wcxb, "ground-truth", "2.json"),
		[]byte(`{"url": "https://two.example/", "_internal": {"page_type": {"primary": "forum"}}, "ground_truth": {"main_content": "two"}}`))
	write(t, filepath.Join(wcxb, "ground-truth", "1.json"),
		[]byte(`{"url": "https://one.example/", "_internal": {"page_type": {"primary": "article"}}, "ground_truth": {"main_content": "one"}}`))
	write(t, filepath.Join(wcxb, "ground-truth", "notes.txt"), []byte("ignored"))
	write(t, filepath.Join(wcxb, "html", "1.html.gz"), gz(t, "<p>1</p>"))
	write(t, filepath.Join(wcxb, "html", "2.html.gz"), gz(t, "<p>2</p>"))

	tests := []struct {
		dir    string
		layout Layout
		want   []Page
	}{
		{article, Article, []Page{
			{ID: "a", URL: "https://a.example/", HTML: []byte("<p>A</p>"), Expected: "A body"},
			{ID: "b", URL: "https://b.example/", HTML: []byte("<p>B</p>"), Expected: "B body"},
		}},
		{wcxb, WCXB, []Page{
			{ID: "1", URL: "https://one.example/", HTML: []byte("<p>1</p>"), Expected: "one", PageType: "article"},
			{ID: "2", URL: "https://two.example/", HTML: []byte("<p>2</p>"), Expected: "two", PageType: "forum"},
		}},
	}
	for _, tc := range tests {
		layout, pages, err := Load(tc.dir)
		if err != nil {
			t.Fatalf("Load(%s layout): %v", tc.layout, err)
		}
		if layout != tc.layout || !reflect.DeepEqual(pages, tc.want) {
			t.Errorf("Load = %s, %+v; want %s, %+v", layout, pages, tc.layout, tc.want)
		}
	}
}

// TestLoadErrors: a directory of neither layout, a missing page and bad
// JSON are errors that name what is wrong.
func TestLoadErrors(t *testing.T) {
	empty := t.TempDir()
	missing := t.TempDir()
	write(t, filepath.Join(missing, "ground-truth.json"), []byte(`{"x": {"articleBody": "", "url": ""}}`))
	bad := t.TempDir()
	write(t, filepath.Join(bad, "ground-truth", "x.json"), []byte(`{`))
	for _, tc := range []struct{ dir, want string }{
		{empty, "neither ground-truth.json"},
		{missing, "reading test page"},
		{bad, "fix or remove the file"},
	} {
		if _, _, err := Load(tc.dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s) error = %v, want one containing %q", tc.dir, err, tc.want)
		}
	}
}
