package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/renameio/v2"
)

// Remove takes documents and rejects with the given IDs out of the next
// version, and returns how many records it took out. A pending record is
// dropped from the spool; a published one is retracted: the next Publish
// rewrites the shards of the parent that hold it without it (retract.go),
// and the ID may be added again at once. Unknown IDs are ignored. The
// coordinator uses it to take out the unverified pages of a node
// convicted of lying, published or not, so an honest re-fetch of the same
// page (same ID) can take their place.
//
// Every spool segment holding a removed record is rewritten to a temporary
// file, synced and renamed over the original, so a crash leaves each
// segment either whole or rewritten; retractions are recorded in one
// synced batch. Remove waits for a running Publish and holds up Add while
// it works.
func (w *DatasetWriter) Remove(ctx context.Context, ids ...string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	drop := make(map[string]bool, 2*len(ids))
	for _, id := range ids {
		drop["d"+id] = true
		drop["r"+id] = true
	}
	w.pubMu.Lock()
	defer w.pubMu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, fmt.Errorf("removing from %q: writer is closed", w.name)
	}
	removed, err := w.removePending(ctx, drop)
	if err != nil {
		return removed, err
	}
	n, err := w.retract(ctx, ids)
	return removed + n, err
}

// removePending drops the pending records whose keys are in drop from the
// spool. w.mu held.
func (w *DatasetWriter) removePending(ctx context.Context, drop map[string]bool) (int, error) {
	hit := false
	for k := range w.pending {
		if drop[k] {
			hit = true
			break
		}
	}
	if !hit {
		return 0, nil
	}
	// Start a fresh segment so that no segment being rewritten is open
	// for appending.
	if err := w.rotate(); err != nil {
		return 0, err
	}
	consumed, err := w.s.consumed(ctx, w.name)
	if err != nil {
		return 0, err
	}
	segs, err := w.segments()
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, seg := range segs {
		if seg <= consumed || seg >= w.seg {
			continue
		}
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		n, err := w.rewriteWithout(w.segPath(seg), drop)
		if err != nil {
			return removed, err
		}
		removed += n
	}
	return removed, nil
}

// rewriteWithout rewrites one closed spool segment without the records
// whose keys are in drop, updating the pending set. Caller holds mu.
func (w *DatasetWriter) rewriteWithout(path string, drop map[string]bool) (int, error) {
	var kept bytes.Buffer
	enc := json.NewEncoder(&kept)
	enc.SetEscapeHTML(false)
	var gone []string
	err := w.scanSegment(path, false, func(r *spoolRecord) error {
		if k := r.key(); drop[k] {
			gone = append(gone, k)
			return nil
		}
		return enc.Encode(r)
	})
	if err != nil {
		return 0, fmt.Errorf("removing from %q: %w", w.name, err)
	}
	if len(gone) == 0 {
		return 0, nil
	}
	// renameio writes, syncs and renames over path: a crash leaves the
	// old segment or the new one, never a mix.
	if err := renameio.WriteFile(path, kept.Bytes(), 0o644); err != nil {
		return 0, fmt.Errorf("removing from %q: replacing %s: %w", w.name, path, err)
	}
	if err := syncDir(w.dir); err != nil {
		return 0, err
	}
	n := 0
	for _, k := range gone {
		if _, ok := w.pending[k]; ok {
			delete(w.pending, k)
			w.nPending--
			n++
		}
	}
	return n, nil
}
