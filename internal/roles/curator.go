package roles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/swardnet/sward/coordinator"
	"github.com/swardnet/sward/curator"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/network"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

// CuratorConfig says how StartCurator builds a curator.
type CuratorConfig struct {
	// Dir holds the curator's key and queue (required).
	Dir string
	// Curator is the curator's own configuration; its Bus is set here
	// when the curator is on the network.
	Curator curator.Config
	// Host, when set, is a host the curator shares (the coordinator's, in
	// `sward up`): it gossips decisions and serves backfill on it, and
	// does not close it.
	Host *network.Host
	// Join, when Host is nil, starts the curator's own host, joined to
	// these peers, with its key in Dir/p2p.key; P2PListen is its listen
	// multiaddr (default network.DefaultListenAddr). Neither: the curator
	// works alone.
	Join      []string
	P2PListen string
	// Source, when set, is the coordinator whose review items are queued
	// here and to which documents the curators accepted are handed back
	// for its next dataset version; its extraction rules come from here.
	Source *coordinator.Coordinator
	// Addr serves the review UI there (empty means none). It must be
	// loopback unless AllowRemote: the UI has no login.
	Addr        string
	AllowRemote bool
	// Logger receives the role's logs (default slog.Default()).
	Logger *slog.Logger
}

// Default fills unset fields.
func (c *CuratorConfig) Default() {
	if c.P2PListen == "" {
		c.P2PListen = network.DefaultListenAddr
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Curator.Logger == nil {
		c.Curator.Logger = c.Logger
	}
}

// Validate reports a configuration StartCurator cannot run.
func (c CuratorConfig) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("curator: no state directory: pass --dir"))
	}
	if c.Addr != "" && !c.AllowRemote {
		host, _, err := net.SplitHostPort(c.Addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("curator UI address %q: %w (want host:port, e.g. 127.0.0.1:7790)", c.Addr, err))
		} else if ip, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !ip.IsLoopback()) {
			errs = append(errs, fmt.Errorf("curator UI address %s is not a loopback address; the UI has no login, so pass --allow-remote if you really mean it", c.Addr))
		}
	}
	return errors.Join(errs...)
}

// Curator is a running curator role.
type Curator struct {
	// Curator is the review queue.
	Curator *curator.Curator
	// Addr is where the UI listens ("" without one).
	Addr string

	cfg     CuratorConfig
	host    *network.Host
	ln      net.Listener
	closers closers
}

// StartCurator opens the curator's queue, joins the decisions topic and
// serves backfill when it is on the network, wires it to cfg.Source and
// opens the UI's listener.
func StartCurator(ctx context.Context, cfg CuratorConfig) (_ *Curator, err error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Curator{cfg: cfg, host: cfg.Host}
	defer func() {
		if err != nil {
			_ = c.closers.close()
		}
	}()
	if c.host == nil && len(cfg.Join) > 0 {
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", cfg.Dir, err)
		}
		c.host, err = network.New(ctx, network.Config{
			ListenAddrs: []string{cfg.P2PListen}, Bootstrap: cfg.Join,
			KeyFile: filepath.Join(cfg.Dir, "p2p.key"), Logger: cfg.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("joining the network: %w", err)
		}
		c.closers.add(c.host.Close)
	}
	if c.host != nil {
		bus, err := curator.JoinPubSub(c.host.PubSub())
		if err != nil {
			return nil, fmt.Errorf("curator: joining the decisions topic: %w", err)
		}
		cfg.Curator.Bus = bus
	}
	c.Curator, err = curator.Open(ctx, cfg.Dir, cfg.Curator)
	if err != nil {
		return nil, err
	}
	c.closers.add(c.Curator.Close)
	if c.host != nil {
		// Serve backfill to curators who join later, and backfill this
		// one from the peers it meets: gossip keeps no history.
		s, err := curator.StartSync(ctx, c.host.Libp2p(), c.Curator, curator.SyncConfig{})
		if err != nil {
			return nil, fmt.Errorf("curator: serving backfill: %w", err)
		}
		c.closers.add(s.Close)
	}
	if src := cfg.Source; src != nil {
		src.SetRules(c.Curator.Rules)
		// Review items outlive Start's ctx; they stop with Close.
		qctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c.closers.add(func() error { cancel(); return nil })
		src.OnReview(func(capt *schemas.Capture, res pipeline.Result) {
			if res.Doc == nil {
				return
			}
			it := curator.Item{
				ID: res.Doc.ID, Kind: curator.KindReview, Doc: *res.Doc, HTML: string(capt.Body),
				Scores: res.Scores, Reasons: res.Reasons,
			}
			if err := c.Curator.Enqueue(qctx, it); err != nil && qctx.Err() == nil {
				cfg.Logger.Warn("curator: queueing review item", logkey.URL, capt.URL, logkey.Err, err)
			}
		})
	}
	if cfg.Addr != "" {
		if c.ln, err = listen("curator UI", cfg.Addr); err != nil {
			return nil, err
		}
		c.Addr = c.ln.Addr().String()
		c.closers.add(func() error {
			if err := c.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				return err
			}
			return nil
		})
	}
	return c, nil
}

// PeerID is the curator's signing identity.
func (c *Curator) PeerID() string { return c.Curator.PeerID() }

// Serve serves the UI and hands settled documents back to the source
// coordinator until ctx ends.
func (c *Curator) Serve(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	if c.ln != nil {
		g.Go(func() error { return c.Curator.Serve(gctx, c.ln) })
	}
	if c.cfg.Source != nil {
		g.Go(func() error { return c.pumpSettled(gctx) })
	}
	g.Go(func() error { <-gctx.Done(); return nil })
	return g.Wait()
}

// pumpSettled moves documents the curators accepted into their job's
// dataset until ctx ends.
func (c *Curator) pumpSettled(ctx context.Context) error {
	var cursor int64
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		settled, next, err := c.Curator.Settled(ctx, cursor)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.cfg.Logger.Warn("curator: reading settled items", logkey.Err, err)
			continue
		}
		for _, st := range settled {
			if st.Decision != schemas.ActionAccept {
				if st.Decision == schemas.ActionReject {
					// The review settled as a reject: the job's counters move
					// it from review to rejected.
					_ = c.cfg.Source.ReviewRejected(st.Doc.JobID, st.Doc.ID)
				}
				continue
			}
			doc := st.Doc
			for _, f := range st.Edited {
				if f == "text" {
					doc.TokenCount = int64(pipeline.ApproxTokens(doc.Text))
				}
			}
			if err := c.cfg.Source.AddReviewed(ctx, doc); err != nil && ctx.Err() == nil {
				c.cfg.Logger.Warn("curator: storing settled document", logkey.URL, doc.URL, logkey.Err, err)
			}
		}
		cursor = next
	}
}

// Close releases everything in the reverse order of StartCurator.
func (c *Curator) Close() error { return c.closers.close() }
