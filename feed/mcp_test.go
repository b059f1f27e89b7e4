package feed

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
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

// TestMCPStdioAnswersAOneShotPipe writes requests and closes the input at
// once, as `printf ... | sward mcp` does: every request must still be
// answered before the server stops (the SDK alone drops them).
func TestMCPStdioAnswersAOneShotPipe(t *testing.T) {
	f := mcpFeed(t, Config{})
	in := strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
		`{"jsonrpc":"2.0","id":"three","method":"tools/call","params":{"name":"search","arguments":{"query":"handshake","k":1}}}`,
		`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get_document","arguments":{"id":"tls"}}}`,
	}, "\n") + "\n"
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := f.serveMCPPipes(ctx, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatalf("took %v: end of input waited for an answer that never came", time.Since(start))
	}
	answers := map[string]json.RawMessage{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal([]byte(line), &msg); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		answers[string(msg.ID)] = msg.Result
	}
	for _, id := range []string{`1`, `2`, `"three"`, `4`} {
		if len(answers[id]) == 0 {
			t.Errorf("no answer to request %s; output:\n%s", id, out.String())
		}
	}
	if !strings.Contains(string(answers[`"three"`]), "sec.example.org/tls13") {
		t.Errorf("search answer: %s", answers[`"three"`])
	}
}

// TestMCPStdioCancelledRequestDoesNotHoldTheEnd checks that a request the
// client cancels is not waited for at end of input.
func TestMCPStdioCancelledRequestDoesNotHoldTheEnd(t *testing.T) {
	p := &pendingRequests{ids: map[string]bool{}}
	p.cond = sync.NewCond(&p.mu)
	in := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{}}` + "\n" +
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}` + "\n"
	d := &drainingReader{r: strings.NewReader(in), pending: p, ctx: context.Background()}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(d)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("end of input waited for a cancelled request")
	}
}

func TestMCPStdioLineSplitter(t *testing.T) {
	var s lineSplitter
	var got []string
	for _, chunk := range []string{`{"a"`, ":1}\n{\"b\":2}\n{", `"c":3}`, "\n"} {
		s.feed([]byte(chunk), func(l []byte) { got = append(got, string(l)) })
	}
	if want := []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}; !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
	kinds := map[string]int{
		`{"jsonrpc":"2.0","id":1,"method":"x"}`:        frameRequest,
		`{"jsonrpc":"2.0","id":1,"result":{}}`:         frameAnswer,
		`{"jsonrpc":"2.0","id":null,"error":{}}`:       frameOther,
		`{"jsonrpc":"2.0","method":"notifications/x"}`: frameOther,
		`[{"jsonrpc":"2.0","id":1,"method":"x"}]`:      frameOther,
		`not json`: frameOther,
	}
	for line, want := range kinds {
		if got, _ := classify([]byte(line)); got != want {
			t.Errorf("classify(%s) = %d, want %d", line, got, want)
		}
	}
}
