package feed

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestOpenAPIDocument(t *testing.T) {
	f := newTestFeed(t, Config{})
	srv := newTestServer(t, f)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if code := getJSON(t, srv.Client(), srv.URL+"/openapi.json", nil, &doc); code != 200 {
		t.Fatalf("status %d", code)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	routes := []string{"GET /v1/search", "GET /v1/documents/{id}", "POST /v1/fetch", "GET /v1/feed", "GET /v1/export",
		"POST /v1/webhooks", "GET /v1/webhooks", "DELETE /v1/webhooks/{id}", "POST /mcp", "GET /openapi.json", "GET /healthz"}
	n := 0
	for p, ops := range doc.Paths {
		n += len(ops)
		_ = p
	}
	if n != len(routes) {
		t.Errorf("document has %d operations, server has %d routes", n, len(routes))
	}
	for _, r := range routes {
		m, p, _ := strings.Cut(r, " ")
		if _, ok := doc.Paths[p][strings.ToLower(m)]; !ok {
			t.Errorf("route %s missing from the OpenAPI document", r)
		}
	}
	// Every $ref resolves.
	var raw map[string]any
	if err := json.Unmarshal(OpenAPI(), &raw); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if k == "$ref" {
					ref := c.(string)
					node := any(raw)
					for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
						m, _ := node.(map[string]any)
						node = m[part]
					}
					if node == nil {
						t.Errorf("unresolved $ref %s", ref)
					}
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(raw)
	// Unknown routes answer with a JSON pointer to the document.
	resp, err := http.Get(srv.URL + "/v2/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown route: %d", resp.StatusCode)
	}
}
