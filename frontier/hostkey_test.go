package frontier

import (
	"testing"

	"github.com/swardnet/sward/schemas"
)

func TestHostKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://Example.com/a", "example.com"},
		{"https://example.com:443/", "example.com"},
		{"http://example.com:8080?x", "example.com:8080"},
		{"http://[::1]:9000/", "[::1]:9000"},
	}
	for _, tt := range tests {
		got, err := HostKey(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("HostKey(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzHostKeyOfNormalized: the host key of a normalised URL is the host
// the frontier files it under.
func FuzzHostKeyOfNormalized(f *testing.F) {
	for _, s := range []string{"http://Example.com/a", "https://[::1]:9000/x", "http://xn--bcher-kva.example:8080/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := schemas.NormalizeURL(raw)
		if err != nil {
			return
		}
		if h, err := HostKey(n); err != nil || h != hostOfNormalized(n) {
			t.Fatalf("HostKey(%q) = %q, %v", n, h, err)
		}
	})
}
