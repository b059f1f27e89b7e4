package feed

import (
	"context"
	"time"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// Offer batching: every Add is one bleve batch, and an unpersisted scorch
// index keeps each batch as its own segment, so adding documents one at a
// time (as a coordinator accepts them) costs memory and search time per
// document. Offer coalesces them instead.
const (
	offerBatch = 256
	offerDelay = 100 * time.Millisecond
	offerQueue = 4096
)

// Offer hands a newly accepted document to the feed without waiting: it is
// indexed and pushed to subscribers with others in one batch, at most
// offerDelay later. It never blocks the caller; when the queue is full it
// reports false and the document is not indexed (the caller may Add it).
// Documents offered before Close are indexed before Close returns.
func (f *Feed) Offer(d schemas.Document) bool {
	if d.ID == "" || d.URL == "" {
		return false // Add would refuse the whole batch for it
	}
	f.offerOnce.Do(f.startOffers)
	select {
	case f.offers <- d:
		return true
	default:
		return false
	}
}

func (f *Feed) startOffers() {
	f.offers = make(chan schemas.Document, offerQueue)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		tick := time.NewTicker(offerDelay)
		defer tick.Stop()
		var batch []schemas.Document
		flush := func() {
			if len(batch) == 0 {
				return
			}
			if _, err := f.add(f.ctx, batch, true); err != nil && f.ctx.Err() == nil {
				f.log.Warn("indexing offered documents", "docs", len(batch), logkey.Err, err)
			}
			batch = batch[:0]
		}
		for {
			select {
			case d := <-f.offers:
				batch = append(batch, d)
				if len(batch) >= offerBatch {
					flush()
				}
			case <-tick.C:
				flush()
			case <-f.ctx.Done():
				// Drain what was offered before Close, on a live context
				// of its own so the final batch still lands.
				for {
					select {
					case d := <-f.offers:
						batch = append(batch, d)
					default:
						f.drain(batch)
						return
					}
				}
			}
		}
	}()
}

// drain indexes the last offered documents while the feed closes; streams
// and webhooks are stopping, so no events are sent for them.
func (f *Feed) drain(batch []schemas.Document) {
	if len(batch) == 0 {
		return
	}
	if _, err := f.add(context.Background(), batch, false); err != nil {
		f.log.Warn("indexing offered documents at close", "docs", len(batch), logkey.Err, err)
	}
}
