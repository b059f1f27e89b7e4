package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/swardnet/sward/schemas"
)

// LiveFetcher fetches one URL through the network. The coordinator
// implements it: it sends url to the network as a priority lease, waits for a
// node's capture and the pipeline, and returns the accepted document with its
// provenance. It must honour ctx's deadline and return an error wrapping
// [ErrRefused] when robots.txt or a TDM opt-out forbids the fetch, and
// [ErrUnreachable] when the page could not be fetched. It may be called from
// many goroutines at once.
type LiveFetcher interface {
	FetchURL(ctx context.Context, url string) (*schemas.Document, error)
}

// Errors a LiveFetcher wraps so the feed can answer with the right status.
var (
	// ErrRefused means the site's robots.txt or TDM opt-out forbids the fetch.
	ErrRefused = errors.New("fetch refused by robots.txt or TDM opt-out")
	// ErrUnreachable means no node could fetch the page (DNS, connect, HTTP error).
	ErrUnreachable = errors.New("page unreachable")
	// ErrNoNetwork means there is no LiveFetcher: the feed runs standalone.
	ErrNoNetwork = errors.New("live fetch needs a running sward network (start one with `sward up`, or serve from the coordinator)")
)

// APIKey is one client key. Only the SHA-256 of the key is kept (see
// [HashAPIKey]); API keys are long random strings, so a fast hash is enough
// and the plain key never has to be stored.
type APIKey struct {
	// Name identifies the key in logs and errors; it is not secret.
	Name string `json:"name" yaml:"name"`
	// SHA256 is the lowercase hex SHA-256 of the key.
	SHA256 string `json:"sha256" yaml:"sha256"`
	// RateLimit overrides Config.RateLimit for this key when non-zero.
	RateLimit RateLimit `json:"rate_limit" yaml:"rate_limit"`
}

// RateLimit is a token bucket: PerSecond requests per second on average,
// with bursts of up to Burst requests.
type RateLimit struct {
	PerSecond float64 `json:"per_second" yaml:"per_second"`
	Burst     int     `json:"burst" yaml:"burst"`
}

// IsZero reports whether the limit is unset.
func (r RateLimit) IsZero() bool { return r.PerSecond == 0 && r.Burst == 0 }

// Config configures a Feed. Call Default to fill unset fields, then Validate.
type Config struct {
	// IndexDir holds the bleve index; "" keeps the index in memory.
	IndexDir string
	// Addr is the listen address of Serve. It must be a loopback address
	// unless AllowRemote is set. Default 127.0.0.1:8088.
	Addr string
	// AllowRemote permits a non-loopback Addr. API keys are then required.
	AllowRemote bool
	// Retention is how many feed events are kept so that an SSE client can
	// resume with Last-Event-ID without losing any. Default 10000.
	Retention int
	// Fetcher performs live fetches; nil means standalone mode, where
	// /v1/fetch only answers from the cache.
	Fetcher LiveFetcher
	// FetchTimeout bounds one live fetch. Default 30s.
	FetchTimeout time.Duration
	// DefaultMaxAge is the max_age of a fetch request that gives none.
	// Default 1h.
	DefaultMaxAge time.Duration
	// APIKeys are the accepted keys. Empty means no authentication, which
	// is only allowed on a loopback address.
	APIKeys []APIKey
	// RateLimit applies per API key (or per client IP when there are no
	// keys). Default 20 requests/s, burst 40.
	RateLimit RateLimit
	// MaxRequestBytes bounds a request body. Default 1 MiB.
	MaxRequestBytes int64
	// MaxResults bounds k in a search. Default 100.
	MaxResults int
	// MaxDiffLines bounds the text diff kept with a changed document.
	// Default 200.
	MaxDiffLines int
	// Webhook configures webhook deliveries.
	Webhook WebhookConfig
	// Logger receives the feed's logs (default slog.Default()).
	Logger *slog.Logger
}

// WebhookConfig configures webhook delivery.
type WebhookConfig struct {
	// AllowRemote permits webhook targets outside loopback. Off by default,
	// so an API client cannot make the server post to the local network.
	AllowRemote bool
	// MaxAttempts is how many times one delivery is tried. Default 6.
	MaxAttempts int
	// Backoff is the wait before the first retry; it doubles on every
	// further retry, with jitter. Default 1s.
	Backoff time.Duration
	// MaxBackoff caps the wait between retries. Default 1m.
	MaxBackoff time.Duration
	// Timeout bounds one delivery attempt. Default 10s.
	Timeout time.Duration
	// Queue is how many deliveries may wait per subscription. Default 1024.
	Queue int
}

