package site

import (
	"errors"
	"fmt"
)

// Limits of a Config. Host i listens on 127.0.0.(10+i), so at most 245 hosts
// fit in the last octet.
const (
	MaxHosts        = 245
	MaxPagesPerHost = 5000
	// DefaultPort is the port the demo serves on (the library default is an
	// ephemeral port per host; see Config.Port).
	DefaultPort = 8480
)

// Config shapes the generated site. The zero value, after Default, is the
// full demo site: 20 hosts with more than 2,000 HTML pages between them.
type Config struct {
	// Hosts is the number of newspapers, host i on 127.0.0.(10+i). Default 20.
	Hosts int
	// PagesPerHost is the number of content pages (articles, duplicates,
	// opt-out and junk pages) on an ordinary host; the small Crawl-delay
	// hosts have a fifth of it. Navigation pages come on top. Default 100.
	PagesPerHost int
	// Port is the TCP port every host listens on; 0 picks an ephemeral port
	// per host (tests use it so parallel tests never collide). Default is
	// NOT applied here: the demo passes DefaultPort explicitly.
	Port int
	// Seed varies the generated content. Default 1.
	Seed int64
	// NoSmallHosts makes every host an ordinary one: no host is one of the
	// small robots.txt Crawl-delay hosts (every tenth by default). For
	// bandwidth benchmarks, where a one-second crawl-delay would measure
	// politeness instead.
	NoSmallHosts bool
}

// Default fills zero fields with the demo values. Port stays as it is,
// because 0 is meaningful (an ephemeral port per host).
func (c *Config) Default() {
	if c.Hosts == 0 {
		c.Hosts = 20
	}
	if c.PagesPerHost == 0 {
		c.PagesPerHost = 100
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Hosts < 1 || c.Hosts > MaxHosts {
		errs = append(errs, fmt.Errorf("hosts is %d: must be between 1 and %d (host i listens on 127.0.0.(10+i))", c.Hosts, MaxHosts))
	}
	if c.PagesPerHost < 1 || c.PagesPerHost > MaxPagesPerHost {
		errs = append(errs, fmt.Errorf("pages per host is %d: must be between 1 and %d", c.PagesPerHost, MaxPagesPerHost))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port is %d: must be between 0 (ephemeral) and 65535", c.Port))
	}
	if len(errs) > 0 {
		return fmt.Errorf("example site config: %w", errors.Join(errs...))
	}
	return nil
}
