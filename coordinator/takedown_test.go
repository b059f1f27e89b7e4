package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/swardnet/sward/schemas"
)

// TestRetractOnRequest: the dataset owner takes a published page out
// through the job API; the next version leaves it out (and only it), the
// feed is told, an unknown URL is reported, and requests without the
// token, with a bad URL or for an unknown job change nothing.
func TestRetractOnRequest(t *testing.T) {
	ctx := context.Background()
	c := newTestCoordinator(t)
	const token = "0123456789abcdef0123456789abcdef"
	srv := httptest.NewServer(newTestAPI(t, c, token).Handler())
	defer srv.Close()
	var seeds []string
	for i := range 3 {
		seeds = append(seeds, fmt.Sprintf("http://127.0.0.1:9/story/%d", i))
	}
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "td", Dataset: "td", Seeds: seeds,
		Scope: schemas.Scope{Domains: []string{"127.0.0.1:9"}}, MaxDepth: 0, TDMPolicy: schemas.TDMSkip}
	if _, err := c.Submit(ctx, spec); err != nil {
		t.Fatal(err)
	}
	node := testPeer(t)
	for len(seeds) > 0 {
		resp := c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 3})
		if resp.Error != "" || len(resp.Items) == 0 {
			t.Fatalf("lease: %q, %d items", resp.Error, len(resp.Items))
		}
		for _, it := range resp.Items {
			if err := c.Ingest(ctx, htmlCapture("td", it.URL, node.String(), article(pageIndex(it.URL)+300, "ad", "2025-01-01"))); err != nil {
				t.Fatal(err)
			}
			seeds = slices.DeleteFunc(seeds, func(s string) bool { return s == it.URL })
		}
	}
	_, m1, err := c.Publish(ctx, "td")
	if err != nil {
		t.Fatal(err)
	}
	if m1.Rows != 3 {
		t.Fatalf("v1 has %d rows, want the 3 stories", m1.Rows)
	}
	var told []string
	c.OnExclude(func(job, id string) { told = append(told, job+" "+id) })

	post := func(path, body, tok string) (int, map[string]any) {
		t.Helper()
		return apiCall(t, srv.URL, http.MethodPost, path, body, tok)
	}
	for _, tc := range []struct {
		name, path, body, tok string
		code                  int
	}{
		{"no token", "/v1/jobs/td/retract", `{"urls":["http://127.0.0.1:9/story/1"]}`, "", http.StatusUnauthorized},
		{"wrong token", "/v1/jobs/td/retract", `{"urls":["http://127.0.0.1:9/story/1"]}`, strings.Repeat("x", 32), http.StatusUnauthorized},
		{"unknown job", "/v1/jobs/nope/retract", `{"urls":["http://127.0.0.1:9/story/1"]}`, token, http.StatusNotFound},
		{"bad URL", "/v1/jobs/td/retract", `{"urls":["http://127.0.0.1:9/story/1", "::not a url"]}`, token, http.StatusBadRequest},
		{"no URL", "/v1/jobs/td/retract", `{"urls":[]}`, token, http.StatusBadRequest},
		{"not JSON", "/v1/jobs/td/retract", `urls=x`, token, http.StatusBadRequest},
		{"unknown field", "/v1/jobs/td/retract", `{"url":"http://127.0.0.1:9/story/1"}`, token, http.StatusBadRequest},
	} {
		if code, out := post(tc.path, tc.body, tc.tok); code != tc.code {
			t.Errorf("%s: %d %v, want %d", tc.name, code, out, tc.code)
		}
	}
	if n, _ := c.job("td").dataset.Retracted(ctx); n != 0 || len(told) != 0 {
		t.Fatalf("refused requests retracted %d records and told the feed %v", n, told)
	}

	code, out := post("/v1/jobs/td/retract", `{"urls":["http://127.0.0.1:9/story/1", "http://127.0.0.1:9/never-fetched"]}`, token)
	if code != http.StatusOK || out["retracted"] != float64(1) {
		t.Fatalf("retract: %d %v, want 1 record", code, out)
	}
	if unk, _ := out["unknown"].([]any); len(unk) != 1 || unk[0] != "http://127.0.0.1:9/never-fetched" {
		t.Errorf("unknown URLs %v, want the one never fetched", out["unknown"])
	}
	n, _ := NormalizeURL("http://127.0.0.1:9/story/1")
	if want := "td " + DocumentID("td", n); !slices.Equal(told, []string{want}) {
		t.Errorf("the feed was told %v, want %s", told, want)
	}
	_, m2, err := c.Publish(ctx, "td")
	if err != nil {
		t.Fatal(err)
	}
	if m2.Rows != 2 || m2.Retracted != 1 {
		t.Fatalf("v2 rows=%d retracted=%d, want 2 and 1", m2.Rows, m2.Retracted)
	}
}

