package node

import (
	"container/list"
	"context"
	"errors"
	"net/url"
	"sync"
	"sync/atomic"
)

// DefaultMemoryBudget is the node-wide memory budget when none is set: the
// bytes of bodies, outlinks and sitemap entries the node holds at once.
// An uncompressed body reserves its Content-Length (see memBudget), so
// ordinary pages keep eight fetches in flight while a node fetching hostile
// pages stays under 150 MB of RSS (BENCHMARKS.md, node section).
const DefaultMemoryBudget = 48 << 20

// bodyStep is the body allowance a fetch starts with and the smallest
// step it grows by while reading a body without (or past) its
// Content-Length.
const bodyStep = 128 << 10

// lastModEntryBytes is what one sitemap <lastmod> entry is counted as (a
// time.Time and its map slot; the URL itself is counted as an outlink).
const lastModEntryBytes = 32

// errMemoryCut is what growing a reservation returns when it cannot be
// granted without deadlocking the node (every fetch still reading waits for
// memory and nothing else holds any): that fetch fails transiently, gives
// its reservation back and is retried.
var errMemoryCut = errors.New("memory budget full")

// linkAllowance is the most the outlinks of a capture of u may take: a
// sitemap URL's (its URLs and <lastmod> entries together) or an HTML
// page's. A page redirected to a sitemap keeps its page allowance.
func linkAllowance(u *url.URL) int64 {
	if isSitemapURL(u) {
		return maxSitemapBytes
	}
	return maxOutlinkBytes
}

// bodyReserve is what a fetch holds for a body allowance of n bytes: the
// raw body and its decoded copy.
func bodyReserve(n int64) int64 { return 2 * n }

// pageReserve is what one fetch of u reserves before its request starts:
// its worst case, the raw and decoded body at the cap and its outlinks.
// Once the headers arrive an uncompressed body's Content-Length lowers it
// (see reqState.fitBody); a body longer than announced grows it again in
// steps, never past this.
func pageReserve(maxBody int64, u *url.URL) int64 { return bodyReserve(maxBody) + linkAllowance(u) }

// fetchReserve is the largest reservation one fetch can grow to (a
// sitemap's, with a body at the cap).
func fetchReserve(maxBody int64) int64 { return bodyReserve(maxBody) + maxSitemapBytes }

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
// outlinks' allowance and a first body step before its request starts,
// waiting while the budget is full (back-pressure: the node takes on no
// more than it can hold). Its reservation then grows to cover the body as
// it is read: to the Content-Length when the headers arrive, and in
// doubling steps past it, never past the body cap; a grow waits too. Once
// the capture is built the reservation shrinks to the bytes the capture
// really holds, and it is released when the caller is done with the
// capture. Waiting grows are served before new reservations, and both in
// arrival order, so no fetch is starved by later ones. When every fetch
// still reading waits to grow and nothing else is held, the newest grow is
// refused (errMemoryCut): that fetch gives its reservation back and is
// retried, so the node never deadlocks on itself.
type memBudget struct {
	limit int64 // bytes the fetches may reserve (the budget minus siteReserve)

	mu          sync.Mutex
	used        int64      // reserved now
	readingN    int64      // bytes held by fetches still reading
	reading     int        // fetches still reading (whose holds may grow)
	growWaiting int        // of them, waiting to grow
	queue       *list.List // of *memWaiter: grows first, then new reservations

	stat    atomic.Int64 // used, for MemoryStats
	peak    atomic.Int64
	waiting atomic.Int64
}

// memWaiter is one reservation or grow waiting for memory.
type memWaiter struct {
	n       int64
	grow    *memHold // nil for a new reservation
	hold    *memHold // the new reservation's hold
	ready   chan struct{}
	granted bool
	refused bool
}

func newMemBudget(limit int64) *memBudget {
	return &memBudget{limit: limit, queue: list.New()}
}

// take adds n to used; b.mu is held.
func (b *memBudget) take(n int64) {
	b.used += n
	b.stat.Store(b.used)
	for p := b.peak.Load(); b.used > p && !b.peak.CompareAndSwap(p, b.used); p = b.peak.Load() {
	}
}

// serve grants waiters in queue order while they fit, then refuses a grow
// if the node would otherwise deadlock; b.mu is held.
func (b *memBudget) serve() {
	for e := b.queue.Front(); e != nil; e = b.queue.Front() {
		w := e.Value.(*memWaiter)
		if b.used+w.n > b.limit {
			break
		}
		b.queue.Remove(e)
		b.take(w.n)
		if w.grow != nil {
			b.growWaiting--
			w.grow.n += w.n
			b.readingN += w.n
		} else {
			w.hold.n = w.n
			b.startReading(w.hold)
		}
		w.granted = true
		close(w.ready)
	}
	if b.growWaiting == 0 || b.growWaiting < b.reading || b.used > b.readingN {
		return
	}
	for e := b.queue.Back(); e != nil; e = e.Prev() {
		if w := e.Value.(*memWaiter); w.grow != nil {
			b.queue.Remove(e)
			b.growWaiting--
			w.refused = true
			close(w.ready)
			return
		}
	}
}

