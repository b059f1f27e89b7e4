package network

import (
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Quarantine stops accepting gossip authored by p: its captures and
// presence announcements are dropped by the validators, and its gossipsub
// score falls below the graylist threshold, so its RPCs are ignored
// altogether within a second. The coordinator quarantines nodes caught
// lying by verification; quarantine lasts until Unquarantine or restart.
func (h *Host) Quarantine(p peer.ID) {
	if h.quarantine.add(p) {
		h.log.Warn("peer quarantined", logPeer, p.String())
	}
}

// Unquarantine lifts a quarantine. The peer's score recovers as its
// penalties decay.
func (h *Host) Unquarantine(p peer.ID) {
	if h.quarantine.remove(p) {
		h.log.Info("peer quarantine lifted", logPeer, p.String())
	}
}

// IsQuarantined reports whether p is quarantined.
func (h *Host) IsQuarantined(p peer.ID) bool { return h.quarantine.has(p) }

type quarantine struct {
	mu    sync.RWMutex
	peers map[peer.ID]struct{}
}

func newQuarantine() *quarantine { return &quarantine{peers: map[peer.ID]struct{}{}} }

func (q *quarantine) add(p peer.ID) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.peers[p]; ok {
		return false
	}
	q.peers[p] = struct{}{}
	return true
}

func (q *quarantine) remove(p peer.ID) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.peers[p]; !ok {
		return false
	}
	delete(q.peers, p)
	return true
}

func (q *quarantine) has(p peer.ID) bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	_, ok := q.peers[p]
	return ok
}