// TestRetractLowersCounts: a takedown takes its pages off the job's
// counters as a conviction does, by the decision their capture was
// counted under (an accepted page off accepted, a 404 off rejected), but
// not a page an earlier process counted (its contribution restored) nor
// one whose contribution is no longer tracked (vested).
func TestRetractLowersCounts(t *testing.T) {
	ctx := context.Background()
	c := newTestCoordinator(t)
	urls := submitPages(t, c, "tc", 4)
	node := testPeer(t)
	fetched := fetchPages(t, c, "tc", node, 3)
	resp := c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 1})
	if resp.Error != "" || len(resp.Items) == 0 {
		t.Fatalf("lease: %q, %+v", resp.Error, resp.Items)
	}
	gone := resp.Items[0].URL
	capt := htmlCapture("tc", gone, node.String(), []byte("<html><body>Not found</body></html>"))
	capt.Status = 404
	if err := c.Ingest(ctx, capt); err != nil {
		t.Fatal(err)
	}
	j := c.job("tc")
	if a, r := j.accepted.Load(), j.rejected.Load(); a != 3 || r != 1 {
		t.Fatalf("accepted %d, rejected %d before the takedown; want 3 and 1", a, r)
	}
	if _, m, err := c.Publish(ctx, "tc"); err != nil || m.Rows != 3 {
		t.Fatalf("v1: %v, %+v", err, m)
	}
	key := func(u string) checkKey { return checkKey{job: "tc", url: mustNorm(t, u)} }
	c.contribMu.Lock()
	c.contrib[node.String()][key(fetched[1])].restored = true
	delete(c.contrib[node.String()], key(fetched[2]))
	c.contribMu.Unlock()

	res, err := c.Retract(ctx, "tc", append([]string{"http://127.0.0.1:9/never-fetched"}, urls...))
	if err != nil {
		t.Fatal(err)
	}
	if res.Retracted != 4 || len(res.Unknown) != 1 {
		t.Fatalf("retract %+v, want 4 records and the URL never fetched unknown", res)
	}
	if a, r, rv := j.accepted.Load(), j.rejected.Load(), j.review.Load(); a != 2 || r != 0 || rv != 0 {
		t.Errorf("after the takedown accepted %d, rejected %d, review %d; want 2 (the restored and the untracked page), 0, 0", a, r, rv)
	}
	// Taken out already: a second takedown of the same pages moves nothing.
	if res, err := c.Retract(ctx, "tc", urls); err != nil || res.Retracted != 0 {
		t.Fatalf("second retract %+v, %v", res, err)
	}
	if a, r := j.accepted.Load(), j.rejected.Load(); a != 2 || r != 0 {
		t.Errorf("a second takedown moved the counts: accepted %d, rejected %d", a, r)
	}
}

// TestRetractBodyLimit: the retract endpoint takes a body of
// MaxRetractURLs URLs of the longest length nodes fetch, and refuses a
// larger one with 413 and an error that says the limits.
func TestRetractBodyLimit(t *testing.T) {
	ctx := context.Background()
	c := newTestCoordinator(t)
	const token = "0123456789abcdef0123456789abcdef"
	srv := httptest.NewServer(newTestAPI(t, c, token).Handler())
	defer srv.Close()
	submitPages(t, c, "big", 1)

	prefix := "http://127.0.0.1:9/"
	urls := make([]string, MaxRetractURLs)
	for i := range urls {
		n := fmt.Sprintf("%d/", i)
		urls[i] = prefix + n + strings.Repeat("p", retractURLBytes-len(prefix)-len(n))
	}
	body, err := json.Marshal(RetractRequest{URLs: urls})
	if err != nil {
		t.Fatal(err)
	}
	code, out := apiCall(t, srv.URL, http.MethodPost, "/v1/jobs/big/retract", string(body), token)
	if unk, _ := out["unknown"].([]any); code != http.StatusOK || len(unk) != MaxRetractURLs {
		t.Fatalf("retract of %d URLs of %d bytes (a %d-byte body): %d, %d unknown, error %v; want 200 and all unknown",
			MaxRetractURLs, retractURLBytes, len(body), code, len(unk), out["error"])
	}

	over := `{"urls":["` + prefix + strings.Repeat("p", maxRetractBodyBytes) + `"]}`
	code, out = apiCall(t, srv.URL, http.MethodPost, "/v1/jobs/big/retract", over, token)
	msg, _ := out["error"].(string)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, fmt.Sprintf("larger than %d bytes", maxRetractBodyBytes)) ||
		!strings.Contains(msg, fmt.Sprint(MaxRetractURLs)) {
		t.Errorf("a %d-byte body: %d %q, want 413 naming the limits", len(over), code, msg)
	}
	if n, _ := c.job("big").dataset.Retracted(ctx); n != 0 {
		t.Errorf("the refused request retracted %d records", n)
	}
}
