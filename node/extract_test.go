package node

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOptOutSignals(t *testing.T) {
	tdm := parseTDMRep([]byte(`[{"location":"/a/*","tdm-reservation":1,"tdm-policy":"https://x/p"},{"location":"/*","tdm-reservation":0}]`))
	tests := []struct {
		name    string
		header  http.Header
		meta    pageMeta
		tdm     *tdmRep
		path    string
		noai    bool
		noindex bool
		tdmRes  bool
		policy  string
		usage   string
	}{
		{name: "nothing", path: "/"},
		{name: "x-robots noai", header: http.Header{"X-Robots-Tag": {"noai, noimageai"}}, path: "/", noai: true},
		{name: "x-robots scoped to other bot", header: http.Header{"X-Robots-Tag": {"googlebot: noindex"}}, path: "/"},
		{name: "x-robots scoped to us", header: http.Header{"X-Robots-Tag": {"SwardBot: none"}}, path: "/", noindex: true},
		{name: "unavailable_after is not a bot", header: http.Header{"X-Robots-Tag": {"unavailable_after: 2020-01-01, noindex"}}, path: "/", noindex: true},
		{name: "meta robots", meta: pageMeta{robots: []string{"noai", "noindex"}}, path: "/", noai: true, noindex: true},
		{name: "tdm header", header: http.Header{"Tdm-Reservation": {"1"}, "Tdm-Policy": {"https://p"}}, path: "/", tdmRes: true, policy: "https://p"},
		{name: "tdm meta", meta: pageMeta{tdmReserved: "1", tdmPolicy: "https://m"}, path: "/", tdmRes: true, policy: "https://m"},
		{name: "tdm header beats meta", header: http.Header{"Tdm-Reservation": {"0"}}, meta: pageMeta{tdmReserved: "1"}, path: "/"},
		{name: "well-known beats header", header: http.Header{"Tdm-Reservation": {"0"}}, tdm: tdm, path: "/a/b", tdmRes: true, policy: "https://x/p"},
		{name: "well-known first match", header: http.Header{"Tdm-Reservation": {"1"}}, tdm: tdm, path: "/b"},
		{name: "content-usage", header: http.Header{"Content-Usage": {"train-ai=n"}}, path: "/", usage: "train-ai=n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.header
			if h == nil {
				h = http.Header{}
			}
			noai, noindex, res, pol, usage := optOutSignals(h, tc.meta, tc.tdm, tc.path)
			if noai != tc.noai || noindex != tc.noindex || res != tc.tdmRes || pol != tc.policy || usage != tc.usage {
				t.Errorf("got noai=%v noindex=%v tdm=%v policy=%q usage=%q", noai, noindex, res, pol, usage)
			}
		})
	}
}

func TestDecodeBody(t *testing.T) {
	tests := []struct {
		name, ct string
		body     []byte
		want     string
		charset  string
	}{
		{"utf-8", "text/html; charset=utf-8", []byte("héllo"), "héllo", "utf-8"},
		{"latin-1 header", "text/html; charset=iso-8859-1", []byte("h\xe9llo"), "héllo", "windows-1252"},
		{"meta charset", "text/html", []byte("<meta charset=\"windows-1251\"><p>\xcf\xf0\xe8\xe2\xe5\xf2</p>"), "Привет", "windows-1251"},
		{"utf-16 BOM", "text/plain", []byte("\xff\xfeh\x00i\x00"), "hi", "utf-16le"},
		{"shift_jis header", "text/plain; charset=shift_jis", []byte("\x93\xfa\x96\x7b"), "日本", "shift_jis"},
		{"ascii", "text/plain", []byte("plain"), "plain", "utf-8"},
		{"ascii declared", "text/plain; charset=us-ascii", []byte("plain"), "plain", "windows-1252"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, cs := decodeBody(tc.body, tc.ct)
			if !strings.Contains(string(got), tc.want) || cs != tc.charset {
				t.Errorf("decodeBody = %q (%s), want %q (%s)", got, cs, tc.want, tc.charset)
			}
		})
	}
}

func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte("caf\xe9"), "text/html; charset=utf-8")
	f.Add([]byte("\xfe\xff\x00h"), "text/plain")
	f.Add([]byte(`<meta charset="gb18030">\x81\x30`), "text/html")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		out, cs := decodeBody(body, ct)
		if !utf8.Valid(out) {
			t.Fatalf("output not UTF-8 (charset %s)", cs)
		}
		if len(body) > 0 && cs == "" {
			t.Fatal("no charset named")
		}
	})
}

func FuzzParseHTML(f *testing.F) {
	f.Add([]byte(`<base href="http://x/y/"><a href="z#f">z</a><a rel="nofollow" href="/n">n</a><meta name=robots content=noai>`))
	f.Add([]byte("<a href='\x00'><<<>>><meta content"))
	base, _ := url.Parse("http://example.org/dir/page")
	f.Fuzz(func(t *testing.T, body []byte) {
		m := parseHTML(body, base)
		if len(m.outlinks) > maxOutlinks {
			t.Fatalf("%d outlinks", len(m.outlinks))
		}
		seen := map[string]bool{}
		for _, l := range m.outlinks {
			u, err := url.Parse(l)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Fragment != "" || seen[l] {
				t.Fatalf("bad outlink %q", l)
			}
			seen[l] = true
		}
	})
}

func FuzzParseTDMRep(f *testing.F) {
	f.Add([]byte(`[{"location":"/a/*","tdm-reservation":1}]`), "/a/b")
	f.Add([]byte(`{"not":"a list"}`), "/")
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		r := parseTDMRep(body)
		r1, ok1 := r.match(path)
		r2, ok2 := r.match(path)
		if ok1 != ok2 || r1 != r2 {
			t.Fatal("match not deterministic")
		}
	})
}

func TestNoFollow(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		meta   []string
		want   bool
	}{
		{"none", nil, nil, false},
		{"meta nofollow", nil, []string{"nofollow"}, true},
		{"meta none", nil, []string{"none"}, true},
		{"header nofollow", http.Header{"X-Robots-Tag": {"nofollow"}}, nil, true},
		{"header for another bot", http.Header{"X-Robots-Tag": {"otherbot: nofollow"}}, nil, false},
		{"noindex only", http.Header{"X-Robots-Tag": {"noindex"}}, []string{"noai"}, false},
	}
	for _, tc := range tests {
		h := tc.header
		if h == nil {
			h = http.Header{}
		}
		if got := noFollow(h, pageMeta{robots: tc.meta}); got != tc.want {
			t.Errorf("%s: noFollow = %v", tc.name, got)
		}
	}
	base, _ := url.Parse("http://example.org/")
	m := parseHTML([]byte(`<meta name="SwardBot" content="NoFollow"><a href="/x">x</a>`), base)
	if !noFollow(http.Header{}, m) || len(m.outlinks) != 1 {
		t.Errorf("meta swardbot nofollow not read: %+v", m)
	}
}