// enqueue adds w in its place (a grow behind the other grows, a new
// reservation last); b.mu is held.
func (b *memBudget) enqueue(w *memWaiter) *list.Element {
	if w.grow == nil {
		return b.queue.PushBack(w)
	}
	b.growWaiting++
	for e := b.queue.Front(); e != nil; e = e.Next() {
		if e.Value.(*memWaiter).grow == nil {
			return b.queue.InsertBefore(w, e)
		}
	}
	return b.queue.PushBack(w)
}

// wait blocks until w is granted or refused, or ctx ends (then w leaves
// the queue, or gives back what was granted meanwhile).
func (b *memBudget) wait(ctx context.Context, w *memWaiter, e *list.Element) error {
	b.waiting.Add(1)
	defer b.waiting.Add(-1)
	select {
	case <-w.ready:
	case <-ctx.Done():
		b.mu.Lock()
		if !w.granted && !w.refused {
			b.queue.Remove(e)
			if w.grow != nil {
				b.growWaiting--
			}
			b.serve()
			b.mu.Unlock()
			return context.Cause(ctx)
		}
		b.mu.Unlock()
	}
	if w.refused {
		return errMemoryCut
	}
	return nil
}

// reserve blocks until n bytes are free (or ctx ends) and returns the hold,
// which counts as reading (it may grow) until it first shrinks.
func (b *memBudget) reserve(ctx context.Context, n int64) (*memHold, error) {
	if n > b.limit {
		return nil, failf(ReasonTooLarge, "a fetch reserves %d bytes of memory, more than the node's budget leaves (%d); raise the memory budget or lower the body cap", n, b.limit)
	}
	h := &memHold{b: b}
	b.mu.Lock()
	if b.queue.Len() == 0 && b.used+n <= b.limit {
		b.take(n)
		h.n = n
		b.startReading(h)
		b.mu.Unlock()
		return h, nil
	}
	w := &memWaiter{n: n, hold: h, ready: make(chan struct{})}
	e := b.enqueue(w)
	b.mu.Unlock()
	if err := b.wait(ctx, w, e); err != nil {
		return nil, err
	}
	return h, nil
}

// startReading counts h among the fetches still reading; b.mu is held.
func (b *memBudget) startReading(h *memHold) {
	h.reading = true
	b.reading++
	b.readingN += h.n
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
	// Waiting counts the fetches waiting for memory (to start or to read
	// on).
	Waiting int64 `json:"waiting"`
}

// memHold is one fetch's share of the budget. Its fields are guarded by
// b.mu.
type memHold struct {
	b       *memBudget
	n       int64
	reading bool
}

// size reports the bytes h holds now.
func (h *memHold) size() int64 {
	if h == nil {
		return 0
	}
	h.b.mu.Lock()
	defer h.b.mu.Unlock()
	return h.n
}

// growTo raises the hold to n bytes, waiting while the budget is full. It
// returns errMemoryCut when the grow is refused (the caller fails),
// the context's cause when ctx ends first, and a too-large error when n
// exceeds what the budget leaves. A hold that no longer reads does not
// grow.
func (h *memHold) growTo(ctx context.Context, n int64) error {
	if h == nil {
		return nil
	}
	b := h.b
	b.mu.Lock()
	if !h.reading {
		b.mu.Unlock()
		return errMemoryCut
	}
	d := n - h.n
	if d <= 0 {
		b.mu.Unlock()
		return nil
	}
	if n > b.limit {
		b.mu.Unlock()
		return errMemoryCut
	}
	w := &memWaiter{n: d, grow: h, ready: make(chan struct{})}
	e := b.enqueue(w)
	b.serve()
	b.mu.Unlock()
	return b.wait(ctx, w, e)
}

// lower lowers the hold to n bytes (never raises it); it may grow again.
func (h *memHold) lower(n int64) { h.cut(n, false) }

// shrink lowers the hold to n bytes (never raises it) and ends its
// reading: it grows no more.
func (h *memHold) shrink(n int64) { h.cut(n, true) }

func (h *memHold) cut(n int64, done bool) {
	if h == nil {
		return
	}
	b := h.b
	b.mu.Lock()
	defer b.mu.Unlock()
	n = max(n, 0)
	if !done && h.reading && n < h.n {
		b.readingN -= h.n - n
	}
	if done && h.reading {
		h.reading = false
		b.reading--
		b.readingN -= h.n
	}
	if n < h.n {
		d := h.n - n
		h.n = n
		b.used -= d
		b.stat.Store(b.used)
	}
	b.serve()
}

// release returns the whole hold; further calls do nothing.
func (h *memHold) release() { h.shrink(0) }
