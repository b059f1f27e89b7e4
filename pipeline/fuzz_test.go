package pipeline

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzDecode(f *testing.F) {
	seeds := []struct {
		body string
		ct   string
	}{
		{"<p>hello</p>", "text/html; charset=utf-8"},
		{"<meta charset=\"shift_jis\"><p>\x82\xa0</p>", "text/html"},
		{"caf\xe9", "text/html; charset=iso-8859-1"},
		{"\xff\xfe<\x00p\x00>\x00", ""},
		{"\x89PNG\r\n\x1a\n", "text/html"},
		{"bad \xc3\x28 utf8", "text/html; charset=utf-8"},
		{"", ""},
		{"<p>x</p>", "text/html; charset=no-such-charset"},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.ct)
	}
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		out, err := Decode(body, ct)
		if err != nil {
			for _, known := range []error{ErrEmptyBody, ErrBinaryBody, ErrInvalidUTF8, ErrCharset} {
				if errors.Is(err, known) {
					return
				}
			}
			t.Fatalf("error without a reason code: %v", err)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("Decode returned invalid UTF-8 for %q", body)
		}
	})
}

func FuzzExtract(f *testing.F) {
	seeds := []string{
		articleHTML("A seed article about a bridge", 3),
		"<html><body><p>short</p></body></html>",
		"<div><div><div><p>unclosed",
		"<table><tr><td>a<td>b<tr><td>c</table>",
		"<ul><li>one<li>two<ol><li>nested</ol></ul>",
		"<script type=\"application/ld+json\">{\"@graph\":[{\"@type\":\"Article\",\"headline\":1}]}</script><p>x</p>",
		"<pre>code\n  block</pre><blockquote><p>quote</p></blockquote>",
		"<a href=\"javascript:alert(1)\">x</a><a href=\"//evil\">y</a>",
		strings.Repeat("<b>", 600) + "deep",
		"",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	opt := DefaultExtractOptions()
	f.Fuzz(func(t *testing.T, page string) {
		ex, err := Extract(page, "https://fuzz.example/page", opt)
		if err != nil {
			for _, known := range []error{ErrExtractEmpty, ErrExtractParse, ErrTooDeep, ErrTooLarge} {
				if errors.Is(err, known) {
					return
				}
			}
			t.Fatalf("error without a reason code: %v", err)
		}
		if strings.TrimSpace(ex.Text) == "" {
			t.Fatal("Extract succeeded with empty text")
		}
		if ex.Confidence < 0 || ex.Confidence > 1 {
			t.Fatalf("confidence %v out of range", ex.Confidence)
		}
		_ = Normalize(ex.Text)
	})
}