// Default fills unset fields with their defaults.
func (c *Config) Default() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8088"
	}
	if c.Retention == 0 {
		c.Retention = 10000
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = 30 * time.Second
	}
	if c.DefaultMaxAge == 0 {
		c.DefaultMaxAge = time.Hour
	}
	if c.RateLimit.IsZero() {
		c.RateLimit = RateLimit{PerSecond: 20, Burst: 40}
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = 1 << 20
	}
	if c.MaxResults == 0 {
		c.MaxResults = 100
	}
	if c.MaxDiffLines == 0 {
		c.MaxDiffLines = 200
	}
	c.Webhook.Default()
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Default fills unset fields with their defaults.
func (c *WebhookConfig) Default() {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 6
	}
	if c.Backoff == 0 {
		c.Backoff = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = time.Minute
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Queue == 0 {
		c.Queue = 1024
	}
}

// Validate reports the first setting webhook delivery cannot run with.
func (c WebhookConfig) Validate() error {
	switch {
	case c.MaxAttempts < 1:
		return fmt.Errorf("feed config: webhook max attempts %d must be at least 1", c.MaxAttempts)
	case c.Backoff <= 0:
		return fmt.Errorf("feed config: webhook backoff %s must be positive", c.Backoff)
	case c.MaxBackoff < c.Backoff:
		return fmt.Errorf("feed config: webhook max backoff %s must be at least the backoff %s", c.MaxBackoff, c.Backoff)
	case c.Timeout <= 0:
		return fmt.Errorf("feed config: webhook timeout %s must be positive", c.Timeout)
	case c.Queue < 1:
		return fmt.Errorf("feed config: webhook queue %d must be at least 1", c.Queue)
	}
	return nil
}

// Validate reports the first invalid setting, saying how to fix it.
func (c Config) Validate() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("feed config: addr %q: %w (want host:port, e.g. 127.0.0.1:8088)", c.Addr, err)
	}
	if !c.AllowRemote && !isLoopbackHost(host) {
		return fmt.Errorf("feed config: addr %q is not a loopback address; pass AllowRemote (--allow-remote) and API keys to serve beyond this machine", c.Addr)
	}
	if c.AllowRemote && !isLoopbackHost(host) && len(c.APIKeys) == 0 {
		return errors.New("feed config: serving beyond loopback needs at least one API key (--api-key-sha256)")
	}
	if c.Retention < 1 {
		return fmt.Errorf("feed config: retention %d must be at least 1", c.Retention)
	}
	if c.FetchTimeout < 0 || c.DefaultMaxAge < 0 {
		return errors.New("feed config: fetch timeout and default max age must not be negative")
	}
	if c.MaxRequestBytes < 1 {
		return fmt.Errorf("feed config: max request bytes %d must be positive", c.MaxRequestBytes)
	}
	if c.MaxResults < 1 || c.MaxDiffLines < 1 {
		return errors.New("feed config: max results and max diff lines must be positive")
	}
	if err := c.RateLimit.validate("default"); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, k := range c.APIKeys {
		if k.Name == "" {
			return errors.New("feed config: every API key needs a name")
		}
		if seen[k.Name] {
			return fmt.Errorf("feed config: API key name %q is used twice", k.Name)
		}
		seen[k.Name] = true
		if !isHexSHA256(k.SHA256) {
			return fmt.Errorf("feed config: API key %q: sha256 must be 64 lowercase hex digits (make one with `sward serve --new-key NAME`)", k.Name)
		}
		if !k.RateLimit.IsZero() {
			if err := k.RateLimit.validate(k.Name); err != nil {
				return err
			}
		}
	}
	if err := c.Webhook.Validate(); err != nil {
		return err
	}
	if c.Logger == nil {
		return errors.New("feed config: no logger; call Default first")
	}
	return nil
}

func (r RateLimit) validate(name string) error {
	if r.PerSecond <= 0 || r.Burst < 1 {
		return fmt.Errorf("feed config: rate limit for %s must have per_second > 0 and burst >= 1", name)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
