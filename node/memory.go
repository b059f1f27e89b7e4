package node

import (
	"context"
	"net/url"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// DefaultMemoryBudget is the node-wide memory budget when none is set: the
// bytes of bodies, outlinks and sitemap entries the node holds at once.
const DefaultMemoryBudget = 256 << 20

// lastModEntryBytes is what one sitemap <lastmod> entry is counted as (a
// time.Time and its map slot; the URL itself is counted as an outlink).
const lastModEntryBytes = 32

// linkAllowance is the most the outlinks of a capture of u may take: a
// sitemap URL's (its URLs and <lastmod> entries together) or an HTML
// page's. A page redirected to a sitemap keeps its page allowance.
func linkAllowance(u *url.URL) int64 {
	if isSitemapURL(u) {
		return maxSitemapBytes
	}
	return maxOutlinkBytes
}

// pageReserve is what one fetch of u reserves before its request starts:
// its raw body and its decoded body (each at most maxBody) and its
// outlinks.
func pageReserve(maxBody int64, u *url.URL) int64 { return 2*maxBody + linkAllowance(u) }

// fetchReserve is the largest pageReserve (a sitemap's).
func fetchReserve(maxBody int64) int64 { return 2*maxBody + maxSitemapBytes }

// siteReserve is the part of the budget set aside for robots.txt and
// tdmrep.json bodies: each is fetched holding a global slot, so at most
// maxConcurrency are in flight.
func siteReserve(maxConcurrency int) int64 {
	return int64(maxConcurrency) * (MaxRobotsBytes + maxTDMRepBytes)
}

// defaultMemoryBudget is DefaultMemoryBudget, raised if need be so that
// two fetches at the configured caps fit beside the site-file reserve.
func defaultMemoryBudget(maxBody int64, maxConcurrency int) int64 {
	return max(DefaultMemoryBudget, siteReserve(maxConcurrency)+2*fetchReserve(maxBody))
}

// memBudget bounds the bytes the node holds at once for bodies in flight,
// outlinks and sitemap entries, across every fetch. A fetch reserves its
// worst case (pageReserve) before its request starts, waiting while the
// budget is full (back-pressure: the node takes on no more than it can
// hold); once the capture is built the reservation shrinks to the bytes
// the capture really holds, and it is released when the caller is done
// with the capture. Reservations are granted in arrival order, so a fetch
// is never starved by later ones.
type memBudget struct {
	limit   int64 // bytes the fetches may reserve (the budget minus siteReserve)
	sem     *semaphore.Weighted
	used    atomic.Int64
	peak    atomic.Int64
	waiting atomic.Int64
}

func newMemBudget(limit int64) *memBudget {
	return &memBudget{limit: limit, sem: semaphore.NewWeighted(limit)}
}

// reserve blocks until n bytes are free (or ctx ends) and returns the hold.
func (b *memBudget) reserve(ctx context.Context, n int64) (*memHold, error) {
	if n > b.limit {
		return nil, failf(ReasonTooLarge, "a fetch reserves %d bytes of memory, more than the node's budget leaves (%d); raise the memory budget or lower the body cap", n, b.limit)
	}
	b.waiting.Add(1)
	err := b.sem.Acquire(ctx, n)
	b.waiting.Add(-1)
	if err != nil {
		return nil, context.Cause(ctx)
	}
	u := b.used.Add(n)
	for p := b.peak.Load(); u > p && !b.peak.CompareAndSwap(p, u); p = b.peak.Load() {
	}
	return &memHold{b: b, n: n}, nil
}

// MemoryStats is the node-wide memory budget as the dashboard shows it.
type MemoryStats struct {
	// Budget is the configured budget (MemoryBudgetBytes).
	Budget int64 `json:"budget_bytes"`
	// Reserved is what is held now for bodies in flight, outlinks and
	// sitemap entries (fetch reservations and captures not yet released).
	Reserved int64 `json:"reserved_bytes"`
	// Peak is the largest Reserved since the node started.
	Peak int64 `json:"peak_bytes"`
	// Waiting counts the fetches waiting for memory.
	Waiting int64 `json:"waiting"`
}

// memHold is one fetch's share of the budget.
type memHold struct {
	b  *memBudget
	mu sync.Mutex
	n  int64
}

// shrink lowers the hold to n bytes (never raises it).
func (h *memHold) shrink(n int64) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	n = max(n, 0)
	if n >= h.n {
		return
	}
	d := h.n - n
	h.n = n
	h.b.used.Add(-d)
	h.b.sem.Release(d)
}

// release returns the whole hold; further calls do nothing.
func (h *memHold) release() { h.shrink(0) }
