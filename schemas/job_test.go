package schemas

import (
	"errors"
	"strings"
	"testing"
)

// TestParseJobSpecSeeds: a seed with a space (a mis-indented YAML runs
// two values together) or without an http(s) host is refused with its own
// line and the reason; good seeds pass.
func TestParseJobSpecSeeds(t *testing.T) {
	tests := []struct {
		name, yaml string
		line       int
		reason     string
	}{
		{"good", "name: a\nseeds:\n  - https://example.com/\n  - http://127.0.0.1:8080/x?y=1\n", 0, ""},
		{"space", "name: a\nseeds:\n  - https://example.com/\n  - https://example.com/a b\n", 4, "space"},
		{"tab", "name: a\nseeds: [\"https://example.com/\\tx\"]\n", 2, "control"},
		{"relative", "name: a\nseeds:\n  - /just/a/path\n", 3, "absolute http(s)"},
		{"ftp", "name: a\nseeds:\n  - ftp://example.com/\n", 3, "absolute http(s)"},
		{"sitemap", "name: a\nseeds:\n  - https://example.com/\nsitemaps:\n  - \"https://example.com/site map.xml\"\n", 5, "space"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJobSpec([]byte(tt.yaml))
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("valid spec refused: %v", err)
				}
				return
			}
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("error %v, want a SpecError", err)
			}
			if se.Line != tt.line || !strings.Contains(se.Reason, tt.reason) {
				t.Errorf("got line %d reason %q, want line %d and %q", se.Line, se.Reason, tt.line, tt.reason)
			}
		})
	}
}

// TestMaxDepthZeroIsKept: a spec that writes max_depth: 0 means its seeds
// only (issue #14 item 7: a sitemap index was crawled past it); one that
// leaves max_depth out gets the default.
func TestMaxDepthZeroIsKept(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want int
	}{
		{"written as 0", "version: 1\nname: a\nsitemaps: [\"http://127.0.0.1:9/sitemap.xml\"]\nmax_depth: 0\n", 0},
		{"left out", "version: 1\nname: a\nseeds: [\"http://127.0.0.1:9/\"]\n", 5},
		{"written as 2", "version: 1\nname: a\nseeds: [\"http://127.0.0.1:9/\"]\nmax_depth: 2\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseJobSpec([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if s.MaxDepth != tt.want {
				t.Errorf("max_depth %d, want %d", s.MaxDepth, tt.want)
			}
		})
	}
}
