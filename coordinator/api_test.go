package coordinator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swardnet/sward/frontier"
)

// newTestAPI is the job API over c with token ("": none).
func newTestAPI(t *testing.T, c *Coordinator, token string) *API {
	t.Helper()
	a, err := NewAPI(c, c.frontier, APIConfig{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// apiCall sends a request to the job API at base, with token unless it is
// empty, and returns the status and the decoded JSON answer.
func apiCall(t *testing.T, base, method, path, body, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set(APITokenHeader, "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestJobAPI(t *testing.T) {
	c := newTestCoordinator(t)
	const token = "0123456789abcdef0123456789abcdef"
	srv := httptest.NewServer(newTestAPI(t, c, token).Handler())
	defer srv.Close()
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		return apiCall(t, srv.URL, method, path, body, token)
	}

	// A bad spec is refused with its line and field.
	code, out := call("POST", "/v1/jobs", "version: 1\nname: news\nseeds: [\"http://127.0.0.1:9/\"]\nmax_depth: 500\n")
	if code != http.StatusUnprocessableEntity || out["field"] != "max_depth" || out["line"] != float64(4) {
		t.Errorf("bad spec: %d %v, want 422 naming max_depth on line 4", code, out)
	}
	code, out = call("POST", "/v1/jobs", "version: 1\nname: news\nseedz: []\n")
	if code != http.StatusUnprocessableEntity || !strings.Contains(out["error"].(string), "seedz") {
		t.Errorf("unknown field: %d %v, want 422 naming it", code, out)
	}
	if code, _ := call("POST", "/v1/jobs", strings.Repeat("#", maxSpecBytes+10)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized spec: %d, want 413", code)
	}

	code, out = call("POST", "/v1/jobs", "version: 1\nname: news\nseeds: [\"http://127.0.0.1:9/\"]\n")
	if code != http.StatusCreated || out["job"] != "news" {
		t.Fatalf("submit: %d %v", code, out)
	}
	code, out = call("POST", "/v1/jobs", "version: 1\nname: news\nseeds: [\"http://127.0.0.1:9/other\"]\n")
	if code != http.StatusConflict || !strings.Contains(out["error"].(string), "another name") {
		t.Errorf("another spec under a known job's name: %d %v, want 409 saying to choose another name", code, out)
	}
	code, out = call("GET", "/v1/jobs/news", "")
	if code != http.StatusOK || out["queued"] != float64(1) || out["state"] != frontier.JobRunning {
		t.Errorf("progress: %d %v, want the seed queued and the job running", code, out)
	}
	code, out = call("POST", "/v1/jobs/news/pause", "")
	if code != http.StatusOK || out["state"] != frontier.JobPaused {
		t.Errorf("pause: %d %v", code, out)
	}
	if _, out = call("GET", "/v1/jobs/news", ""); out["state"] != frontier.JobPaused {
		t.Errorf("state after pause: %v", out["state"])
	}
	if code, _ := call("GET", "/v1/jobs/nope", ""); code != http.StatusNotFound {
		t.Errorf("unknown job: %d, want 404", code)
	}
	if code, _ := call("POST", "/v1/jobs/nope/cancel", ""); code != http.StatusNotFound {
		t.Errorf("cancel unknown job: %d, want 404", code)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/v1/ledger", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("ledger: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestJobAPIToken: the job API takes jobs only from its owner. Without the
// token (or with a wrong one) submit, pause, resume, cancel and publish are
// refused and nothing changes; with it they work; a cross-site browser POST
// is refused even with the token; reads stay open on loopback.
func TestJobAPIToken(t *testing.T) {
	c := newTestCoordinator(t)
	tok, err := LoadOrCreateAPIToken(filepath.Join(t.TempDir(), APITokenFile))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newTestAPI(t, c, tok).Handler())
	defer srv.Close()
	open := httptest.NewServer(newTestAPI(t, c, "").Handler())
	defer open.Close()
	spec := "version: 1\nname: owned\nseeds: [\"http://127.0.0.1:9/\"]\n"
	do := func(base, method, path, body string, hdr map[string]string) int {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good := map[string]string{APITokenHeader: "Bearer " + tok}
	for _, tc := range []struct {
		name string
		base string
		hdr  map[string]string
	}{
		{"no token", srv.URL, nil},
		{"wrong token", srv.URL, map[string]string{APITokenHeader: "Bearer " + strings.Repeat("0", len(tok))}},
		{"token not bearer", srv.URL, map[string]string{APITokenHeader: tok}},
		{"api without a token", open.URL, good},
		{"cross-site browser post", srv.URL, map[string]string{APITokenHeader: "Bearer " + tok, "Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}},
		{"cross-origin post without fetch metadata", srv.URL, map[string]string{APITokenHeader: "Bearer " + tok, "Origin": "http://evil.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := do(tc.base, "POST", "/v1/jobs", spec, tc.hdr); code != http.StatusUnauthorized && code != http.StatusForbidden {
				t.Errorf("submit: %d, want 401 or 403", code)
			}
			if j := c.job("owned"); j != nil {
				t.Fatal("the job was created")
			}
		})
	}
	if code := do(srv.URL, "POST", "/v1/jobs", spec, good); code != http.StatusCreated {
		t.Fatalf("submit with token: %d, want 201", code)
	}
	for _, op := range []string{"pause", "resume", "cancel"} {
		if code := do(srv.URL, "POST", "/v1/jobs/owned/"+op, "", nil); code != http.StatusUnauthorized {
			t.Errorf("%s without token: %d, want 401", op, code)
		}
		if code := do(srv.URL, "POST", "/v1/jobs/owned/"+op, "", good); code != http.StatusOK {
			t.Errorf("%s with token: %d, want 200", op, code)
		}
	}
	if code := do(srv.URL, "POST", "/v1/jobs/owned/publish", "", nil); code != http.StatusUnauthorized {
		t.Errorf("publish without token: %d, want 401", code)
	}
	if code := do(srv.URL, "GET", "/v1/jobs/owned", "", nil); code != http.StatusOK {
		t.Errorf("read on loopback without token: %d, want 200", code)
	}
}

func TestLoadOrCreateAPIToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), APITokenFile)
	a, err := LoadOrCreateAPIToken(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", st.Mode().Perm())
	}
	if len(a) != 64 {
		t.Errorf("token %q: want 64 hex characters", a)
	}
	b, err := LoadOrCreateAPIToken(path)
	if err != nil || b != a {
		t.Errorf("second load: %q %v, want the same token", b, err)
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateAPIToken(path); err == nil {
		t.Error("a short token was accepted")
	}
}

// The published ledger is served by the job API: totals, the receipt key
// and, per peer, the signed receipts a node owner checks its points with.
func TestJobAPILedgerAudit(t *testing.T) {
	c := newTestCoordinator(t)
	srv := httptest.NewServer(newTestAPI(t, c, "").Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/ledger/audit")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/ledger/audit: %s", resp.Status)
	}
	var led PublishedLedger
	if err := json.NewDecoder(resp.Body).Decode(&led); err != nil {
		t.Fatalf("decoding the published ledger: %v", err)
	}
	if len(led.ReceiptKey) == 0 {
		t.Fatal("published ledger carries no receipt key to check receipts with")
	}
	if led.TotalPoints != 0 || len(led.Peers) != 0 {
		t.Fatalf("fresh coordinator publishes %v points over %d peers", led.TotalPoints, len(led.Peers))
	}
}

// TestAPIConfigDefaultValidate: a zero APIConfig bounds specs at 1 MiB; a
// token too short to keep jobs to the owner is refused.
func TestAPIConfigDefaultValidate(t *testing.T) {
	var c APIConfig
	c.Default()
	if c.MaxSpecBytes != maxSpecBytes {
		t.Errorf("default max spec bytes %d, want %d", c.MaxSpecBytes, maxSpecBytes)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	c.Token = "short"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("a 5-byte token: %v, want it refused as too short", err)
	}
	c.Token, c.MaxSpecBytes = strings.Repeat("k", 32), -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "max spec bytes") {
		t.Errorf("negative max spec bytes: %v, want an error naming it", err)
	}
}
