package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/swardnet/sward/schemas"
)

// DefaultUserAgent identifies sward's crawler and links to the page that
// explains it. Its product token "swardbot" is what robots.txt groups match.
const DefaultUserAgent = "swardbot/0.1 (+https://github.com/swardnet/sward/blob/main/docs/crawler.md)"

// RobotsToken is the product token sward matches in robots.txt user-agent
// lines.
const RobotsToken = "swardbot"

// Config holds the fetcher's guards and the operator's caps. The zero value
// is not usable: call Default first, then override, then Validate.
type Config struct {
	// UserAgent is sent with every request.
	UserAgent string
	// AllowPrivate permits private, loopback, link-local, CGNAT, multicast
	// and cloud-metadata destinations. Only demos and tests set it.
	AllowPrivate bool
	// MaxBodyBytes bounds the decoded body kept per page; longer pages are
	// cut and marked Truncated.
	MaxBodyBytes int64
	// ConnectTimeout bounds the TCP (and TLS) handshake.
	ConnectTimeout time.Duration
	// HeaderTimeout bounds the wait for response headers after the request
	// is written.
	HeaderTimeout time.Duration
	// TotalTimeout bounds one attempt, from dial to the last body byte.
	TotalTimeout time.Duration
	// MinHostDelay is the floor on the gap between requests to one host;
	// the lease budget and robots.txt crawl-delay can raise it.
	MinHostDelay time.Duration
	// MaxConcurrency bounds the fetches in flight across all hosts.
	MaxConcurrency int
	// BandwidthBytesPerSec caps the bytes read from the network per second;
	// 0 means unlimited.
	BandwidthBytesPerSec int64
	// MonthlyCapBytes caps the bytes read per calendar month (UTC); 0 means
	// unlimited. Usage is persisted in DataDir.
	MonthlyCapBytes int64
	// ActiveHours limits fetching to local-time windows such as
	// "22:00-07:00" (comma-separate several); empty means always.
	ActiveHours string
	// Blocklist lists domains never fetched (a domain blocks its
	// subdomains too).
	Blocklist []string
	// DataDir holds the node's persistent state (monthly usage).
	DataDir string
	// LocalAddr is the source IP outgoing fetches bind to; empty lets the
	// system choose. In-process demo nodes use distinct 127.0.0.x addresses
	// so the sites they crawl see distinct peers.
	LocalAddr string
	// MaxRetries bounds the retries of one URL after a transient error
	// (connection reset, 429, 502, 503, 504).
	MaxRetries int
	// MaxRetryWait is the longest Retry-After the fetcher waits out within
	// one Fetch; a longer one ends the fetch with an error (the host stays
	// backed off).
	MaxRetryWait time.Duration
	// MemoryBudgetBytes bounds the bytes the node holds at once for
	// bodies in flight, outlinks and sitemap entries, across all fetches
	// (default DefaultMemoryBudget, raised if need be to fit two fetches
	// at the configured caps). Each fetch reserves twice MaxBodyBytes plus
	// its outlinks' cap before it starts and waits while the budget is
	// full; MaxConcurrency times 564 KiB of it is set aside for robots.txt
	// and tdmrep.json.
	MemoryBudgetBytes int64
	// Logger receives the fetcher's and dashboard's logs (default
	// slog.Default()).
	Logger *slog.Logger

	// allowedTestPrefixes lets tests reach their loopback servers while the
	// guard still refuses every other private address. It is deliberately
	// unexported: operators get AllowPrivate, nothing finer.
	allowedTestPrefixes []string
	// resolver replaces DNS in tests (no query may leave loopback).
	resolver resolver
	// dialHook, when set, makes every connection the guard has vetted
	// (tests record the targets and refuse anything outside loopback).
	dialHook func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Default fills every unset field with its default.
func (c *Config) Default() {
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 10 << 20
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.HeaderTimeout == 0 {
		c.HeaderTimeout = 15 * time.Second
	}
	if c.TotalTimeout == 0 {
		c.TotalTimeout = 60 * time.Second
	}
	if c.MinHostDelay == 0 {
		c.MinHostDelay = time.Second
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = 8
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 2
	}
	if c.MaxRetryWait == 0 {
		c.MaxRetryWait = 2 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MemoryBudgetBytes == 0 {
		c.MemoryBudgetBytes = defaultMemoryBudget(c.MaxBodyBytes, c.MaxConcurrency)
	}
}

// Validate reports the first setting that cannot work, saying how to fix it.
func (c Config) Validate() error {
	switch {
	case c.UserAgent == "":
		return errors.New("node config: user agent is empty; leave it unset for the default")
	case !strings.Contains(strings.ToLower(c.UserAgent), RobotsToken):
		return fmt.Errorf("node config: user agent %q must contain the token %q so sites can address sward in robots.txt", c.UserAgent, RobotsToken)
	case c.MaxBodyBytes <= 0 || c.MaxBodyBytes > schemas.MaxCaptureBody:
		return fmt.Errorf("node config: max body bytes %d must be between 1 and %d (the largest body a capture may carry)", c.MaxBodyBytes, schemas.MaxCaptureBody)
	case c.ConnectTimeout <= 0 || c.HeaderTimeout <= 0 || c.TotalTimeout <= 0:
		return errors.New("node config: connect, header and total timeouts must be positive")
	case c.MinHostDelay < 0:
		return fmt.Errorf("node config: min host delay %s must not be negative", c.MinHostDelay)
	case c.MaxConcurrency <= 0 || c.MaxConcurrency > 4096:
		return fmt.Errorf("node config: max concurrency %d must be between 1 and 4096", c.MaxConcurrency)
	case c.BandwidthBytesPerSec < 0:
		return fmt.Errorf("node config: bandwidth cap %d must not be negative (0 = unlimited)", c.BandwidthBytesPerSec)
	case c.BandwidthBytesPerSec > 0 && c.BandwidthBytesPerSec < 1024:
		return fmt.Errorf("node config: bandwidth cap %d B/s is below 1 KiB/s; nothing useful fits", c.BandwidthBytesPerSec)
	case c.MonthlyCapBytes < 0:
		return fmt.Errorf("node config: monthly cap %d must not be negative (0 = unlimited)", c.MonthlyCapBytes)
	case c.MaxRetries < 0 || c.MaxRetries > 10:
		return fmt.Errorf("node config: max retries %d must be between 0 and 10", c.MaxRetries)
	case c.MaxRetryWait < 0:
		return errors.New("node config: max retry wait must not be negative")
	case c.MemoryBudgetBytes < siteReserve(c.MaxConcurrency)+fetchReserve(c.MaxBodyBytes):
		return fmt.Errorf("node config: memory budget %d bytes holds no fetch: each fetch reserves %d (twice the body cap plus its outlinks) and %d is set aside for robots.txt at max concurrency %d; raise the memory budget to at least %d or lower max body or max concurrency",
			c.MemoryBudgetBytes, fetchReserve(c.MaxBodyBytes), siteReserve(c.MaxConcurrency), c.MaxConcurrency, siteReserve(c.MaxConcurrency)+fetchReserve(c.MaxBodyBytes))
	}
	if c.LocalAddr != "" && net.ParseIP(c.LocalAddr) == nil {
		return fmt.Errorf("node config: local address %q is not an IP address", c.LocalAddr)
	}
	if _, err := ParseActiveHours(c.ActiveHours); err != nil {
		return fmt.Errorf("node config: %w", err)
	}
	for _, d := range c.Blocklist {
		if normDomain(d) == "" {
			return fmt.Errorf("node config: blocklist entry %q is not a domain", d)
		}
	}
	return nil
}

// fileConfig is the YAML shape of a node config file. Sizes accept plain
// byte counts or units ("10MiB", "50GB"); durations use Go syntax ("1s").
type fileConfig struct {
	UserAgent      string        `yaml:"user_agent"`
	AllowPrivate   *bool         `yaml:"allow_private"`
	MaxBody        string        `yaml:"max_body"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	HeaderTimeout  time.Duration `yaml:"header_timeout"`
	TotalTimeout   time.Duration `yaml:"total_timeout"`
	MinHostDelay   time.Duration `yaml:"min_host_delay"`
	MaxConcurrency int           `yaml:"max_concurrency"`
	Bandwidth      string        `yaml:"bandwidth"`
	MonthlyCap     string        `yaml:"monthly_cap"`
	ActiveHours    string        `yaml:"active_hours"`
	Blocklist      []string      `yaml:"blocklist"`
	DataDir        string        `yaml:"data_dir"`
	MaxRetries     int           `yaml:"max_retries"`
	MaxRetryWait   time.Duration `yaml:"max_retry_wait"`
	MemoryBudget   string        `yaml:"memory_budget"`
}

// LoadConfigFile reads a YAML node config file and returns it with defaults
// filled in. Unknown keys are errors, so a typo cannot silently drop a cap.
// Command-line flags applied afterwards override the file.
func LoadConfigFile(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("open node config: %w", err)
	}
	defer f.Close()
	var fc fileConfig
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("parse node config %s: %w", path, err)
	}
	c := Config{
		UserAgent:      fc.UserAgent,
		ConnectTimeout: fc.ConnectTimeout,
		HeaderTimeout:  fc.HeaderTimeout,
		TotalTimeout:   fc.TotalTimeout,
		MinHostDelay:   fc.MinHostDelay,
		MaxConcurrency: fc.MaxConcurrency,
		ActiveHours:    fc.ActiveHours,
		Blocklist:      fc.Blocklist,
		DataDir:        fc.DataDir,
		MaxRetries:     fc.MaxRetries,
		MaxRetryWait:   fc.MaxRetryWait,
	}
	if fc.AllowPrivate != nil {
		c.AllowPrivate = *fc.AllowPrivate
	}
	for _, s := range []struct {
		name string
		in   string
		out  *int64
	}{{"max_body", fc.MaxBody, &c.MaxBodyBytes}, {"bandwidth", fc.Bandwidth, &c.BandwidthBytesPerSec}, {"monthly_cap", fc.MonthlyCap, &c.MonthlyCapBytes}, {"memory_budget", fc.MemoryBudget, &c.MemoryBudgetBytes}} {
		if s.in == "" {
			continue
		}
		n, err := ParseBytes(s.in)
		if err != nil {
			return Config{}, fmt.Errorf("parse node config %s: %s: %w", path, s.name, err)
		}
		*s.out = n
	}
	c.Default()
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("node config %s: %w", path, err)
	}
	return c, nil
}

// ParseBytes parses a byte count such as "1048576", "10MiB", "50GB" or
// "512k" (k/m/g/t are powers of 1000, ki/mi/gi/ti of 1024; a trailing "B"
// and "/s" are ignored).
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToLower(s))
	t = strings.TrimSuffix(t, "/s")
	t = strings.TrimSuffix(t, "b")
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"ki", 1 << 10}, {"mi", 1 << 20}, {"gi", 1 << 30}, {"ti", 1 << 40}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12}} {
		if strings.HasSuffix(t, u.suffix) {
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			mult = u.mult
			break
		}
	}
	if t == "" {
		return 0, fmt.Errorf("size %q has no number", s)
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q is not a non-negative number with an optional unit (e.g. 10MiB)", s)
	}
	v := f * float64(mult)
	if v > 1<<62 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(v), nil
}

// normDomain lowercases a domain and strips a leading "*." or "." and a
// trailing dot.
func normDomain(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	d = strings.TrimPrefix(d, "*.")
	d = strings.TrimPrefix(d, ".")
	d = strings.TrimSuffix(d, ".")
	if strings.ContainsAny(d, "/: ") {
		return ""
	}
	return d
}
