package node

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// Flags are the operator controls as command-line flags. Register them with
// AddFlags, load the config file (if any), then Apply: only flags the
// operator actually set override the file.
type Flags struct {
	fs             *pflag.FlagSet
	allowPrivate   bool
	maxBody        string
	bandwidth      string
	monthlyCap     string
	maxConcurrency int
	minHostDelay   time.Duration
	activeHours    string
	blocklist      []string
	dataDir        string
	userAgent      string
	totalTimeout   time.Duration
	memoryBudget   string
}

// AddFlags registers the node's operator flags on fs.
func AddFlags(fs *pflag.FlagSet) *Flags {
	fl := &Flags{fs: fs}
	fs.BoolVar(&fl.allowPrivate, "allow-private", false, "allow fetching private, loopback and link-local addresses (demos and tests only)")
	fs.StringVar(&fl.maxBody, "max-body", "10MiB", "largest body kept per page; longer pages are truncated")
	fs.StringVar(&fl.bandwidth, "bandwidth", "0", "bandwidth cap in bytes per second, e.g. 2MiB (0 = unlimited)")
	fs.StringVar(&fl.monthlyCap, "monthly-cap", "0", "data cap per calendar month, e.g. 50GiB (0 = unlimited)")
	fs.IntVar(&fl.maxConcurrency, "max-concurrency", 8, "fetches in flight across all hosts")
	fs.DurationVar(&fl.minHostDelay, "min-host-delay", time.Second, "minimum gap between requests to one host")
	fs.StringVar(&fl.activeHours, "active-hours", "", `local-time windows to fetch in, e.g. "22:00-07:00" (empty = always)`)
	fs.StringSliceVar(&fl.blocklist, "blocklist", nil, "domains never to fetch (comma-separated; subdomains included)")
	fs.StringVar(&fl.dataDir, "node-data-dir", "", "directory for the node's persistent state (monthly usage)")
	fs.StringVar(&fl.userAgent, "user-agent", DefaultUserAgent, "User-Agent header (must contain \"swardbot\")")
	fs.DurationVar(&fl.totalTimeout, "fetch-timeout", time.Minute, "time limit for one fetch attempt")
	fs.StringVar(&fl.memoryBudget, "memory-budget", "48MiB", "bytes the node holds at once for bodies, outlinks and sitemap entries across all fetches; fetches wait while it is full")
	return fl
}

// Apply overrides cfg with the flags the operator set.
func (fl *Flags) Apply(cfg *Config) error {
	set := func(name string) bool { return fl.fs.Changed(name) }
	size := func(name, v string, out *int64) error {
		if !set(name) {
			return nil
		}
		n, err := ParseBytes(v)
		if err != nil {
			return fmt.Errorf("--%s: %w", name, err)
		}
		*out = n
		return nil
	}
	if err := size("max-body", fl.maxBody, &cfg.MaxBodyBytes); err != nil {
		return err
	}
	if err := size("bandwidth", fl.bandwidth, &cfg.BandwidthBytesPerSec); err != nil {
		return err
	}
	if err := size("monthly-cap", fl.monthlyCap, &cfg.MonthlyCapBytes); err != nil {
		return err
	}
	if err := size("memory-budget", fl.memoryBudget, &cfg.MemoryBudgetBytes); err != nil {
		return err
	}
	if set("allow-private") {
		cfg.AllowPrivate = fl.allowPrivate
	}
	if set("max-concurrency") {
		cfg.MaxConcurrency = fl.maxConcurrency
	}
	if set("min-host-delay") {
		cfg.MinHostDelay = fl.minHostDelay
	}
	if set("active-hours") {
		cfg.ActiveHours = fl.activeHours
	}
	if set("blocklist") {
		cfg.Blocklist = fl.blocklist
	}
	if set("node-data-dir") {
		cfg.DataDir = fl.dataDir
	}
	if set("user-agent") {
		cfg.UserAgent = fl.userAgent
	}
	if set("fetch-timeout") {
		cfg.TotalTimeout = fl.totalTimeout
	}
	return nil
}
