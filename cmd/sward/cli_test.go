package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swardnet/sward/coordinator"
	"github.com/swardnet/sward/internal/testutil"
)

// runCLI runs a fresh command tree with args and returns its output.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func TestUnknownSubcommandFails(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		suggest string
	}{
		{[]string{"bogus"}, ""},
		{[]string{"crawl", "sbumit"}, "submit"},
		{[]string{"dataset", "lss"}, "ls"},
		{[]string{"examples", "sit"}, "site"},
	} {
		_, err := runCLI(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), "unknown command") {
			t.Errorf("sward %v: %v, want an unknown-command error", tc.args, err)
			continue
		}
		if tc.suggest != "" && !strings.Contains(err.Error(), "did you mean "+tc.suggest) {
			t.Errorf("sward %v: %v, want the suggestion %q", tc.args, err, tc.suggest)
		}
	}
	// A group without a subcommand still prints its help.
	out, err := runCLI(t, "crawl")
	if err != nil || !strings.Contains(out, "submit") {
		t.Errorf("sward crawl: %v %q, want its help", err, out)
	}
}

func TestVersion(t *testing.T) {
	out, err := runCLI(t, "version")
	if err != nil || !strings.HasPrefix(out, "sward ") || !strings.Contains(out, "go1.") {
		t.Errorf("sward version: %v %q", err, out)
	}
}

// fakeJobAPI answers /v1/jobs/{id} with the progress reports in turn
// (the last one again and again), and records the token of each POST.
func fakeJobAPI(t *testing.T, reports []coordinator.JobProgress) (*httptest.Server, *atomic.Int32, *atomic.Value) {
	var calls atomic.Int32
	var token atomic.Value
	token.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			token.Store(r.Header.Get("Authorization"))
			_ = json.NewEncoder(w).Encode(map[string]string{"job": "j", "state": "paused"})
			return
		}
		i := int(calls.Add(1)) - 1
		if i >= len(reports) {
			i = len(reports) - 1
		}
		_ = json.NewEncoder(w).Encode(reports[i])
	}))
	t.Cleanup(srv.Close)
	return srv, &calls, &token
}

// TestCrawlWatchWaitsForVerification: a job with nothing queued or leased
// but verification checks open is not finished (a check may send a page
// back to the queue); crawl watch used to stop there.
func TestCrawlWatchWaitsForVerification(t *testing.T) {
	reports := []coordinator.JobProgress{
		{JobID: "j", Done: 10, Verifying: 2},
		{JobID: "j", Done: 10, Verifying: 1},
		{JobID: "j", Done: 11, Verifying: 0},
	}
	srv, calls, _ := fakeJobAPI(t, reports)
	o := &crawlOptions{api: srv.URL, client: srv.Client(), tokenFile: filepath.Join(t.TempDir(), "none")}
	cmd := newCrawlWatchCommand(o, 10*time.Millisecond)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"j"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("watch stopped after %d reports, want 3 (the first with verification checks open)", got)
	}
}

// TestCrawlSendsToken: crawl takes the token from --token, then
// $SWARD_API_TOKEN, then the token file.
func TestCrawlSendsToken(t *testing.T) {
	srv, _, token := fakeJobAPI(t, []coordinator.JobProgress{{JobID: "j"}})
	file := filepath.Join(t.TempDir(), coordinator.APITokenFile)
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"file", "", nil, "Bearer from-file"},
		{"env", "from-env", nil, "Bearer from-env"},
		{"flag", "from-env", []string{"--token", "from-flag"}, "Bearer from-flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SWARD_API_TOKEN", tc.env)
			args := append([]string{"crawl", "pause", "j", "--api", srv.URL, "--token-file", file}, tc.args...)
			if _, err := runCLI(t, args...); err != nil {
				t.Fatal(err)
			}
			if got := token.Load().(string); got != tc.want {
				t.Errorf("Authorization %q, want %q", got, tc.want)
			}
		})
	}
}

// TestNodeDashboardMustBeLoopback: sward node serves its dashboard through
// node.Dashboard.Serve, which refuses an address reachable from the LAN.
func TestNodeDashboardMustBeLoopback(t *testing.T) {
	coordDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testutil.SyncBuffer{}
	root := newRootCommand()
	root.SetOut(out)
	root.SetErr(out)
	root.SetArgs([]string{"coordinator", "--data", coordDir, "--listen", "/ip4/127.0.0.1/tcp/0", "--api", ""})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var addr string
	deadline := time.Now().Add(20 * time.Second)
	for addr == "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		for _, l := range strings.Split(out.String(), "\n") {
			if a, ok := strings.CutPrefix(strings.TrimSpace(l), "nodes join with: sward node --join "); ok {
				addr = a
			}
		}
	}
	if addr == "" {
		t.Fatalf("coordinator did not start: %s", out.String())
	}
	_, err := runCLI(t, "node", "--join", addr, "--data", t.TempDir(), "--listen", "/ip4/127.0.0.1/tcp/0", "--dashboard", "0.0.0.0:0")
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("sward node --dashboard 0.0.0.0:0: %v, want a refusal naming loopback", err)
	}
	cancel()
	<-done
}

