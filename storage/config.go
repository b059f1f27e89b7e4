package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config configures a Store. The zero value is valid: Default fills it.
type Config struct {
	// Logger receives the store's log records: dataset writers, publishes,
	// CAR imports and serving (default slog.Default()).
	Logger *slog.Logger
}

// Default fills the unset fields of c.
func (c *Config) Default() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks c after Default.
func (c Config) Validate() error {
	if c.Logger == nil {
		return errors.New("storage config: no logger; call Default first")
	}
	return nil
}

// Pull defaults.
const (
	// DefaultStallTimeout is how long a pull waits for its next block.
	DefaultStallTimeout = 60 * time.Second
	// DefaultPullConcurrency is how many DAG nodes a pull walks at once.
	DefaultPullConcurrency = 8
	// maxPullConcurrency bounds Concurrency: each walker asks for up to
	// 32 leaves of 1 MiB at once.
	maxPullConcurrency = 256
)

// Default fills the unset fields of o.
func (o *PullOptions) Default() {
	if o.StallTimeout == 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultPullConcurrency
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate checks o after Default.
func (o PullOptions) Validate() error {
	var errs []error
	if o.StallTimeout <= 0 {
		errs = append(errs, fmt.Errorf("pull options: stall timeout %s must be positive (leave it 0 for %s)", o.StallTimeout, DefaultStallTimeout))
	}
	if o.Concurrency <= 0 || o.Concurrency > maxPullConcurrency {
		errs = append(errs, fmt.Errorf("pull options: concurrency %d must be between 1 and %d (leave it 0 for %d)", o.Concurrency, maxPullConcurrency, DefaultPullConcurrency))
	}
	for i, p := range o.Peers {
		if p.ID == "" {
			errs = append(errs, fmt.Errorf("pull options: peer %d has no peer ID; give a /p2p/<id> multiaddr", i))
		}
	}
	if o.Logger == nil {
		errs = append(errs, errors.New("pull options: no logger; call Default first"))
	}
	return errors.Join(errs...)
}
