package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/swardnet/sward/coordinator"
)

// TestProgressShowsVerifying: `sward crawl status` and `watch` print the
// open checks, and a crawl with checks open is not finished (a check may
// still send a page back to the queue), so `watch` keeps waiting.
func TestProgressShowsVerifying(t *testing.T) {
	p := coordinator.JobProgress{JobID: "demo", State: "running", Captured: 2596, Accepted: 1473, Rejected: 1111, Review: 12, Done: 2596, Verifying: 731, Nodes: 3}
	var out bytes.Buffer
	printProgress(&out, p, 0)
	if !strings.Contains(out.String(), " verifying 731 ") {
		t.Errorf("progress line %q does not show the 731 open checks", out.String())
	}
	if jobFinished(p) {
		t.Error("a crawl with 731 checks open counts as finished")
	}
	p.Verifying = 0
	if !jobFinished(p) {
		t.Error("a crawl with nothing queued, leased or being verified is not finished")
	}
	p.Queued = 1
	if jobFinished(p) {
		t.Error("a crawl with a URL queued counts as finished")
	}
}
