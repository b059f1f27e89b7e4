package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Backoff bounds for a host that answered 429 or 503.
const (
	minBackoff = 2 * time.Second
	maxBackoff = 10 * time.Minute
)

// hostState paces one host: at most `limit` requests in flight, starts at
// least `delay` apart, and a backoff after the host said it was overloaded.
// colly's LimitRule shares one limit across every host its glob matches;
// this is one limit per host.
type hostState struct {
	mu       sync.Mutex
	inflight int
	// wake is closed (and replaced) whenever a slot frees.
	wake    chan struct{}
	nextAt  time.Time
	backoff time.Duration
	lastUse time.Time
	refs    int
}

// hosts is the table of hostStates, pruned of idle entries.
type hosts struct {
	mu    sync.Mutex
	m     map[string]*hostState
	calls int
}

func newHosts() *hosts { return &hosts{m: make(map[string]*hostState)} }

// get returns the state for key, pinned until put.
func (hs *hosts) get(key string) *hostState {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.calls++
	if hs.calls%1024 == 0 {
		hs.pruneLocked(time.Now())
	}
	h := hs.m[key]
	if h == nil {
		h = &hostState{wake: make(chan struct{})}
		hs.m[key] = h
	}
	h.mu.Lock()
	h.refs++
	h.mu.Unlock()
	return h
}

func (hs *hosts) put(h *hostState) {
	h.mu.Lock()
	h.refs--
	h.lastUse = time.Now()
	h.mu.Unlock()
}

// pruneLocked forgets hosts nobody holds whose pacing has long expired.
func (hs *hosts) pruneLocked(now time.Time) {
	for k, h := range hs.m {
		h.mu.Lock()
		idle := h.refs == 0 && now.Sub(h.lastUse) > 10*time.Minute && now.After(h.nextAt)
		h.mu.Unlock()
		if idle {
			delete(hs.m, k)
		}
	}
}

// size reports how many hosts are tracked.
func (hs *hosts) size() int {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return len(hs.m)
}

// acquire takes one of the host's `limit` slots, waiting for one to free.
func (h *hostState) acquire(ctx context.Context, limit int) error {
	limit = max(limit, 1)
	for {
		h.mu.Lock()
		if h.inflight < limit {
			h.inflight++
			h.mu.Unlock()
			return nil
		}
		wake := h.wake
		h.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// release frees a slot and starts the gap to the next request: the next
// start is at least delay after this request finished.
func (h *hostState) release(delay time.Duration) {
	h.mu.Lock()
	h.inflight--
	if next := time.Now().Add(delay); next.After(h.nextAt) {
		h.nextAt = next
	}
	close(h.wake)
	h.wake = make(chan struct{})
	h.mu.Unlock()
}

// pace waits until the host may be sent the next request, then books the
// following start delay later (so concurrent slots are still spaced). It
// fails fast when the wait is longer than maxWait (a huge crawl-delay or
// backoff) or would outlast ctx's deadline, so a lease can hand the URL
// back instead of sleeping through it.
func (h *hostState) pace(ctx context.Context, delay, maxWait time.Duration) error {
	for {
		h.mu.Lock()
		now := time.Now()
		wait := h.nextAt.Sub(now)
		if wait <= 0 {
			h.nextAt = now.Add(delay)
			h.mu.Unlock()
			return nil
		}
		h.mu.Unlock()
		if maxWait > 0 && wait > maxWait {
			return failf(ReasonPoliteness, "host is not due for another %s (crawl-delay or backoff), more than %s", wait.Round(time.Millisecond), maxWait)
		}
		if dl, ok := ctx.Deadline(); ok && now.Add(wait).After(dl) {
			return failf(ReasonPoliteness, "host is not due for another %s, past the deadline", wait.Round(time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
	}
}

// overloaded records a 429/503: the host is left alone for retryAfter or an
// exponentially growing backoff, whichever is longer. It returns the wait.
func (h *hostState) overloaded(retryAfter time.Duration) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.backoff == 0:
		h.backoff = minBackoff
	default:
		h.backoff = min(h.backoff*2, maxBackoff)
	}
	wait := max(h.backoff, min(retryAfter, maxBackoff))
	if next := time.Now().Add(wait); next.After(h.nextAt) {
		h.nextAt = next
	}
	return wait
}

// healthy decays the backoff after a normal answer.
func (h *hostState) healthy() {
	h.mu.Lock()
	h.backoff /= 2
	if h.backoff < minBackoff {
		h.backoff = 0
	}
	h.mu.Unlock()
}

// retryDelay is the bounded exponential wait before retry number attempt
// (0-based) after a transient network error, with jitter.
func retryDelay(attempt int) time.Duration {
	d := 500 * time.Millisecond << min(attempt, 6)
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d/2+1)
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting %s: %w", d, context.Cause(ctx))
	}
}
