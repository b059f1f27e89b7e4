package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/swardnet/sward/internal/logkey"
)

// logPeer is sward's shared log key for peer IDs.
const logPeer = "peer"

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("network host closed")

// bootstrapTag protects connections to bootstrap peers from the connection
// manager's trimming.
const bootstrapTag = "sward-bootstrap"

// Host is one sward peer on the libp2p network: its identity, its gossipsub
// router with sward's topics and validators, its lease protocol endpoint,
// and its discovery services. It is safe for concurrent use. Close stops
// everything it started.
type Host struct {
	cfg  Config
	log  *slog.Logger
	key  crypto.PrivKey
	host host.Host
	ps   *pubsub.PubSub

	captures *pubsub.Topic
	presence *pubsub.Topic

	trusted    map[peer.ID]struct{}
	bootstrap  []peer.AddrInfo
	quarantine *quarantine
	replay     *replayCache
	peers      *presenceTable
	scores     *scoreBoard
	lease      leaseServer

	disc *discovery

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// mu guards closed, so that no goroutine is added to wg once Close
	// has begun waiting.
	mu     sync.Mutex
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// New starts a host: it loads or creates the identity, listens, joins the
// sward topics with their validators, starts presence announcements and
// discovery, and begins connecting to the bootstrap peers in the
// background. ctx bounds the start only; the host runs until Close.
func New(ctx context.Context, cfg Config) (*Host, error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("starting host: %w", err)
	}
	key, err := LoadOrCreateIdentity(cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	h := &Host{
		cfg:        cfg,
		log:        cfg.Logger,
		key:        key,
		trusted:    map[peer.ID]struct{}{},
		quarantine: newQuarantine(),
		replay:     newReplayCache(cfg.ReplayCacheSize, cfg.ReplayWindow),
		peers:      newPresenceTable(cfg.PresenceTTL),
		scores:     newScoreBoard(),
	}
	for _, a := range cfg.Bootstrap {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil {
			return nil, fmt.Errorf("parsing bootstrap address %q: %w", a, err)
		}
		h.bootstrap = append(h.bootstrap, *ai)
	}
	for _, t := range cfg.Trusted {
		id, err := peer.Decode(t)
		if err != nil {
			return nil, fmt.Errorf("parsing trusted peer %q: %w", t, err)
		}
		h.trusted[id] = struct{}{}
	}
	if len(cfg.Trusted) == 0 {
		for _, ai := range h.bootstrap {
			h.trusted[ai.ID] = struct{}{}
		}
	}
	h.lease.init(cfg.MaxLeaseStreams)

	lh, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.UserAgent("sward/"+cfg.Version),
	)
	if err != nil {
		return nil, fmt.Errorf("starting libp2p host on %v: %w", cfg.ListenAddrs, err)
	}
	h.host = lh
	h.log = cfg.Logger.With("self", lh.ID().String())
	h.ctx, h.cancel = context.WithCancel(context.WithoutCancel(ctx))

	if err := h.startPubSub(); err != nil {
		h.abort()
		return nil, err
	}
	if err := h.startDiscovery(); err != nil {
		h.abort()
		return nil, err
	}
	h.startPresence()
	for _, ai := range h.bootstrap {
		lh.ConnManager().Protect(ai.ID, bootstrapTag)
		h.spawn(func() { h.keepConnected(ai) })
	}
	h.log.Info("network host started", logPeer, lh.ID().String(), "addrs", h.Addrs())
	return h, nil
}

// abort tears down a half-started host.
func (h *Host) abort() {
	_ = h.Close()
}

// Close stops discovery, announcements, subscriptions and lease handling,
// and closes the libp2p host. It is safe to call more than once.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
		if h.cancel != nil {
			h.cancel()
		}
		h.host.RemoveStreamHandler(leaseProtocolID)
		var errs []error
		if h.disc != nil {
			errs = append(errs, h.disc.close())
		}
		// Closing the libp2p host resets every stream, which releases lease
		// handlers blocked on reads.
		errs = append(errs, h.host.Close())
		h.wg.Wait()
		h.lease.closeAndWait()
		h.closeErr = errors.Join(errs...)
		if h.closeErr != nil {
			h.closeErr = fmt.Errorf("closing network host: %w", h.closeErr)
		}
	})
	return h.closeErr
}

