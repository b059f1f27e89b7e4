package curator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/schemas"
)

func request(t *testing.T, h http.Handler, method, path, host string, body any, trusted bool) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, r)
	req.Host = host
	if trusted {
		req.Header.Set("X-Sward-Curator", "1")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestHandlerGuards(t *testing.T) {
	c := openTest(t, Config{})
	must(t, c.Enqueue(context.Background(), testItem("a", KindReview)))
	h := c.Handler()
	decide := map[string]string{"item_id": "a", "action": "accept"}
	tests := []struct {
		name    string
		method  string
		path    string
		host    string
		body    any
		trusted bool
		want    int
	}{
		{"page on loopback", "GET", "/", "127.0.0.1:7788", nil, false, 200},
		{"page on localhost", "GET", "/stats", "localhost:7788", nil, false, 200},
		{"page on ipv6", "GET", "/rules", "[::1]:7788", nil, false, 200},
		{"dns rebinding", "GET", "/api/next", "evil.example:7788", nil, false, http.StatusMisdirectedRequest},
		{"post without header (csrf)", "POST", "/api/decide", "127.0.0.1", decide, false, http.StatusForbidden},
		{"unknown field", "POST", "/api/decide", "127.0.0.1", map[string]string{"item_id": "a", "verdict": "yes"}, true, 400},
		{"unknown item", "POST", "/api/decide", "127.0.0.1", map[string]string{"item_id": "zz", "action": "accept"}, true, 404},
		{"static asset", "GET", "/static/app.js", "127.0.0.1", nil, false, 200},
		{"bad hotkeys", "PUT", "/api/hotkeys", "127.0.0.1", map[string]string{"accept": "r"}, true, 400},
		{"nothing to undo", "POST", "/api/undo", "127.0.0.1", nil, true, http.StatusConflict},
		{"decide", "POST", "/api/decide", "127.0.0.1", decide, true, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := request(t, h, tt.method, tt.path, tt.host, tt.body, tt.trusted)
			if w.Code != tt.want {
				t.Fatalf("%s %s: status %d, want %d: %s", tt.method, tt.path, w.Code, tt.want, w.Body)
			}
			csp := w.Header().Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("CSP = %q", csp)
			}
			if w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("missing nosniff")
			}
		})
	}
	// The page itself has no inline script: the CSP would block it.
	w := request(t, h, "GET", "/", "127.0.0.1", nil, false)
	if strings.Contains(w.Body.String(), "<script>") || !strings.Contains(w.Body.String(), `<script src="/static/app.js">`) {
		t.Errorf("queue page scripts: %s", w.Body)
	}
}

