package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// Network is what the service needs from the libp2p side: asking the
// coordinator for leases and publishing signed captures. *network.Host
// satisfies it.
type Network interface {
	ID() peer.ID
	Key() crypto.PrivKey
	RequestLease(ctx context.Context, coordinator peer.ID, req *schemas.LeaseRequest) (*schemas.LeaseResponse, error)
	PublishCapture(ctx context.Context, c *schemas.Capture) error
}

// Blobs stores bodies too large to travel inline, under their UnixFS CID,
// where peers can fetch them over bitswap; *storage.Store fits.
type Blobs interface {
	AddFile(ctx context.Context, r io.Reader) (cid.Cid, error)
}

// Signer signs a capture with the node's key; network.SignCapture fits.
type Signer func(key crypto.PrivKey, c *schemas.Capture) error

// ServiceConfig tunes the lease loop.
type ServiceConfig struct {
	// Coordinator is the peer the node takes work from. Leave it empty to
	// take work from every trusted coordinator that announces pending work
	// (see Announcements).
	Coordinator peer.ID
	// Announcements lists the trusted coordinators' job announcements
	// (*network.Jobs fits). It is used only when Coordinator is empty: the
	// node then asks the coordinators with pending work in turn, and sets
	// aside for a while one that fails, answers with no work or asks the
	// node to wait.
	Announcements Announcements
	// LeaseSize is how many URLs to ask for at once (default 16).
	LeaseSize int
	// Leases is how many leases the node works on at once (default 4). A
	// lease tends to hold one host's URLs, which must be fetched one after
	// another; several leases keep several hosts busy. The Fetcher's
	// MaxConcurrency still bounds the fetches in flight.
	Leases int
	// IdleWait is how long to wait before asking again when the coordinator
	// has no work and gives no hint (default 1s).
	IdleWait time.Duration
	// MaxBackoff caps the wait after failed lease requests, and how long
	// the node honours a coordinator's request to wait (default 30s).
	MaxBackoff time.Duration
	// MaxInlineBody is the largest body a capture carries inline in gossip
	// (default 1 MiB, the network's limit). A longer body goes to the
	// node's Blobs and the capture names it by CID; without Blobs it is cut
	// there and the capture marked truncated.
	MaxInlineBody int
	// Logger receives the lease loop's logs (default slog.Default()).
	Logger *slog.Logger
}