// spawn runs fn in a goroutine that Close waits for, unless the host is
// closed already.
func (h *Host) spawn(fn func()) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		fn()
	}()
	return true
}

// Libp2p returns the underlying libp2p host, for services such as bitswap
// that mount their own protocols on it.
func (h *Host) Libp2p() host.Host { return h.host }

// PubSub returns the gossipsub router, for other packages' topics. Register
// a validator (RegisterTopicValidator) before joining a new topic.
func (h *Host) PubSub() *pubsub.PubSub { return h.ps }

// ID returns the host's peer ID.
func (h *Host) ID() peer.ID { return h.host.ID() }

// Key returns the host's private key; it signs captures.
func (h *Host) Key() crypto.PrivKey { return h.key }

// Addrs returns the host's listen addresses as full multiaddrs ending in
// /p2p/<peer id>, ready to pass to another host's Connect or Bootstrap.
func (h *Host) Addrs() []string {
	suffix, err := ma.NewComponent("p2p", h.ID().String())
	if err != nil {
		return nil
	}
	addrs := h.host.Addrs()
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, a.Encapsulate(suffix.Multiaddr()).String())
	}
	return out
}

// Connect dials addr, a multiaddr ending in /p2p/<peer id>, and returns the
// peer's ID once connected.
func (h *Host) Connect(ctx context.Context, addr string) (peer.ID, error) {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return "", fmt.Errorf("parsing peer address %q (want a multiaddr ending in /p2p/<peer id>): %w", addr, err)
	}
	if err := h.host.Connect(ctx, *ai); err != nil {
		return "", fmt.Errorf("connecting to %s: %w", ai.ID, err)
	}
	return ai.ID, nil
}

// IsTrusted reports whether p is a coordinator this host accepts jobs and
// leases from: one of Config.Trusted or, when that is empty, a bootstrap
// peer.
func (h *Host) IsTrusted(p peer.ID) bool {
	_, ok := h.trusted[p]
	return ok
}

// Trusted lists the trusted coordinators.
func (h *Host) Trusted() []peer.ID {
	out := make([]peer.ID, 0, len(h.trusted))
	for p := range h.trusted {
		out = append(out, p)
	}
	return out
}

// ConnectedPeers lists the peers this host has a live connection to.
func (h *Host) ConnectedPeers() []peer.ID {
	return h.host.Network().Peers()
}

// keepConnected dials a bootstrap peer until connected, with exponential
// backoff, and dials again as soon as the connection drops, until the host
// closes.
func (h *Host) keepConnected(ai peer.AddrInfo) {
	const (
		minBackoff = 250 * time.Millisecond
		maxBackoff = 30 * time.Second
		// recheck is a safety net in case a disconnect event is missed.
		recheck = 10 * time.Second
	)
	var events <-chan any
	if sub, err := h.host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged)); err == nil {
		defer sub.Close()
		events = sub.Out()
	}
	backoff := minBackoff
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case ev := <-events:
			if e, ok := ev.(event.EvtPeerConnectednessChanged); ok && e.Peer == ai.ID && e.Connectedness != network.Connected {
				h.log.Info("lost bootstrap peer; reconnecting", logPeer, ai.ID.String())
				backoff = minBackoff
				timer.Reset(0)
			}
			continue
		case <-timer.C:
		}
		if h.host.Network().Connectedness(ai.ID) == network.Connected {
			backoff = minBackoff
			timer.Reset(recheck)
			continue
		}
		// This loop paces its own retries; the swarm's dial backoff would
		// otherwise hide a peer that came back for up to a minute.
		if sw, ok := h.host.Network().(*swarm.Swarm); ok {
			sw.Backoff().Clear(ai.ID)
		}
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
		err := h.host.Connect(ctx, ai)
		cancel()
		if err == nil {
			h.log.Info("connected to bootstrap peer", logPeer, ai.ID.String())
			backoff = minBackoff
			timer.Reset(recheck)
			continue
		}
		if h.ctx.Err() != nil {
			return
		}
		h.log.Debug("bootstrap peer unreachable; will retry", logPeer, ai.ID.String(), "retry_in", backoff, logkey.Err, err)
		timer.Reset(backoff)
		backoff = min(2*backoff, maxBackoff)
	}
}
