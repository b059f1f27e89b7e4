package schemas

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestNormalizeURL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"already canonical", "http://example.com/a/b?x=1", "http://example.com/a/b?x=1"},
		{"scheme and host lowercase", "HTTP://ExAmPle.COM/Path", "http://example.com/Path"},
		{"empty path", "https://example.com", "https://example.com/"},
		{"empty path with query", "https://example.com?q=1", "https://example.com/?q=1"},
		{"default http port", "http://example.com:80/a", "http://example.com/a"},
		{"default https port", "https://example.com:443/a", "https://example.com/a"},
		{"non-default port kept", "http://example.com:8080/a", "http://example.com:8080/a"},
		{"https port 80 kept", "https://example.com:80/", "https://example.com:80/"},
		{"port leading zeros", "http://example.com:0080/", "http://example.com/"},
		{"empty port", "http://example.com:/a", "http://example.com/a"},
		{"fragment removed", "http://example.com/a#section", "http://example.com/a"},
		{"empty fragment removed", "http://example.com/a#", "http://example.com/a"},
		{"dot segments", "http://example.com/a/./b/../c", "http://example.com/a/c"},
		{"dot segments above root", "http://example.com/../../a", "http://example.com/a"},
		{"trailing dot segment", "http://example.com/a/b/..", "http://example.com/a/"},
		{"trailing single dot", "http://example.com/a/.", "http://example.com/a/"},
		{"encoded dots resolved", "http://example.com/a/%2e%2E/b", "http://example.com/b"},
		{"unreserved decoded", "http://example.com/%7Euser/%41%62c", "http://example.com/~user/Abc"},
		{"reserved escapes uppercased", "http://example.com/a%2fb%3a", "http://example.com/a%2Fb%3A"},
		{"space escaped", "http://example.com/a b", "http://example.com/a%20b"},
		{"utf-8 path escaped", "http://example.com/caf\u00e9", "http://example.com/caf%C3%A9"},
		{"stray percent", "http://example.com/100%/x", "http://example.com/100%25/x"},
		{"utm removed", "http://example.com/?utm_source=x&id=5&utm_medium=y", "http://example.com/?id=5"},
		{"all tracking removed", "http://example.com/p?gclid=1&fbclid=2&mc_cid=3&mc_eid=4&ref_src=5", "http://example.com/p"},
		{"tracking case-insensitive", "http://example.com/p?UTM_Campaign=x&a=1", "http://example.com/p?a=1"},
		{"query order kept", "http://example.com/p?b=2&a=1&c=3", "http://example.com/p?b=2&a=1&c=3"},
		{"duplicate params kept", "http://example.com/p?a=1&a=2", "http://example.com/p?a=1&a=2"},
		{"empty query dropped", "http://example.com/p?", "http://example.com/p"},
		{"empty params dropped", "http://example.com/p?&a=1&&b=2&", "http://example.com/p?a=1&b=2"},
		{"query escapes normalised", "http://example.com/p?q=%7e%2f+x", "http://example.com/p?q=~%2F+x"},
		{"query utf-8", "http://example.com/p?q=\u00fc", "http://example.com/p?q=%C3%BC"},
		{"user info dropped", "http://user:pw@example.com/", "http://example.com/"},
		{"trailing dot host", "http://example.com./a", "http://example.com/a"},
		{"idn to punycode", "http://B\u00fccher.example/", "http://xn--bcher-kva.example/"},
		{"ipv4", "http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x"},
		{"ipv6 canonical", "http://[0:0:0:0:0:0:0:1]:8080/", "http://[::1]:8080/"},
		{"ipv6 uppercase", "http://[FE80::A]/", "http://[fe80::a]/"},
		{"surrounding space", "  http://example.com/a  ", "http://example.com/a"},
		{"underscore host", "http://my_site.example.com/", "http://my_site.example.com/"},
		{"double slash kept", "http://example.com/a//b", "http://example.com/a//b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeURL(tt.in)
			if err != nil {
				t.Fatalf("NormalizeURL(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("NormalizeURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
			again, err := NormalizeURL(got)
			if err != nil || again != got {
				t.Fatalf("not idempotent: NormalizeURL(%q) = %q, %v", got, again, err)
			}
		})
	}
}

func TestNormalizeURLErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"ftp", "ftp://example.com/"},
		{"mailto", "mailto:a@example.com"},
		{"javascript", "javascript:alert(1)"},
		{"relative", "/a/b"},
		{"no host", "http:///a"},
		{"opaque", "http:example.com"},
		{"empty", ""},
		{"bad port", "http://example.com:99999/"},
		{"port zero", "http://example.com:0/"},
		{"bad escape in host", "http://exa%zzmple.com/"},
		{"ipv6 zone", "http://[fe80::1%25eth0]/"},
		{"bad host char", "http://exa!mple.com/"},
		{"empty label", "http://a..b/"},
		{"control char", "http://example.com/\x7f\x00"},
		{"too long", "http://example.com/" + strings.Repeat("a", maxURLLength)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeURL(tt.in)
			if err == nil {
				t.Fatalf("NormalizeURL(%q) = %q, want an error", tt.in, got)
			}
			if !errors.Is(err, ErrBadURL) {
				t.Fatalf("NormalizeURL(%q) error %v does not wrap ErrBadURL", tt.in, err)
			}
		})
	}
}

func TestNormalizeURLSpellingsShareKey(t *testing.T) {
	spellings := []string{
		"http://example.com/a/b?x=1",
		"HTTP://EXAMPLE.com:80/a/b?x=1",
		"http://example.com/a/./b?x=1#top",
		"http://example.com/a/c/../b?x=1&utm_source=news",
		"http://example.com/%61/b?x=1&fbclid=abc",
		"http://example.com./a/b?&x=1",
	}
	want := URLKey("http://example.com/a/b?x=1")
	for _, s := range spellings {
		n, err := NormalizeURL(s)
		if err != nil {
			t.Fatalf("NormalizeURL(%q): %v", s, err)
		}
		if k := URLKey(n); k != want {
			t.Errorf("%q normalises to %q with a different key", s, n)
		}
	}
	if URLKey("http://example.com/a") == URLKey("http://example.com/b") {
		t.Fatal("different URLs share a key")
	}
}

func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{
		"http://example.com/a/./b/../c?utm_source=x&a=1#f",
		"https://B\u00fccher.example:443/%7e/%2f?q=%zz",
		"http://[::1]:8080/..//.",
		"http://user@127.0.0.1/a b?c d",
		"HTTP://a.b./?&&",
		"http://example.com/%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := NormalizeURL(raw)
		if err != nil {
			if !errors.Is(err, ErrBadURL) {
				t.Fatalf("NormalizeURL(%q) error %v does not wrap ErrBadURL", raw, err)
			}
			return
		}
		again, err := NormalizeURL(n)
		if err != nil {
			t.Fatalf("NormalizeURL(%q) = %q, which does not normalise: %v", raw, n, err)
		}
		if again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", raw, n, again)
		}
		u, err := url.Parse(n)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" || u.User != nil {
			t.Fatalf("NormalizeURL(%q) = %q, not an absolute http(s) URL", raw, n)
		}
		if !strings.HasPrefix(u.EscapedPath(), "/") {
			t.Fatalf("NormalizeURL(%q) = %q has no absolute path", raw, n)
		}
	})
}
