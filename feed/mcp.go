package feed

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Version is the feed API version reported to MCP clients.
const Version = "1.0.0"

// MCPSearchInput is the input of the MCP tool "search".
type MCPSearchInput struct {
	Query  string `json:"query" jsonschema:"free-text query, ranked by BM25"`
	K      int    `json:"k,omitempty" jsonschema:"number of results (default 10)"`
	Lang   string `json:"lang,omitempty" jsonschema:"ISO 639-1 language code to keep, e.g. en"`
	Domain string `json:"domain,omitempty" jsonschema:"host to keep; its subdomains match too"`
	Since  string `json:"since,omitempty" jsonschema:"RFC 3339 time: keep documents fetched since then"`
}

// MCPGetInput is the input of the MCP tool "get_document".
type MCPGetInput struct {
	ID string `json:"id" jsonschema:"document id from a search result"`
}

// MCPServer returns the feed's MCP server (tools search, fetch and
// get_document), for connecting to any MCP transport.
func (f *Feed) MCPServer() *mcp.Server { return f.mcp }

func (f *Feed) newMCPServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "sward-feed", Title: "sward feed: fresh, verifiable web text", Version: Version}, &mcp.ServerOptions{
		Instructions: "Search and fetch web documents captured by the sward network. Every answer carries the page URL, fetch time, content sha256, capture CID and node peer ID: cite the URL and fetched_at.",
		// The SDK logs every session at Info; keep only its warnings.
		Logger: slog.New(minLevel{h: f.log.Handler(), min: slog.LevelWarn}),
	})
	mcp.AddTool(s, &mcp.Tool{
		Name:        "search",
		Description: "Full-text (BM25) search over freshly captured web documents. Returns titles, snippets, URLs and provenance.",
	}, f.mcpSearch)
	mcp.AddTool(s, &mcp.Tool{
		Name:        "fetch",
		Description: "Get the current content of a URL as markdown or text: a recent capture when one is fresher than max_age seconds, otherwise a live fetch by a network node (robots.txt and TDM opt-outs honoured).",
	}, f.mcpFetch)
	mcp.AddTool(s, &mcp.Tool{
		Name:        "get_document",
		Description: "Get a document's full text and markdown by id, with its provenance and change status.",
	}, f.mcpGet)
	return s
}

func (f *Feed) mcpSearch(ctx context.Context, _ *mcp.CallToolRequest, in MCPSearchInput) (*mcp.CallToolResult, *SearchResponse, error) {
	since, err := parseTime("since", in.Since)
	if err != nil {
		return nil, nil, err
	}
	res, err := f.Search(ctx, SearchRequest{Query: in.Query, K: in.K, Lang: in.Lang, Domain: in.Domain, Since: since})
	if err != nil {
		return nil, nil, err
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d results for %q (showing %d)\n", res.Total, res.Query, len(res.Hits))
	for i, h := range res.Hits {
		fmt.Fprintf(&sb, "\n%d. %s\n   %s\n   id=%s fetched_at=%s sha256=%s cid=%s\n   %s\n",
			i+1, h.Title, h.URL, h.ID, h.FetchedAt.Format("2006-01-02T15:04:05Z"), h.ContentSHA256, h.CaptureCID, h.Snippet)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: sb.String()}}}, res, nil
}

func (f *Feed) mcpFetch(ctx context.Context, _ *mcp.CallToolRequest, in FetchRequest) (*mcp.CallToolResult, *FetchResponse, error) {
	res, err := f.Fetch(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	d := res.Document
	head := fmt.Sprintf("Source: %s\nFetched: %s (cache %s)\nContent SHA-256: %s\nCapture CID: %s\nNode: %s\n\n",
		d.URL, d.FetchedAt.Format("2006-01-02T15:04:05Z"), res.Cache, d.ContentSHA256, d.CaptureCID, d.NodePeerID)
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: head + res.Content}}}, res, nil
}

func (f *Feed) mcpGet(ctx context.Context, _ *mcp.CallToolRequest, in MCPGetInput) (*mcp.CallToolResult, *Record, error) {
	r, err := f.Get(ctx, in.ID)
	if err != nil {
		return nil, nil, err
	}
	if r == nil {
		return nil, nil, fmt.Errorf("document %q not found (never seen, superseded by a newer capture, or removed)", in.ID)
	}
	body := r.Text
	if r.Markdown != nil {
		body = *r.Markdown
	}
	head := fmt.Sprintf("Source: %s\nFetched: %s\nContent SHA-256: %s\nCapture CID: %s\nNode: %s\nChange: %s\n\n",
		r.URL, r.FetchedAt.Format("2006-01-02T15:04:05Z"), r.ContentSHA256, r.CaptureCID, r.NodePeerID, r.Change.Status)
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: head + body}}}, r, nil
}

// minLevel drops records below min before they reach h.
type minLevel struct {
	h   slog.Handler
	min slog.Level
}

// Enabled implements slog.Handler.
func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }

// WithAttrs implements slog.Handler.
func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h: m.h.WithAttrs(as), min: m.min}
}

// WithGroup implements slog.Handler.
func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h: m.h.WithGroup(name), min: m.min}
}
