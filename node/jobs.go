package node

import (
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/schemas"
)

// Announcements lists the current job announcements of the coordinators
// this node trusts, and only those; *network.Jobs satisfies it. The
// service calls it before each lease request, from several goroutines.
type Announcements interface {
	Announcements() []*schemas.JobAnnouncement
}

// coordinators chooses the coordinator each lease request goes to: the
// configured one, or, without one, the trusted coordinators that announce
// pending work, in turn. A discovered coordinator that fails, answers
// with no work or asks the node to wait is set aside for a while; one that
// stops announcing (or announces no pending work) is no longer chosen.
type coordinators struct {
	fixed      peer.ID
	src        Announcements
	maxBackoff time.Duration

	mu    sync.Mutex
	next  int
	until map[peer.ID]time.Time // set aside until
	fails map[peer.ID]int       // consecutive failed requests
}

func newCoordinators(fixed peer.ID, src Announcements, maxBackoff time.Duration) *coordinators {
	return &coordinators{
		fixed: fixed, src: src, maxBackoff: maxBackoff,
		until: map[peer.ID]time.Time{}, fails: map[peer.ID]int{},
	}
}

// discovering reports whether coordinators come from announcements.
func (c *coordinators) discovering() bool { return c.fixed == "" }

// pick returns the coordinator to ask next, or false when no trusted
// coordinator announces work right now.
func (c *coordinators) pick(now time.Time) (peer.ID, bool) {
	if !c.discovering() {
		return c.fixed, true
	}
	anns := c.src.Announcements()
	live := make(map[peer.ID]bool, len(anns))
	var cands []peer.ID
	for _, a := range anns {
		id, err := peer.Decode(a.Coordinator)
		if err != nil {
			continue
		}
		live[id] = true
		if a.HasWork() {
			cands = append(cands, id)
		}
	}
	sort.Slice(cands, func(i, k int) bool { return cands[i] < cands[k] })
	c.mu.Lock()
	defer c.mu.Unlock()
	// Forget what is known of coordinators that vanished, so the maps
	// stay bounded by the live ones.
	for id := range c.until {
		if !live[id] {
			delete(c.until, id)
		}
	}
	for id := range c.fails {
		if !live[id] {
			delete(c.fails, id)
		}
	}
	ready := cands[:0]
	for _, id := range cands {
		if now.Before(c.until[id]) {
			continue
		}
		ready = append(ready, id)
	}
	if len(ready) == 0 {
		return "", false
	}
	id := ready[c.next%len(ready)]
	c.next++
	return id, true
}

// idle sets a discovered coordinator that had no work, or that asked the
// node to wait, aside until then.
func (c *coordinators) idle(id peer.ID, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.until[id] = until
	delete(c.fails, id)
}

// failed sets a discovered coordinator aside after a failed request, for
// longer after each consecutive failure, and returns for how long.
func (c *coordinators) failed(id peer.ID, now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fails[id]++
	wait := time.Second << min(c.fails[id]-1, 16)
	wait = min(wait, c.maxBackoff)
	c.until[id] = now.Add(wait)
	return wait
}

// ok records a successful request.
func (c *coordinators) ok(id peer.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.fails, id)
	delete(c.until, id)
}
