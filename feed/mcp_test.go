package feed

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/swardnet/sward/schemas"
)

func mcpFeed(t *testing.T, cfg Config) *Feed {
	t.Helper()
	const u = "https://live.example.com/page"
	cfg.Fetcher = fakeFetcher{fetch: func(ctx context.Context, url string) (*schemas.Document, error) {
		if url != u {
			return nil, ErrUnreachable
		}
		d := mkDoc("live", u, "Live", "fetched just now", time.Now().UTC())
		return &d, nil
	}}
	f := newTestFeed(t, cfg)
	mustAdd(t, f, mkDoc("tls", "https://sec.example.org/tls13", "TLS 1.3", "The handshake takes one round trip.", t0))
	return f
}

// exerciseMCP runs the three tools through a connected client session.
func exerciseMCP(t *testing.T, cs *mcp.ClientSession) {
	ctx := context.Background()
	var names []string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
	}
	if strings.Join(names, ",") != "fetch,get_document,search" {
		t.Errorf("tools %v", names)
	}

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "search", Arguments: map[string]any{"query": "handshake", "k": 3}})
	if err != nil || res.IsError {
		t.Fatalf("search: %v %+v", err, res)
	}
	var sr SearchResponse
	remarshal(t, res.StructuredContent, &sr)
	if len(sr.Hits) != 1 || sr.Hits[0].ID != "tls" || sr.Hits[0].CaptureCID != "bafkreitls" {
		t.Errorf("search structured: %+v", sr)
	}
	if text := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(text, "https://sec.example.org/tls13") || !strings.Contains(text, "sha256=") {
		t.Errorf("search text: %s", text)
	}

	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_document", Arguments: map[string]any{"id": "tls"}})
	if err != nil || res.IsError {
		t.Fatalf("get_document: %v %+v", err, res)
	}
	var rec Record
	remarshal(t, res.StructuredContent, &rec)
	if rec.ID != "tls" || rec.Markdown == nil || rec.ContentSHA256 == "" {
		t.Errorf("get_document structured: %+v", rec)
	}
	if text := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(text, "# TLS 1.3") || !strings.Contains(text, "Capture CID: bafkreitls") {
		t.Errorf("get_document text: %s", text)
	}

	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_document", Arguments: map[string]any{"id": "missing"}})
	if err != nil || !res.IsError {
		t.Errorf("get_document of a missing id: %v %+v", err, res)
	}

	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "fetch", Arguments: map[string]any{"url": "https://live.example.com/page", "max_age": 0}})
	if err != nil || res.IsError {
		t.Fatalf("fetch: %v %+v", err, res)
	}
	var fr FetchResponse
	remarshal(t, res.StructuredContent, &fr)
	if fr.Cache != CacheMiss || !strings.Contains(fr.Content, "fetched just now") || fr.Document.NodePeerID == "" {
		t.Errorf("fetch structured: %+v", fr)
	}

	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "fetch", Arguments: map[string]any{"url": "https://down.example.com/"}})
	if err != nil || !res.IsError {
		t.Errorf("fetch of an unreachable page: %v %+v", err, res)
	} else if text := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(text, "unreachable") {
		t.Errorf("fetch error text: %s", text)
	}
}

func remarshal(t *testing.T, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
}

func TestMCPInMemory(t *testing.T) {
	f := mcpFeed(t, Config{})
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := f.MCPServer().Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, nil)
	cs, err := client.Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	exerciseMCP(t, cs)
}

func TestMCPStreamableHTTP(t *testing.T) {
	key, sha, _ := NewAPIKey()
	f := mcpFeed(t, Config{APIKeys: []APIKey{{Name: "agent", SHA256: sha}}})
	srv := newTestServer(t, f)
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, nil)
	cs, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{
		Endpoint:             srv.URL + "/mcp",
		HTTPClient:           &http.Client{Transport: bearer{key: key}},
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	exerciseMCP(t, cs)
}

// bearer adds an API key to every request.
type bearer struct{ key string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}