// Default fills zero fields.
func (c *ServiceConfig) Default() {
	if c.LeaseSize == 0 {
		c.LeaseSize = 16
	}
	if c.Leases == 0 {
		c.Leases = 4
	}
	if c.IdleWait == 0 {
		c.IdleWait = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.MaxInlineBody == 0 {
		c.MaxInlineBody = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a config the service cannot run with.
func (c ServiceConfig) Validate() error {
	if c.Coordinator == "" && c.Announcements == nil {
		return errors.New("node service: no coordinator peer and no job announcements to find one; pass --join with the coordinator's multiaddr, or --trust with discovery")
	}
	if c.LeaseSize < 1 || c.LeaseSize > 1000 {
		return fmt.Errorf("node service: lease size %d must be between 1 and 1000", c.LeaseSize)
	}
	if c.Leases < 1 || c.Leases > 64 {
		return fmt.Errorf("node service: concurrent leases %d must be between 1 and 64", c.Leases)
	}
	if c.IdleWait < 0 || c.MaxBackoff < 0 {
		// Either would have the loop ask again at once, forever.
		return fmt.Errorf("node service: idle wait %s and max backoff %s must not be negative", c.IdleWait, c.MaxBackoff)
	}
	return nil
}

// Service is a running scraper node: it leases URLs from its coordinator
// (or from the trusted coordinators announcing work), fetches them under the
// Fetcher's guards, signs and publishes captures, and completes the lease.
// Unfinished URLs are released on shutdown.
type Service struct {
	cfg     ServiceConfig
	coords  *coordinators
	net     Network
	sign    Signer
	fetcher *Fetcher
	blobs   Blobs
	log     *slog.Logger
}

// SetBlobs gives the service a store for bodies over MaxInlineBody; call
// it before Serve. The store must be served over bitswap on the node's host.
func (s *Service) SetBlobs(b Blobs) { s.blobs = b }

// NewService wires a fetcher to the network.
func NewService(cfg ServiceConfig, net Network, sign Signer, fetcher *Fetcher) (*Service, error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if net == nil || sign == nil || fetcher == nil {
		return nil, errors.New("node service: network, signer and fetcher are required")
	}
	return &Service{
		cfg: cfg, net: net, sign: sign, fetcher: fetcher,
		coords: newCoordinators(cfg.Coordinator, cfg.Announcements, cfg.MaxBackoff),
		log:    cfg.Logger.With(logkey.Peer, net.ID().String()),
	}, nil
}

// Serve runs cfg.Leases lease loops until ctx ends. It returns nil on a
// clean stop, after every loop has finished or handed back its lease.
func (s *Service) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	for range s.cfg.Leases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.leaseLoop(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// leaseLoop asks for a lease, works it, and asks again, until ctx ends.
func (s *Service) leaseLoop(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		if s.fetcher.Paused() {
			if !sleep(ctx, 500*time.Millisecond) {
				break
			}
			continue
		}
		coord, ok := s.coords.pick(time.Now())
		if !ok {
			// No trusted coordinator announces work (yet).
			if !sleep(ctx, s.cfg.IdleWait) {
				break
			}
			continue
		}
		resp, err := s.net.RequestLease(ctx, coord, &schemas.LeaseRequest{
			Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: s.cfg.LeaseSize,
		})
		if err == nil && resp.Error != "" && resp.RetryAfter > 0 && len(resp.Items) == 0 {
			// The coordinator asks this node to wait (it asks for work
			// faster than its lease rate): not a failure, and no reason to
			// back off further than it says, nor than MaxBackoff. A
			// discovered coordinator is set aside like one with no work, so
			// that the loop asks the others meanwhile rather than idling.
			wait := retryWait(time.Duration(resp.RetryAfter), s.cfg.MaxBackoff)
			s.log.Debug("coordinator asks to wait before the next lease", "coordinator", coord.String(), logkey.Err, resp.Error, "retry_in", wait)
			if s.coords.discovering() {
				s.coords.idle(coord, time.Now().Add(wait))
				continue
			}
			if !sleep(ctx, wait) {
				break
			}
			continue
		}
		if err == nil && resp.Error != "" {
			err = errors.New(resp.Error)
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if s.coords.discovering() {
				wait := s.coords.failed(coord, time.Now())
				s.log.Warn("lease request failed; asking other coordinators meanwhile", "coordinator", coord.String(), logkey.Err, err, "retry_in", wait)
				continue
			}
			s.log.Warn("lease request failed", logkey.Err, err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				break
			}
			backoff = min(backoff*2, s.cfg.MaxBackoff)
			continue
		}
		backoff = time.Second
		s.coords.ok(coord)
		if resp.Ledger != nil {
			s.fetcher.Meter().SetLedger(Ledger{
				VerifiedPages: resp.Ledger.VerifiedPages, VerifiedBytes: resp.Ledger.VerifiedBytes,
				Reputation: resp.Ledger.Reputation, Points: resp.Ledger.Points,
				VerifiedShare: resp.Ledger.VerifiedShare,
			})
		}
		if len(resp.Items) == 0 {
			// The hint is capped like a request to wait, for the same
			// reason.
			wait := min(time.Duration(resp.RetryAfter), s.cfg.MaxBackoff)
			if wait <= 0 {
				wait = s.cfg.IdleWait
			}
			if s.coords.discovering() {
				s.coords.idle(coord, time.Now().Add(wait))
				continue
			}
			if !sleep(ctx, wait) {
				break
			}
			continue
		}
		s.work(ctx, coord, resp)
	}
}

// work fetches every item of one lease from coord, keeping the lease
// alive, and then completes it (or releases what is left when ctx ends).
func (s *Service) work(ctx context.Context, coord peer.ID, lease *schemas.LeaseResponse) {
	log := s.log.With(logkey.Lease, lease.LeaseID)
	renewCtx, stopRenew := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		s.keepAlive(renewCtx, coord, lease)
	}()
	defer func() {
		stopRenew()
		<-renewed
	}()

	var (
		mu   sync.Mutex
		done []string
		wg   sync.WaitGroup
	)
	for _, item := range lease.Items {
		wg.Add(1)
		go func(item schemas.LeaseItem) {
			defer wg.Done()
			budget := lease.Budgets[hostOf(item.URL)]
			// The capture counts against the node's memory budget until
			// it is published.
			c, release := s.fetcher.FetchHeld(ctx, item, budget)
			defer release()
			if ctx.Err() != nil {
				return // interrupted: the URL goes back to the queue
			}
			s.placeBody(ctx, c)
			if err := s.sign(s.net.Key(), c); err != nil {
				log.Error("signing capture", logkey.URL, item.URL, logkey.Err, err)
				return
			}
			if err := s.net.PublishCapture(ctx, c); err != nil {
				log.Warn("publishing capture", logkey.URL, item.URL, logkey.Err, err)
				return
			}
			mu.Lock()
			done = append(done, item.URL)
			mu.Unlock()
		}(item)
	}
	wg.Wait()
	stopRenew()

	// Finish the lease even while shutting down, on a short context of its
	// own, so the coordinator does not wait for the deadline.
	fin, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if len(done) > 0 {
		if _, err := s.net.RequestLease(fin, coord, &schemas.LeaseRequest{
			Version: schemas.WireVersion, Op: schemas.LeaseComplete, LeaseID: lease.LeaseID, URLs: done,
		}); err != nil {
			log.Warn("completing lease", logkey.Err, err)
		}
	}
	if len(done) < len(lease.Items) {
		// Whatever is left was not fetched: hand it back.
		if _, err := s.net.RequestLease(fin, coord, &schemas.LeaseRequest{
			Version: schemas.WireVersion, Op: schemas.LeaseRelease, LeaseID: lease.LeaseID,
			URLs: remaining(lease.Items, done),
		}); err != nil {
			log.Warn("releasing lease", logkey.Err, err)
		}
	}
}

// keepAlive renews the lease with coord at half its remaining time until
// ctx ends.
func (s *Service) keepAlive(ctx context.Context, coord peer.ID, lease *schemas.LeaseResponse) {
	deadline := lease.Deadline
	for {
		wait := time.Until(deadline) / 2
		if wait < 100*time.Millisecond {
			wait = 100 * time.Millisecond
		}
		if !sleep(ctx, wait) {
			return
		}
		resp, err := s.net.RequestLease(ctx, coord, &schemas.LeaseRequest{
			Version: schemas.WireVersion, Op: schemas.LeaseRenew, LeaseID: lease.LeaseID,
		})
		if err != nil || resp.Error != "" {
			if ctx.Err() == nil {
				s.log.Warn("renewing lease", logkey.Lease, lease.LeaseID, logkey.Err, err, "reply", resp)
			}
			continue
		}
		if !resp.Deadline.IsZero() {
			deadline = resp.Deadline
		}
	}
}

// placeBody keeps a body that fits inline; a longer one moves to the
// node's blob store and the capture names it by CID (its hash and size stay
// signed), or, without a blob store, is cut to fit.
func (s *Service) placeBody(ctx context.Context, c *schemas.Capture) {
	if len(c.Body) <= s.cfg.MaxInlineBody {
		return
	}
	if s.blobs != nil {
		root, err := s.blobs.AddFile(ctx, bytes.NewReader(c.Body))
		if err == nil {
			c.BodyCID = root.String()
			c.Body = nil
			return
		}
		s.log.Warn("storing a large body; sending it cut instead", logkey.URL, c.URL, logkey.Err, err)
	}
	fitInline(c, s.cfg.MaxInlineBody)
}

// fitInline cuts a body longer than limit at a UTF-8 boundary and marks the
// capture truncated, so it still fits in one gossip message.
func fitInline(c *schemas.Capture, limit int) {
	if len(c.Body) <= limit {
		return
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(c.Body[cut]) {
		cut--
	}
	c.Body = c.Body[:cut]
	c.BodySize = int64(cut)
	c.BodySHA256 = schemas.SHA256Hex(c.Body)
	c.Truncated = true
}

func remaining(items []schemas.LeaseItem, done []string) []string {
	finished := make(map[string]bool, len(done))
	for _, u := range done {
		finished[u] = true
	}
	var left []string
	for _, it := range items {
		if !finished[it.URL] {
			left = append(left, it.URL)
		}
	}
	return left
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// retryWait is how long the node waits when a coordinator asks it to wait
// hint: the hint plus up to half again (a jitter that keeps the node's
// loops from asking in step), but never over limit, so that a hostile or
// broken coordinator cannot park the node for longer.
func retryWait(hint, limit time.Duration) time.Duration {
	hint = min(hint, limit)
	if hint <= 0 {
		return 0
	}
	spread := min(hint/2, limit-hint)
	return hint + time.Duration(rand.Int64N(int64(spread)+1))
}

// sleep waits for d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
