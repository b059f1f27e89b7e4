package feed

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// Fetch formats.
const (
	FormatMarkdown = "markdown"
	FormatText     = "text"
)

// Cache outcomes of a fetch.
const (
	// CacheHit: a capture fresher than max_age was returned.
	CacheHit = "hit"
	// CacheMiss: the page was fetched live through the network.
	CacheMiss = "miss"
	// CacheStale: no network is attached, so an older capture was returned.
	CacheStale = "stale"
)

// FetchRequest asks for the content of one URL.
type FetchRequest struct {
	// URL is the absolute http(s) URL to fetch.
	URL string `json:"url" jsonschema:"absolute http or https URL"`
	// MaxAge is the oldest acceptable capture, in seconds; 0 always
	// fetches live. Omitted means the server default (1 hour).
	MaxAge *int64 `json:"max_age,omitempty" jsonschema:"oldest acceptable capture in seconds; 0 forces a live fetch"`
	// Format is "markdown" (default) or "text".
	Format string `json:"format,omitempty" jsonschema:"markdown (default) or text"`
}

// FetchResponse is the content of a URL with its provenance.
type FetchResponse struct {
	URL     string `json:"url"`
	Format  string `json:"format"`
	Content string `json:"content"`
	// Cache is hit, miss or stale.
	Cache string `json:"cache"`
	// AgeSeconds is how long ago the capture was fetched.
	AgeSeconds float64 `json:"age_seconds"`
	Document   *Record `json:"document"`
}

// Fetch answers from a capture fresher than req.MaxAge, or else fetches the
// URL live through the LiveFetcher and adds the result to the feed. Without
// a LiveFetcher it answers with a stale capture when one exists, and an
// error wrapping ErrNoNetwork otherwise.
func (f *Feed) Fetch(ctx context.Context, req FetchRequest) (*FetchResponse, error) {
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, badRequest("url %q: want an absolute http or https URL", req.URL)
	}
	maxAge := f.cfg.DefaultMaxAge
	if req.MaxAge != nil {
		if *req.MaxAge < 0 {
			return nil, badRequest("max_age %d: must not be negative", *req.MaxAge)
		}
		maxAge = time.Duration(*req.MaxAge) * time.Second
	}
	format := req.Format
	switch format {
	case "":
		format = FormatMarkdown
	case FormatMarkdown, FormatText:
	default:
		return nil, badRequest("format %q: want markdown or text", req.Format)
	}

	cached, err := f.cached(ctx, req.URL)
	if err != nil {
		return nil, err
	}
	now := f.now()
	if cached != nil && now.Sub(cached.FetchedAt) <= maxAge {
		return f.fetchResponse(req.URL, format, CacheHit, cached, now), nil
	}
	if f.cfg.Fetcher == nil {
		if cached != nil {
			return f.fetchResponse(req.URL, format, CacheStale, cached, now), nil
		}
		return nil, &apiError{Status: http.StatusServiceUnavailable, Msg: fmt.Sprintf("no capture of %s is cached and %v", req.URL, ErrNoNetwork)}
	}

	rec, err := f.live(ctx, req.URL)
	if err != nil {
		return nil, err
	}
	return f.fetchResponse(req.URL, format, CacheMiss, rec, f.now()), nil
}

// maxAliases bounds the requested-URL to document-URL map; when full it is
// reset, which only costs a live fetch.
const maxAliases = 100_000

// fetchCall is one live fetch that concurrent requests for the same URL
// share, so a burst of requests becomes one priority lease.
type fetchCall struct {
	done chan struct{}
	rec  *Record
	err  error
}

// live fetches u through the LiveFetcher, sharing the fetch with concurrent
// callers. The fetch runs under the feed's context and FetchTimeout, so one
// caller going away does not fail the others.
func (f *Feed) live(ctx context.Context, u string) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("live fetch of %s: %w", u, err)
	}
	f.inflightMu.Lock()
	c, ok := f.inflight[u]
	if !ok {
		c = &fetchCall{done: make(chan struct{})}
		f.inflight[u] = c
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			c.rec, c.err = f.liveOnce(u)
			f.inflightMu.Lock()
			delete(f.inflight, u)
			f.inflightMu.Unlock()
			close(c.done)
		}()
	}
	f.inflightMu.Unlock()
	select {
	case <-c.done:
		return c.rec, c.err
	case <-ctx.Done():
		return nil, fmt.Errorf("live fetch of %s: %w", u, ctx.Err())
	}
}

