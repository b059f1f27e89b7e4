package network

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// maxPresenceSize bounds a presence announcement.
const maxPresenceSize = 16 << 10

// Presence is the message a host announces on schemas.TopicPresence.
type Presence struct {
	Version      int       `json:"v"`
	PeerID       string    `json:"peer"`
	Software     string    `json:"software"`
	Capabilities []string  `json:"caps,omitempty"`
	Addrs        []string  `json:"addrs,omitempty"`
	At           time.Time `json:"at"`
}

// PeerInfo is what this host knows of a live peer from its announcements.
type PeerInfo struct {
	ID           peer.ID
	Software     string
	Capabilities []string
	Addrs        []string
	LastSeen     time.Time
}

// Has reports whether the peer announced capability c.
func (p PeerInfo) Has(c string) bool { return slices.Contains(p.Capabilities, c) }

// Peers lists the peers that announced themselves within the presence TTL,
// sorted by peer ID. This host is not listed.
func (h *Host) Peers() []PeerInfo { return h.peers.live(time.Now()) }

// startPresence subscribes to presence announcements and, unless turned
// off, announces this host periodically.
func (h *Host) startPresence() {
	sub, err := h.presence.Subscribe(pubsub.WithBufferSize(64))
	if err != nil {
		h.log.Error("presence subscription failed; peer list stays empty", logkey.Err, err)
	} else {
		h.spawn(func() { h.readPresence(sub) })
	}
	if h.cfg.PresenceInterval > 0 {
		h.spawn(h.announce)
	}
}

func (h *Host) readPresence(sub *pubsub.Subscription) {
	defer sub.Cancel()
	for {
		msg, err := sub.Next(h.ctx)
		if err != nil {
			return
		}
		p, ok := msg.ValidatorData.(*Presence)
		if !ok || msg.GetFrom() == h.ID() {
			continue
		}
		h.peers.see(msg.GetFrom(), p, time.Now())
	}
}

// announce publishes this host's presence every PresenceInterval, and
// also shortly after a peer joins the presence topic, so that a newcomer
// does not wait a whole interval to learn of this host.
func (h *Host) announce() {
	const afterJoin = 200 * time.Millisecond
	joined := make(chan struct{}, 1)
	if evh, err := h.presence.EventHandler(); err == nil {
		h.spawn(func() {
			defer evh.Cancel()
			for {
				ev, err := evh.NextPeerEvent(h.ctx)
				if err != nil {
					return
				}
				if ev.Type == pubsub.PeerJoin {
					select {
					case joined <- struct{}{}:
					default:
					}
				}
			}
		})
	}
	t := time.NewTicker(h.cfg.PresenceInterval)
	defer t.Stop()
	soon := time.NewTimer(0)
	defer soon.Stop()
	repeat := false
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-joined:
			// Let the newcomer's subscription settle, and batch a burst of
			// joins into one announcement; repeat it once a little later in
			// case the first raced the newcomer's own setup.
			soon.Reset(afterJoin)
			repeat = true
			continue
		case <-soon.C:
			if repeat {
				repeat = false
				soon.Reset(10 * afterJoin)
			}
		case <-t.C:
		}
		if err := h.announceOnce(h.ctx); err != nil && h.ctx.Err() == nil {
			h.log.Debug("presence announcement failed", logkey.Err, err)
		}
	}
}

func (h *Host) announceOnce(ctx context.Context) error {
	data, err := json.Marshal(Presence{
		Version:      schemas.WireVersion,
		PeerID:       h.ID().String(),
		Software:     h.cfg.Version,
		Capabilities: h.cfg.Capabilities,
		Addrs:        h.Addrs(),
		At:           time.Now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("encoding presence: %w", err)
	}
	if err := h.presence.Publish(ctx, data); err != nil {
		return fmt.Errorf("publishing presence: %w", err)
	}
	return nil
}

// validatePresenceMsg is the gossipsub validator of schemas.TopicPresence.
func (h *Host) validatePresenceMsg(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	author := msg.GetFrom()
	if h.quarantine.has(author) || h.quarantine.has(from) {
		if from == author {
			return pubsub.ValidationReject
		}
		return pubsub.ValidationIgnore
	}
	p, err := decodePresence(msg.Data, author)
	if err != nil {
		h.log.Debug("dropping presence message", logPeer, author.String(), "from", from.String(), logkey.Err, err)
		return pubsub.ValidationReject
	}
	// An old announcement replayed after gossipsub forgot its ID must not
	// make a departed peer look alive.
	if age := time.Since(p.At); age > h.cfg.PresenceTTL || -age > maxClockSkew {
		return pubsub.ValidationIgnore
	}
	msg.ValidatorData = p
	return pubsub.ValidationAccept
}

// decodePresence parses and checks an announcement authored by author.
func decodePresence(data []byte, author peer.ID) (*Presence, error) {
	if len(data) > maxPresenceSize {
		return nil, fmt.Errorf("%w: presence of %d bytes exceeds %d", ErrMessageTooLarge, len(data), maxPresenceSize)
	}
	var p Presence
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%w: presence: %w", ErrMalformed, err)
	}
	if p.Version != schemas.WireVersion {
		return nil, fmt.Errorf("%w: presence: %w", ErrMalformed, &schemas.VersionError{Kind: "presence", Got: p.Version, Want: schemas.WireVersion})
	}
	id, err := peer.Decode(p.PeerID)
	if err != nil {
		return nil, fmt.Errorf("%w: presence peer id %q: %w", ErrMalformed, p.PeerID, err)
	}
	if id != author || p.PeerID != author.String() {
		return nil, fmt.Errorf("%w: presence names %s, message authored by %s", ErrWrongAuthor, id, author)
	}
	if p.At.IsZero() {
		return nil, fmt.Errorf("%w: presence without time", ErrMalformed)
	}
	return &p, nil
}

// presenceTable remembers the last announcement of each peer.
type presenceTable struct {
	ttl   time.Duration
	mu    sync.Mutex
	peers map[peer.ID]PeerInfo
}

func newPresenceTable(ttl time.Duration) *presenceTable {
	return &presenceTable{ttl: ttl, peers: map[peer.ID]PeerInfo{}}
}

func (t *presenceTable) see(id peer.ID, p *Presence, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.peers[id] = PeerInfo{
		ID:           id,
		Software:     p.Software,
		Capabilities: slices.Clone(p.Capabilities),
		Addrs:        slices.Clone(p.Addrs),
		LastSeen:     now,
	}
	// Forget long-gone peers so the table stays bounded by live ones.
	for k, v := range t.peers {
		if now.Sub(v.LastSeen) > 10*t.ttl {
			delete(t.peers, k)
		}
	}
}

func (t *presenceTable) live(now time.Time) []PeerInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]PeerInfo, 0, len(t.peers))
	for _, v := range t.peers {
		if now.Sub(v.LastSeen) <= t.ttl {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
