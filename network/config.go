package network

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Defaults for Config fields left at their zero value.
const (
	DefaultListenAddr       = "/ip4/127.0.0.1/tcp/0"
	DefaultPresenceInterval = 10 * time.Second
	DefaultLeaseTimeout     = 10 * time.Second
	DefaultMaxLeaseStreams  = 64
	// DefaultInlineBodyLimit is the largest body a capture may carry inline
	// in its gossip message; larger bodies travel by bitswap and the
	// capture carries only their CID.
	DefaultInlineBodyLimit   = 1 << 20
	DefaultReplayWindow      = time.Hour
	DefaultReplayCacheSize   = 1 << 17
	DefaultDiscoveryInterval = 30 * time.Second
	// DefaultVersion is announced in presence when Config.Version is empty.
	DefaultVersion = "dev"
)

// Config says how a Host listens, who it is, whom it finds and trusts, and
// the limits it enforces. Zero fields take the defaults set by Default.
type Config struct {
	// ListenAddrs are multiaddrs to listen on; default
	// ["/ip4/127.0.0.1/tcp/0"].
	ListenAddrs []string
	// KeyFile holds the Ed25519 identity (mode 0600). It is created if
	// missing. Empty means a fresh identity for this run only.
	KeyFile string
	// Bootstrap are multiaddrs with a /p2p/ component to connect to at start;
	// they are retried with backoff in the background and reconnected when
	// the connection drops.
	Bootstrap []string
	// MDNS enables discovery of peers on the local network by multicast DNS.
	MDNS bool
	// DHT enables a private Kademlia DHT (protocol prefix /sward) used to
	// find other sward peers beyond the bootstrap list.
	DHT bool
	// Trusted are the peer IDs of coordinators whose jobs and leases this
	// host accepts. Empty means the peers named in Bootstrap are trusted.
	Trusted []string

	// Version is the software version announced in presence messages.
	Version string
	// Capabilities are announced in presence messages, for example "node",
	// "coordinator" or "storage".
	Capabilities []string
	// PresenceInterval is how often this host announces itself. A negative
	// value turns announcing off (the host still listens to others).
	PresenceInterval time.Duration
	// PresenceTTL is how long a peer counts as live after its last
	// announcement; default three intervals.
	PresenceTTL time.Duration
	// LeaseTimeout bounds each read and write on a lease stream and the
	// handler's work on one request.
	LeaseTimeout time.Duration
	// MaxLeaseStreams bounds the lease streams served at once; more are
	// answered with a busy error.
	MaxLeaseStreams int
	// InlineBodyLimit is the largest capture body accepted inline.
	InlineBodyLimit int
	// ReplayWindow is how long a capture signature is remembered; captures
	// fetched longer ago than this are dropped as stale, so that a replay
	// can never slip past an expired memory.
	ReplayWindow time.Duration
	// ReplayCacheSize bounds the number of remembered signatures.
	ReplayCacheSize int
	// DiscoveryInterval is how often the DHT is searched for peers.
	DiscoveryInterval time.Duration
	// Logger receives the host's logs; default slog.Default().
	Logger *slog.Logger
}

// Default fills zero fields with their defaults.
func (c *Config) Default() {
	if len(c.ListenAddrs) == 0 {
		c.ListenAddrs = []string{DefaultListenAddr}
	}
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if c.PresenceInterval == 0 {
		c.PresenceInterval = DefaultPresenceInterval
	}
	if c.PresenceTTL == 0 {
		iv := c.PresenceInterval
		if iv < 0 {
			iv = DefaultPresenceInterval
		}
		c.PresenceTTL = 3 * iv
	}
	if c.LeaseTimeout == 0 {
		c.LeaseTimeout = DefaultLeaseTimeout
	}
	if c.MaxLeaseStreams == 0 {
		c.MaxLeaseStreams = DefaultMaxLeaseStreams
	}
	if c.InlineBodyLimit == 0 {
		c.InlineBodyLimit = DefaultInlineBodyLimit
	}
	if c.ReplayWindow == 0 {
		c.ReplayWindow = DefaultReplayWindow
	}
	if c.ReplayCacheSize == 0 {
		c.ReplayCacheSize = DefaultReplayCacheSize
	}
	if c.DiscoveryInterval == 0 {
		c.DiscoveryInterval = DefaultDiscoveryInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem with the configuration at once. Call it
// after Default; zero limits are errors.
func (c Config) Validate() error {
	var errs []error
	if len(c.ListenAddrs) == 0 {
		errs = append(errs, errors.New("no listen address: set at least one, e.g. "+DefaultListenAddr))
	}
	for _, a := range c.ListenAddrs {
		if _, err := ma.NewMultiaddr(a); err != nil {
			errs = append(errs, fmt.Errorf("listen address %q is not a multiaddr (e.g. %s): %w", a, DefaultListenAddr, err))
		}
	}
	for _, a := range c.Bootstrap {
		if _, err := peer.AddrInfoFromString(a); err != nil {
			errs = append(errs, fmt.Errorf("bootstrap address %q must be a multiaddr ending in /p2p/<peer id>: %w", a, err))
		}
	}
	for _, t := range c.Trusted {
		if _, err := peer.Decode(t); err != nil {
			errs = append(errs, fmt.Errorf("trusted peer %q is not a peer ID: %w", t, err))
		}
	}
	if c.PresenceTTL <= 0 {
		errs = append(errs, errors.New("presence TTL must be positive"))
	}
	if c.LeaseTimeout <= 0 {
		errs = append(errs, errors.New("lease timeout must be positive"))
	}
	if c.MaxLeaseStreams <= 0 {
		errs = append(errs, errors.New("max lease streams must be positive"))
	}
	if c.InlineBodyLimit <= 0 || c.InlineBodyLimit > maxInlineBodyLimit {
		errs = append(errs, fmt.Errorf("inline body limit must be between 1 and %d bytes (larger bodies go by bitswap)", maxInlineBodyLimit))
	}
	if c.ReplayWindow <= 0 {
		errs = append(errs, errors.New("replay window must be positive"))
	}
	if c.ReplayCacheSize <= 0 {
		errs = append(errs, errors.New("replay cache size must be positive"))
	}
	if c.DiscoveryInterval <= 0 {
		errs = append(errs, errors.New("discovery interval must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("network config: %w", err)
	}
	return nil
}

// maxInlineBodyLimit keeps an inline body, base64-encoded inside JSON with
// the rest of the capture, below schemas.MaxMessageSize.
const maxInlineBodyLimit = 2 << 20
