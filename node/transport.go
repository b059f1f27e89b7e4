package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// reqState carries one fetch's limits in and its observations out, through
// the request context, across colly's callbacks, the redirect policy and the
// transport.
type reqState struct {
	limit int64 // decoded body cap

	// mem is the fetch's share of the memory budget (nil: not counted);
	// it holds links for the outlinks plus bodyReserve(covered) for the
	// body, and grows as the body is read.
	mem     *memHold
	links   int64
	covered atomic.Int64 // body bytes the reservation covers

	wire      atomic.Int64
	truncated atomic.Bool

	mu        sync.Mutex
	header    http.Header // the final response's headers, untouched
	status    int
	redirects []string
	fail      error // the first guard that stopped the fetch
}

func (s *reqState) setFail(err error) {
	s.mu.Lock()
	if s.fail == nil {
		s.fail = err
	}
	s.mu.Unlock()
}

func (s *reqState) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fail
}

// coverBody grows the fetch's reservation so that it covers n body bytes
// (at most the body cap), waiting while the budget is full. It returns
// errMemoryCut when the budget refuses (the body is cut where it is) and
// the context's cause when ctx ends first.
func (s *reqState) coverBody(ctx context.Context, n int64) error {
	if s.mem == nil {
		return nil
	}
	n = min(n, s.limit)
	if n <= s.covered.Load() {
		return nil
	}
	if err := s.mem.growTo(ctx, s.links+bodyReserve(n)); err != nil {
		return err
	}
	for c := s.covered.Load(); n > c && !s.covered.CompareAndSwap(c, n); c = s.covered.Load() {
	}
	return nil
}

// fitBody lowers the fetch's reservation to cover n body bytes (at least
// bodyStep, at most the cap), from the worst case reserved before the
// request.
func (s *reqState) fitBody(n int64) {
	if s.mem == nil {
		return
	}
	n = min(max(n, bodyStep), s.limit)
	if n >= s.covered.Load() {
		return
	}
	s.covered.Store(n)
	s.mem.lower(s.links + bodyReserve(n))
}

type stateKey struct{}

func withState(ctx context.Context, s *reqState) context.Context {
	return context.WithValue(ctx, stateKey{}, s)
}

func stateFrom(ctx context.Context) *reqState {
	s, _ := ctx.Value(stateKey{}).(*reqState)
	return s
}

// guardedTransport wraps an http.Transport whose dialer is guarded. It
// refuses non-http(s) schemes, strips credentials, meters and rate-limits
// the bytes read, and undoes Content-Encoding itself under the size limit.
type guardedTransport struct {
	base    *http.Transport
	limiter *rate.Limiter // nil: unlimited
	onBytes func(int64)
	// defaultLimit caps bodies of requests that carry no reqState.
	defaultLimit int64
}

func newGuardedTransport(cfg Config, dialer *guardedDialer, limiter *rate.Limiter, onBytes func(int64)) *guardedTransport {
	base := &http.Transport{
		Proxy:                  nil, // never route through an environment proxy
		DialContext:            dialer.DialContext,
		TLSHandshakeTimeout:    cfg.ConnectTimeout,
		ResponseHeaderTimeout:  cfg.HeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true, // we decode ourselves, under a limit
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        60 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
	}
	return &guardedTransport{base: base, limiter: limiter, onBytes: onBytes, defaultLimit: cfg.MaxBodyBytes}
}

// RoundTrip implements http.RoundTripper.
func (t *guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, &fetchError{code: "scheme", detail: fmt.Sprintf("%q is not http or https", req.URL.Scheme)}
	}
	if req.URL.User != nil || req.Header.Get("Cookie") != "" || req.Header.Get("Authorization") != "" {
		req = req.Clone(req.Context())
		req.URL.User = nil
		req.Header.Del("Cookie")
		req.Header.Del("Authorization")
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	st := stateFrom(req.Context())
	if st == nil {
		st = &reqState{limit: t.defaultLimit}
	}
	if t.onBytes != nil {
		// Headers count against the caps too (approximately: the status
		// line and each field as sent).
		n := int64(len(resp.Status) + 12)
		for k, vs := range resp.Header {
			for _, v := range vs {
				n += int64(len(k) + len(v) + 4)
			}
		}
		t.onBytes(n)
	}
	st.mu.Lock()
	st.header = resp.Header // colly gets its own map below; this one stays untouched
	st.status = resp.StatusCode
	st.mu.Unlock()

	enc, encErr := parseContentEncoding(resp.Header.Get("Content-Encoding"))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 && resp.ContentLength >= 0 && enc == "" && encErr == nil {
		// An uncompressed body announces its size: hold that, not the
		// cap. A lying length gains nothing: the reader grows the
		// reservation (waiting on the budget) before reading past it.
		st.fitBody(resp.ContentLength)
	}
	wire := &wireReader{ctx: req.Context(), r: resp.Body, limiter: t.limiter, n: &st.wire, onBytes: t.onBytes}
	body := &guardedBody{raw: resp.Body}
	var decoded io.Reader = wire
	switch {
	case encErr != nil:
		decoded = errReader{encErr}
	case enc != "":
		body.dec = &lazyDecoder{encoding: enc, src: wire}
		decoded = body.dec
	}
	body.Reader = &cappedReader{r: decoded, limit: st.limit, compressed: enc != "", wire: &st.wire, truncated: &st.truncated, ctx: req.Context(), st: st}
	resp.Body = body

	// colly (and net/http's redirect logic) see only what they need: the
	// media type without its charset (so colly never transcodes; the
	// fetcher does, from the original header kept in reqState) and
	// Location; no Content-Encoding, so nothing decodes twice.
	h := make(http.Header, 2)
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil {
			h["Content-Type"] = []string{mt}
		}
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		h["Location"] = []string{loc}
	}
	resp.Header = h
	resp.ContentLength = -1
	resp.Uncompressed = true
	return resp, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