func TestAPIFlow(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, Config{Quorum: 1})
	gold := testItem("g", KindGold)
	gold.Gold.Note = "secret answer note"
	must(t, c.Enqueue(ctx, testItem("a", KindReview), testItem("b", KindReview), gold))
	h := c.Handler()
	const host = "127.0.0.1"

	w := request(t, h, "GET", "/api/next", host, nil, false)
	var v View
	must(t, json.Unmarshal(w.Body.Bytes(), &v))
	if v.ID == "" || v.Remaining != 2 || !strings.Contains(v.Preview, "Content-Security-Policy") {
		t.Fatalf("next = %+v", v)
	}
	w = request(t, h, "GET", "/api/items/g", host, nil, false)
	if strings.Contains(w.Body.String(), "secret answer note") || strings.Contains(w.Body.String(), `"gold"`) {
		t.Fatalf("gold answer leaked to the UI: %s", w.Body)
	}
	w = request(t, h, "PUT", "/api/guidelines/job1", host, map[string]string{"text": "Be strict."}, true)
	if w.Code != 200 {
		t.Fatalf("guidelines: %d %s", w.Code, w.Body)
	}
	w = request(t, h, "GET", "/api/items/a", host, nil, false)
	must(t, json.Unmarshal(w.Body.Bytes(), &v))
	if v.Guidelines != "Be strict." {
		t.Fatalf("guidelines in view: %q", v.Guidelines)
	}
	w = request(t, h, "PUT", "/api/hotkeys", host, map[string]string{"accept": "y", "reject": "n"}, true)
	var keys map[string]string
	must(t, json.Unmarshal(w.Body.Bytes(), &keys))
	if keys["accept"] != "y" || keys["reject"] != "n" || keys["undo"] != "u" {
		t.Fatalf("hotkeys = %v", keys)
	}
	w = request(t, h, "GET", "/", host, nil, false)
	if !strings.Contains(w.Body.String(), `&#34;accept&#34;:&#34;y&#34;`) {
		t.Errorf("queue page does not carry the configured hotkeys: %s", w.Body)
	}
	w = request(t, h, "GET", "/api/queue?q=of+b", host, nil, false)
	var q struct {
		Count int         `json:"count"`
		Items []QueueItem `json:"items"`
	}
	must(t, json.Unmarshal(w.Body.Bytes(), &q))
	if q.Count != 1 || q.Items[0].ID != "b" {
		t.Fatalf("filtered queue = %+v", q)
	}
	w = request(t, h, "POST", "/api/bulk", host, map[string]any{"filter": map[string]string{"q": "of b"}, "action": "reject", "reason": "dup"}, true)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"decided":1`) {
		t.Fatalf("bulk: %d %s", w.Code, w.Body)
	}
	must(t, c.Flush(ctx))
	w = request(t, h, "GET", "/api/settled?since=0", host, nil, false)
	if !strings.Contains(w.Body.String(), `"item_id":"b"`) {
		t.Fatalf("settled: %s", w.Body)
	}
	w = request(t, h, "GET", "/api/stats", host, nil, false)
	if w.Code != 200 || !strings.Contains(w.Body.String(), c.PeerID()) {
		t.Fatalf("stats: %d %s", w.Code, w.Body)
	}
	w = request(t, h, "GET", "/stats", host, nil, false)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Cohen") {
		t.Fatalf("stats page: %d", w.Code)
	}
}

func TestRulesPreviewPublishAndGossip(t *testing.T) {
	ctx := context.Background()
	cs := network(t, 2, Config{})
	a, b := cs[0], cs[1]
	must(t, a.Enqueue(ctx, testItem("p1", KindReview), testItem("p2", KindReview)))
	draft := schemas.ExtractionRule{
		Domain: "News.Example.org",
		Body:   "article",
		Fields: []schemas.FieldRule{{Name: "title", Selector: "h1", Normalise: []string{"upper"}}},
	}
	h := a.Handler()
	w := request(t, h, "POST", "/api/rules/preview", "127.0.0.1", map[string]any{"rule": draft}, true)
	var previews []RulePreview
	must(t, json.Unmarshal(w.Body.Bytes(), &previews))
	if len(previews) != 2 {
		t.Fatalf("previews: %s", w.Body)
	}
	for _, p := range previews {
		if !strings.HasPrefix(p.Result.Text, "Body of p") || p.Result.Fields["title"] != strings.ToUpper("Title "+p.ItemID) {
			t.Errorf("preview of %s: %+v", p.ItemID, p.Result)
		}
	}
	w = request(t, h, "POST", "/api/rules/preview", "127.0.0.1", map[string]any{"rule": schemas.ExtractionRule{Domain: "x", Body: "[["}}, true)
	if w.Code != 400 {
		t.Fatalf("bad selector preview: %d", w.Code)
	}
	w = request(t, h, "POST", "/api/rules", "127.0.0.1", draft, true)
	if w.Code != 200 {
		t.Fatalf("publish: %d %s", w.Code, w.Body)
	}
	draft.Body = "article p"
	r2, err := a.PublishRule(ctx, draft)
	must(t, err)
	if r2.RuleVersion != 2 || r2.Domain != "news.example.org" {
		t.Fatalf("second rule: %+v", r2)
	}
	for _, x := range cs {
		testutil.Eventually(t, curatorWait, "rules gossiped", func() bool {
			rs, err := x.Rules(ctx)
			return err == nil && len(rs) == 1 && rs[0].RuleVersion == 2 && rs[0].Body == "article p"
		})
	}
	hist, err := b.RuleHistory(ctx, "news.example.org")
	must(t, err)
	if len(hist) != 2 || hist[0].RuleVersion != 2 {
		t.Fatalf("history: %+v", hist)
	}
	w = request(t, h, "GET", "/rules", "127.0.0.1", nil, false)
	if !strings.Contains(w.Body.String(), "news.example.org") {
		t.Errorf("rules page does not list the rule")
	}
}

func TestUntrustedCuratorCannotPublishRules(t *testing.T) {
	ctx := context.Background()
	_, owner := newKey(t)
	c := openTest(t, Config{Quorum: 1, ItemSources: []string{owner}})
	_, err := c.PublishRule(ctx, schemas.ExtractionRule{Domain: "x.example", Body: "main"})
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "trusted curators") {
		t.Fatalf("publishing as a curator the owner does not trust: %v", err)
	}
	if rs, _ := c.Rules(ctx); len(rs) != 0 {
		t.Fatalf("rules stored: %v", rs)
	}
}
