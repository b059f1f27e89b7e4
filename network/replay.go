package network

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// replayCache remembers the signatures of accepted captures for a time
// window, bounded in count. Captures older than the window are refused as
// stale by the validator, so a replay cannot outlive its memory unless the
// count bound evicts it first.
type replayCache struct {
	mu  sync.Mutex
	lru *expirable.LRU[[32]byte, struct{}]
}

func newReplayCache(size int, window time.Duration) *replayCache {
	return &replayCache{lru: expirable.NewLRU[[32]byte, struct{}](size, nil, window)}
}

func sigKey(sig []byte) [32]byte { return sha256.Sum256(sig) }

// seen reports whether sig was recorded.
func (r *replayCache) seen(sig []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lru.Contains(sigKey(sig))
}

// record stores sig and reports whether it was new.
func (r *replayCache) record(sig []byte) bool {
	k := sigKey(sig)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lru.Contains(k) {
		return false
	}
	r.lru.Add(k, struct{}{})
	return true
}
