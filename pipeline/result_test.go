package pipeline

import (
	"strings"
	"testing"

	"github.com/swardnet/sward/schemas"
)

// TestResultDetail: a reject's detail is the real cause (the node's error,
// the status, the scores of every failed rule), not its reason code again.
func TestResultDetail(t *testing.T) {
	p := newTestPipeline(t, func(c *Config) { c.AuditFraction = 0 })
	tests := []struct {
		name    string
		mod     func(c *schemas.Capture)
		reason  string
		details []string
	}{
		{"robots", func(c *schemas.Capture) { c.Error = "robots: disallowed by /private/" }, "robots:disallowed", []string{"disallowed by /private/"}},
		{"timeout", func(c *schemas.Capture) { c.Error = "timeout: no answer in 30s" }, "fetch:error", []string{"no answer in 30s"}},
		{"status", func(c *schemas.Capture) { c.Status = 410 }, "fetch:status_410", []string{"HTTP status 410"}},
		{"content type", func(c *schemas.Capture) { c.ContentType = "image/png" }, "decode:content_type", []string{"image/png"}},
		{"short page", func(c *schemas.Capture) {
			c.Body = []byte("<html><body><article><p>Too short to keep, really.</p></article></body></html>")
		}, "", []string{"quality:", "="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := capture("https://planet.example/a", articleHTML("A title", 6))
			tt.mod(c)
			r := p.Process(c, nil)
			if r.Decision != Reject {
				t.Fatalf("decision %s, want reject", r.Decision)
			}
			if tt.reason != "" && r.Reasons[0] != tt.reason {
				t.Errorf("reasons %v, want %s first", r.Reasons, tt.reason)
			}
			if r.Detail == strings.Join(r.Reasons, ",") || r.Detail == r.Reasons[0] {
				t.Errorf("detail %q only repeats the reasons", r.Detail)
			}
			for _, want := range tt.details {
				if !strings.Contains(r.Detail, want) {
					t.Errorf("detail %q lacks %q", r.Detail, want)
				}
			}
			for _, reason := range r.Reasons {
				if !strings.Contains(r.Detail, reason) {
					t.Errorf("detail %q drops reason %s", r.Detail, reason)
				}
			}
		})
	}
}