// TestCrawlRetract: crawl retract sends the URLs named and those listed in
// --from (blank lines and comments left out) to the job's retract
// endpoint as JSON, and prints what was retracted and what was unknown.
func TestCrawlRetract(t *testing.T) {
	var gotPath, gotType string
	var got coordinator.RetractRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotType = r.URL.Path, r.Header.Get("Content-Type")
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(coordinator.RetractResult{Job: "j", Retracted: 2, Unknown: []string{"http://127.0.0.1:9/c"}})
	}))
	defer srv.Close()
	list := filepath.Join(t.TempDir(), "urls.txt")
	if err := os.WriteFile(list, []byte("# takedown 2026-12-03\nhttp://127.0.0.1:9/b\n\nhttp://127.0.0.1:9/c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "crawl", "retract", "j", "http://127.0.0.1:9/a", "--from", list, "--api", srv.URL, "--token", "t")
	if err != nil {
		t.Fatal(err)
	}
	if gotPath != "/v1/jobs/j/retract" || gotType != "application/json" {
		t.Errorf("request to %s as %q", gotPath, gotType)
	}
	if want := []string{"http://127.0.0.1:9/a", "http://127.0.0.1:9/b", "http://127.0.0.1:9/c"}; !slices.Equal(got.URLs, want) {
		t.Errorf("sent %v, want %v", got.URLs, want)
	}
	if !strings.Contains(out, "retracted 2 records from job j") || !strings.Contains(out, "not in the dataset: http://127.0.0.1:9/c") {
		t.Errorf("output:\n%s", out)
	}
	if _, err := runCLI(t, "crawl", "retract", "j", "--api", srv.URL, "--token", "t"); err == nil || !strings.Contains(err.Error(), "no URL") {
		t.Errorf("retract without URLs: %v, want an error saying so", err)
	}
}

// TestCrawlRetractCap: crawl retract sends a list of MaxRetractURLs URLs,
// and refuses a longer one before sending anything, saying to split it.
func TestCrawlRetractCap(t *testing.T) {
	var calls, sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req coordinator.RetractRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sent.Store(int64(len(req.URLs)))
		_ = json.NewEncoder(w).Encode(coordinator.RetractResult{Job: "j"})
	}))
	defer srv.Close()
	list := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "http://127.0.0.1:9/page/%d\n", i)
		}
		path := filepath.Join(t.TempDir(), "urls.txt")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if _, err := runCLI(t, "crawl", "retract", "j", "--from", list(coordinator.MaxRetractURLs), "--api", srv.URL, "--token", "t"); err != nil {
		t.Fatalf("retract of %d URLs: %v", coordinator.MaxRetractURLs, err)
	}
	if calls.Load() != 1 || sent.Load() != coordinator.MaxRetractURLs {
		t.Fatalf("%d requests with %d URLs, want 1 with %d", calls.Load(), sent.Load(), coordinator.MaxRetractURLs)
	}
	_, err := runCLI(t, "crawl", "retract", "j", "http://127.0.0.1:9/extra", "--from", list(coordinator.MaxRetractURLs), "--api", srv.URL, "--token", "t")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d URLs to retract", coordinator.MaxRetractURLs+1)) || !strings.Contains(err.Error(), "split") {
		t.Errorf("retract of %d URLs: %v, want an error saying to split the list", coordinator.MaxRetractURLs+1, err)
	}
	if calls.Load() != 1 {
		t.Errorf("the refused list was sent: %d requests", calls.Load())
	}
}

// TestLogLevels: the CLI's logger keeps INFO out of the user's output
// unless -v is given (-v: INFO, -vv: DEBUG, -q: errors only).
func TestLogLevels(t *testing.T) {
	for _, tc := range []struct {
		name       string
		o          rootOptions
		info, warn bool
	}{
		{"default", rootOptions{}, false, true},
		{"-v", rootOptions{verbose: 1}, true, true},
		{"-q", rootOptions{quiet: true}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := newLogger(&buf, &tc.o)
			log.Info("an info line")
			log.Warn("a warning")
			if got := strings.Contains(buf.String(), "an info line"); got != tc.info {
				t.Errorf("info shown %v, want %v: %q", got, tc.info, buf.String())
			}
			if got := strings.Contains(buf.String(), "a warning"); got != tc.warn {
				t.Errorf("warning shown %v, want %v: %q", got, tc.warn, buf.String())
			}
		})
	}
}
