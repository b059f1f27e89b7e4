package feed

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func doReq(t *testing.T, method, u, key, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestAPIKeys(t *testing.T) {
	key, sha, err := NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	if HashAPIKey(key) != sha || !strings.HasPrefix(key, "sward_") {
		t.Fatalf("key %q hash %q", key, sha)
	}
	f := newTestFeed(t, Config{APIKeys: []APIKey{{Name: "app", SHA256: sha}}})
	srv := newTestServer(t, f)
	tests := []struct {
		name, path, key string
		header          string
		want            int
	}{
		{"valid key", "/v1/search?q=x", key, "", 200},
		{"valid key in X-API-Key", "/v1/search?q=x", "", key, 200},
		{"missing key", "/v1/search?q=x", "", "", 401},
		{"invalid key", "/v1/search?q=x", "sward_wrong", "", 401},
		{"key hash is not the key", "/v1/search?q=x", sha, "", 401},
		{"openapi is public", "/openapi.json", "", "", 200},
		{"mcp needs a key", "/mcp", "", "", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
			if tc.key != "" {
				req.Header.Set("Authorization", "Bearer "+tc.key)
			}
			if tc.header != "" {
				req.Header.Set("X-API-Key", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestRateLimitFlood(t *testing.T) {
	flood, floodSHA, _ := NewAPIKey()
	calm, calmSHA, _ := NewAPIKey()
	f := newTestFeed(t, Config{
		APIKeys: []APIKey{
			{Name: "flood", SHA256: floodSHA, RateLimit: RateLimit{PerSecond: 0.5, Burst: 5}},
			{Name: "calm", SHA256: calmSHA},
		},
	})
	srv := newTestServer(t, f)
	ok, limited := 0, 0
	var retry string
	for i := 0; i < 20; i++ {
		resp := doReq(t, http.MethodGet, srv.URL+"/v1/search?q=x", flood, "")
		switch resp.StatusCode {
		case 200:
			ok++
		case 429:
			limited++
			retry = resp.Header.Get("Retry-After")
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if ok != 5 || limited != 15 {
		t.Errorf("%d ok, %d limited; want the burst of 5 then 429s", ok, limited)
	}
	if secs, err := strconv.Atoi(retry); err != nil || secs < 1 || secs > 2 {
		t.Errorf("Retry-After %q, want 1-2 seconds", retry)
	}
	// Another key is not affected by the flood.
	if resp := doReq(t, http.MethodGet, srv.URL+"/v1/search?q=x", calm, ""); resp.StatusCode != 200 {
		t.Errorf("other key: status %d", resp.StatusCode)
	}
}

func TestAnonymousRateLimit(t *testing.T) {
	f := newTestFeed(t, Config{RateLimit: RateLimit{PerSecond: 0.1, Burst: 2}})
	srv := newTestServer(t, f)
	codes := []int{}
	for i := 0; i < 3; i++ {
		codes = append(codes, doReq(t, http.MethodGet, srv.URL+"/v1/search?q=x", "", "").StatusCode)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Errorf("codes %v, want [200 200 429]", codes)
	}
}

func TestRequestSizeLimit(t *testing.T) {
	f := newTestFeed(t, Config{MaxRequestBytes: 256})
	srv := newTestServer(t, f)
	big := `{"url":"https://example.com/` + strings.Repeat("a", 400) + `"}`
	if resp := doReq(t, http.MethodPost, srv.URL+"/v1/fetch", "", big); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized fetch: status %d, want 413", resp.StatusCode)
	}
	// Without a Content-Length the limit still holds while reading.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/webhooks", &chunked{s: `{"url":"http://127.0.0.1/` + strings.Repeat("b", 400) + `"}`})
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized chunked body: status %d, want 413", resp.StatusCode)
	}
	if resp := doReq(t, http.MethodPost, srv.URL+"/v1/fetch", "", `{"url":"https://example.com/","bogus":1}`); resp.StatusCode != 400 {
		t.Errorf("unknown field: status %d, want 400", resp.StatusCode)
	}
	if resp := doReq(t, http.MethodPost, srv.URL+"/v1/fetch", "", ``); resp.StatusCode != 400 {
		t.Errorf("empty body: status %d, want 400", resp.StatusCode)
	}
}

// chunked hides its length so the client sends a chunked body.
type chunked struct {
	s string
	i int
}

func (c *chunked) Read(p []byte) (int, error) {
	if c.i >= len(c.s) {
		return 0, io.EOF
	}
	n := copy(p, c.s[c.i:])
	c.i += n
	return n, nil
}

func TestConfigValidate(t *testing.T) {
	good := HashAPIKey("k")
	tests := []struct {
		name   string
		cfg    Config
		errSub string
	}{
		{"defaults", Config{}, ""},
		{"ipv6 loopback", Config{Addr: "[::1]:9000"}, ""},
		{"remote without permission", Config{Addr: "0.0.0.0:8088"}, "not a loopback"},
		{"remote without keys", Config{Addr: "0.0.0.0:8088", AllowRemote: true}, "API key"},
		{"remote with keys", Config{Addr: "0.0.0.0:8088", AllowRemote: true, APIKeys: []APIKey{{Name: "a", SHA256: good}}}, ""},
		{"bad addr", Config{Addr: "nope"}, "host:port"},
		{"bad hash", Config{APIKeys: []APIKey{{Name: "a", SHA256: "xyz"}}}, "64 lowercase hex"},
		{"unnamed key", Config{APIKeys: []APIKey{{SHA256: good}}}, "name"},
		{"duplicate key", Config{APIKeys: []APIKey{{Name: "a", SHA256: good}, {Name: "a", SHA256: good}}}, "twice"},
		{"bad rate", Config{RateLimit: RateLimit{PerSecond: -1, Burst: 1}}, "rate limit"},
		{"bad key rate", Config{APIKeys: []APIKey{{Name: "a", SHA256: good, RateLimit: RateLimit{PerSecond: 1}}}}, "rate limit"},
		{"bad retention", Config{Retention: -1}, "retention"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.Default()
			err := c.Validate()
			if tc.errSub == "" && err != nil || tc.errSub != "" && (err == nil || !strings.Contains(err.Error(), tc.errSub)) {
				t.Errorf("Validate: %v, want %q", err, tc.errSub)
			}
		})
	}
}
