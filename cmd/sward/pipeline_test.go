package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/swardnet/sward/offline"
)

// cliWARC is an uncompressed WARC with a warcinfo, a request and n response
// records.
func cliWARC(n int) []byte {
	var b strings.Builder
	rec := func(typ, uri, ctype, block string) {
		fmt.Fprintf(&b, "WARC/1.1\r\nWARC-Type: %s\r\nWARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-%012d>\r\n", typ, strings.Count(b.String(), "WARC/1.1")+1)
		if uri != "" {
			fmt.Fprintf(&b, "WARC-Target-URI: %s\r\n", uri)
		}
		fmt.Fprintf(&b, "WARC-Date: 2026-01-02T03:04:05Z\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s\r\n\r\n", ctype, len(block), block)
	}
	rec("warcinfo", "", "application/warc-fields", "software: test\r\n")
	rec("request", "https://a.example/0", "application/http;msgtype=request", "GET /0 HTTP/1.1\r\nHost: a.example\r\n\r\n")
	for i := range n {
		body := fmt.Sprintf("<html><head><title>Page %d</title></head><body><p>Page %d of the test, with a few words.</p></body></html>", i, i)
		rec("response", fmt.Sprintf("https://a.example/%d", i), "application/http;msgtype=response",
			fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	}
	return []byte(b.String())
}

// TestPipelineRunCommand: `sward pipeline run` prints a summary whose
// counts are progress.json's, names the WARC records by type, says a
// finished run is complete, and refuses a call without --in/--out.
func TestPipelineRunCommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "site.warc")
	if err := os.WriteFile(in, cliWARC(3), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	log, err := runCLI(t, "pipeline", "run", "--in", in, "--out", out, "--progress=false", "--workers", "2")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, log)
	}
	m := regexp.MustCompile(`dataset site version (\S+): (\d+) records: (\d+) documents, (\d+) rejected, (\d+) for review, (\d+) repeated URLs`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no summary line in %q", log)
	}
	var st offline.State
	raw, _ := os.ReadFile(filepath.Join(out, ".pipeline", "progress.json"))
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	if int64(n(2)) != st.Done || n(2) != 3 || n(3) != st.Counts["accept"] || n(4) != st.Counts["reject"] || n(5) != st.Counts["review"] {
		t.Errorf("summary %q disagrees with progress %+v", m[0], st)
	}
	cid, _ := os.ReadFile(filepath.Join(out, "CID"))
	if strings.TrimSpace(string(cid)) != m[1] {
		t.Errorf("printed version %s, CID file %q", m[1], cid)
	}
	if !strings.Contains(log, "WARC records read: 5 (response 3, request 1, warcinfo 1)") {
		t.Errorf("record types missing from %q", log)
	}
	log, err = runCLI(t, "pipeline", "run", "--in", in, "--out", out, "--progress=false")
	if err != nil || !strings.Contains(log, "already complete (3 records)") {
		t.Errorf("second run: %v %q", err, log)
	}
	if _, err := runCLI(t, "pipeline", "run", "--in", in); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("run without --out: %v", err)
	}
}

// TestPipelineRunCommandDamagedInput: a WARC cut inside its last record
// publishes the good records, prints the summary and fails (exit status
// 1) saying where the input broke.
func TestPipelineRunCommandDamagedInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "cut.warc")
	full := cliWARC(3)
	if err := os.WriteFile(in, full[:len(full)-40], 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := runCLI(t, "pipeline", "run", "--in", in, "--out", filepath.Join(dir, "out"), "--progress=false")
	if err == nil || !strings.Contains(err.Error(), "damaged at record 5") || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("run over a cut WARC: %v", err)
	}
	if !strings.Contains(log, ": 2 records:") {
		t.Errorf("summary does not show the 2 good captures: %q", log)
	}
}
