package feed

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// apiError is an error with the HTTP status to answer it with. Its JSON
// form is {"error": msg}.
type apiError struct {
	Status     int
	Msg        string
	RetryAfter int // seconds; sets Retry-After when positive
}

// Error implements error.
func (e *apiError) Error() string { return e.Msg }

func badRequest(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeError answers err: an apiError with its status, anything else as 500.
func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{Status: http.StatusInternalServerError, Msg: err.Error()}
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfter(ae.RetryAfter))
	}
	writeJSON(w, ae.Status, map[string]string{"error": ae.Msg})
}

func (f *Feed) newRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openapi.json", serveOpenAPI)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /v1/search", f.handleSearch)
	mux.HandleFunc("GET /v1/documents/{id}", f.handleDocument)
	mux.HandleFunc("POST /v1/fetch", f.handleFetch)
	mux.HandleFunc("GET /v1/feed", f.handleFeed)
	mux.HandleFunc("GET /v1/export", f.handleExport)
	mux.HandleFunc("POST /v1/webhooks", f.handleWebhookCreate)
	mux.HandleFunc("GET /v1/webhooks", f.handleWebhookList)
	mux.HandleFunc("DELETE /v1/webhooks/{id}", f.handleWebhookDelete)
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return f.mcp }, &mcp.StreamableHTTPOptions{
		Logger:              slog.New(minLevel{h: f.log.Handler(), min: slog.LevelWarn}),
		MaxRequestBodyBytes: f.cfg.MaxRequestBytes,
		SessionTimeout:      30 * time.Minute,
	})
	mux.Handle("/mcp", mcpHandler)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{Status: http.StatusNotFound, Msg: fmt.Sprintf("no route %s %s; see /openapi.json", r.Method, r.URL.Path)})
	})
	return f.guard(mux, map[string]bool{"/openapi.json": true, "/healthz": true})
}

// maxTime is the latest time a filter accepts.
var maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// parseTime reads an RFC 3339 time or a Unix time in seconds; "" is zero.
func parseTime(name, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		n, nerr := strconv.ParseInt(s, 10, 64)
		if nerr != nil {
			return time.Time{}, badRequest("%s %q: want an RFC 3339 time (2026-01-02T15:04:05Z) or Unix seconds", name, s)
		}
		t = time.Unix(n, 0)
	}
	// The index stores times as Unix nanoseconds.
	if t.Before(time.Unix(0, 0)) || t.After(maxTime) {
		return time.Time{}, badRequest("%s %q: must be between 1970 and 2200", name, s)
	}
	return t.UTC(), nil
}

// parseChanges reads a comma-separated list of change statuses.
func parseChanges(s string) ([]ChangeStatus, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []ChangeStatus
	for _, p := range strings.Split(s, ",") {
		c := ChangeStatus(strings.ToLower(strings.TrimSpace(p)))
		if !c.valid() {
			return nil, badRequest("change %q: want new, same, changed or removed", p)
		}
		out = append(out, c)
	}
	return out, nil
}

func (f *Feed) handleSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := SearchRequest{Query: q.Get("q"), Lang: q.Get("lang"), Domain: q.Get("domain")}
	if ks := q.Get("k"); ks != "" {
		k, err := strconv.Atoi(ks)
		if err != nil || k < 1 {
			writeError(w, badRequest("k %q: want a positive integer", ks))
			return
		}
		req.K = k
	}
	since, err := parseTime("since", q.Get("since"))
	if err != nil {
		writeError(w, err)
		return
	}
	req.Since = since
	res, err := f.Search(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (f *Feed) handleDocument(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec, err := f.Get(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	if rec == nil {
		writeError(w, &apiError{Status: http.StatusNotFound, Msg: fmt.Sprintf("document %q not found (never seen, superseded by a newer capture, or removed)", id)})
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// decodeBody reads a JSON request body into v, rejecting unknown fields.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("request body exceeds the limit of %d bytes", mbe.Limit)}
		}
		if errors.Is(err, io.EOF) {
			return badRequest("request body is empty; send a JSON object")
		}
		return badRequest("request body: %v", err)
	}
	if dec.More() {
		return badRequest("request body: more than one JSON value")
	}
	return nil
}
