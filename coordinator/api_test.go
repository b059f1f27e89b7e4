package coordinator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestJobAPI(t *testing.T) {
	c := newTestCoordinator(t)
	srv := httptest.NewServer(NewAPI(c, c.frontier).Handler())
	defer srv.Close()
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
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
	code, out = call("GET", "/v1/jobs/news", "")
	if code != http.StatusOK || out["queued"] != float64(1) || out["state"] != JobRunning {
		t.Errorf("progress: %d %v, want the seed queued and the job running", code, out)
	}
	code, out = call("POST", "/v1/jobs/news/pause", "")
	if code != http.StatusOK || out["state"] != JobPaused {
		t.Errorf("pause: %d %v", code, out)
	}
	if _, out = call("GET", "/v1/jobs/news", ""); out["state"] != JobPaused {
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