func (f *Feed) liveOnce(u string) (*Record, error) {
	fctx, cancel := context.WithTimeout(f.ctx, f.cfg.FetchTimeout)
	defer cancel()
	start := time.Now()
	doc, err := f.cfg.Fetcher.FetchURL(fctx, u)
	if err != nil {
		f.log.Info("live fetch failed", logkey.URL, u, logkey.Err, err)
		return nil, fetchError(f.ctx, u, f.cfg.FetchTimeout, err)
	}
	if doc == nil {
		return nil, &apiError{Status: http.StatusBadGateway, Msg: fmt.Sprintf("live fetch of %s returned no document", u)}
	}
	recs, err := f.add(fctx, []schemas.Document{*doc}, true)
	if err != nil {
		return nil, fmt.Errorf("adding live capture of %s: %w", u, err)
	}
	if doc.URL != u {
		f.mu.Lock()
		if len(f.aliases) >= maxAliases {
			f.aliases = map[string]string{}
		}
		f.aliases[u] = doc.URL
		f.mu.Unlock()
	}
	f.log.Debug("live fetch", logkey.URL, u, logkey.CID, doc.CaptureCID, "took", time.Since(start))
	if len(recs) > 0 {
		return recs[0], nil
	}
	// The index already held a newer capture than the node returned.
	if c, err := f.cached(fctx, doc.URL); err == nil && c != nil {
		return c, nil
	}
	return &Record{Document: *doc, Change: Change{Status: ChangeNew}}, nil
}

// cached returns the latest record of url, or nil.
func (f *Feed) cached(ctx context.Context, u string) (*Record, error) {
	f.mu.RLock()
	v, ok := f.latest[u]
	if !ok {
		// A live fetch of u may have come back under another URL
		// (a redirect or a canonical URL).
		if to, aliased := f.aliases[u]; aliased {
			v, ok = f.latest[to]
		}
	}
	f.mu.RUnlock()
	if !ok {
		return nil, nil
	}
	return f.idx.get(ctx, v.id)
}

func (f *Feed) fetchResponse(u, format, cache string, r *Record, now time.Time) *FetchResponse {
	content := r.Text
	if format == FormatMarkdown && r.Markdown != nil {
		content = *r.Markdown
	}
	age := now.Sub(r.FetchedAt).Seconds()
	return &FetchResponse{URL: u, Format: format, Content: content, Cache: cache, AgeSeconds: max(age, 0), Document: r}
}

// fetchError turns a LiveFetcher error into an answer that says what
// happened and what to do.
func fetchError(ctx context.Context, u string, timeout time.Duration, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("live fetch of %s: %w", u, ctx.Err())
	case errors.Is(err, ErrRefused):
		return &apiError{Status: http.StatusForbidden, Msg: fmt.Sprintf("live fetch of %s refused: %v", u, err)}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{Status: http.StatusGatewayTimeout, Msg: fmt.Sprintf("live fetch of %s timed out after %s: no node returned the page in time; retry later or accept an older capture with a larger max_age", u, timeout)}
	case errors.Is(err, ErrNoNetwork):
		return &apiError{Status: http.StatusServiceUnavailable, Msg: err.Error()}
	default:
		return &apiError{Status: http.StatusBadGateway, Msg: fmt.Sprintf("live fetch of %s failed: %v", u, err)}
	}
}

func (f *Feed) handleFetch(w http.ResponseWriter, r *http.Request) {
	var req FetchRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	res, err := f.Fetch(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	if res.Cache == CacheStale {
		w.Header().Set("Warning", `110 sward "stale capture: no network attached for a live fetch"`)
	}
	writeJSON(w, http.StatusOK, res)
}
