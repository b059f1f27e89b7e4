package roles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/swardnet/sward/coordinator"
	"github.com/swardnet/sward/feed"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// FeedConfig says how StartFeed builds the LLM feed.
type FeedConfig struct {
	// Feed is the feed's own configuration; Addr is where Serve listens.
	Feed feed.Config
	// Datasets are pulled dataset directories indexed at start.
	Datasets []string
	// Source, when set, is the coordinator whose nodes do live fetches and
	// whose accepted, excluded and vanished documents the feed follows.
	// Without it the feed is standalone: live fetches answer from the
	// cache only.
	Source *coordinator.Coordinator
	// NoListen skips opening Feed.Addr: the caller serves the feed some
	// other way (sward mcp over stdio). Serve then fails.
	NoListen bool
	// Logger receives the role's logs (default slog.Default()).
	Logger *slog.Logger
}

// Default fills unset fields.
func (c *FeedConfig) Default() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Feed.Logger == nil {
		c.Feed.Logger = c.Logger
	}
	c.Feed.Default()
}

// Validate reports a configuration StartFeed cannot run.
func (c FeedConfig) Validate() error { return c.Feed.Validate() }

// Feed is a running feed role.
type Feed struct {
	// Feed is the feed service.
	Feed *feed.Feed
	// Addr is where Serve listens ("" with NoListen).
	Addr string

	ln      net.Listener
	cancel  context.CancelFunc
	closers closers
}

// StartFeed opens the feed's index, indexes cfg.Datasets, wires it to
// cfg.Source and opens its listener.
func StartFeed(ctx context.Context, cfg FeedConfig) (_ *Feed, err error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Feed{}
	defer func() {
		if err != nil {
			_ = f.closers.close()
		}
	}()
	if cfg.Source != nil {
		cfg.Feed.Fetcher = cfg.Source
	}
	f.Feed, err = feed.New(ctx, cfg.Feed)
	if err != nil {
		return nil, err
	}
	f.closers.add(f.Feed.Close)
	for _, dir := range cfg.Datasets {
		n, err := f.Feed.LoadDataset(ctx, dir)
		if err != nil {
			return nil, err
		}
		cfg.Logger.Info("dataset indexed", logkey.Path, dir, "documents", n)
	}
	// Hooks outlive Start's ctx: they stop with Close.
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.cancel = cancel
	f.closers.add(func() error { cancel(); return nil })
	if src := cfg.Source; src != nil {
		log := cfg.Logger
		src.OnAccept(func(d schemas.Document) {
			if !f.Feed.Offer(d) {
				log.Warn("feed: queue full, document not indexed", logkey.URL, d.URL)
			}
		})
		src.OnExclude(func(_, docID string) {
			if _, err := f.Feed.RemoveDocument(hctx, docID, time.Now().UTC()); err != nil && hctx.Err() == nil {
				log.Warn("feed: removing excluded document", "doc", docID, logkey.Err, err)
			}
		})
		src.OnGone(func(url string, at time.Time) {
			// A recrawl found the page deleted: subscribers get a
			// "removed" event.
			if _, err := f.Feed.MarkRemoved(hctx, url, at); err != nil && hctx.Err() == nil {
				log.Warn("feed: marking a page removed", logkey.URL, url, logkey.Err, err)
			}
		})
	}
	if !cfg.NoListen {
		if f.ln, err = listen("feed API", cfg.Feed.Addr); err != nil {
			return nil, err
		}
		f.Addr = f.ln.Addr().String()
		f.closers.add(func() error {
			if err := f.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				return err
			}
			return nil
		})
	}
	return f, nil
}

// Serve serves the feed API (with its timeouts; open SSE streams end at
// shutdown) until ctx ends.
func (f *Feed) Serve(ctx context.Context) error {
	if f.ln == nil {
		return fmt.Errorf("feed: started with NoListen, nothing to serve")
	}
	return f.Feed.ServeListener(ctx, f.ln)
}

// Close stops the feed's hooks and closes its index.
func (f *Feed) Close() error { return f.closers.close() }
