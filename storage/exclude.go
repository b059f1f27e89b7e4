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
// page (same ID) can take their place, and (through RemoveEach) the pages
// a dataset owner takes down on request (Coordinator.Retract).
//
// Every spool segment holding a removed record is rewritten to a temporary
// file, synced and renamed over the original, so a crash leaves each
// segment either whole or rewritten; retractions are recorded in one
// synced batch. Remove waits for a running Publish and holds up Add while
// it works.
func (w *DatasetWriter) Remove(ctx context.Context, ids ...string) (int, error) {
	each, err := w.RemoveEach(ctx, ids...)
	n := 0
	for _, c := range each {
		n += c
	}
	return n, err
}

// RemoveEach is Remove reporting, for every ID it took a record of out,
// how many records (a document, a reject, or both) went; IDs it knew
// nothing of are absent. The coordinator's takedowns use it, and a
// takedown of many pages is one call: each spool segment is rewritten at
// most once and the retractions are one synced batch, whatever the number
// of IDs.
func (w *DatasetWriter) RemoveEach(ctx context.Context, ids ...string) (map[string]int, error) {
	each := make(map[string]int)
	if len(ids) == 0 {
		return each, nil
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
		return each, fmt.Errorf("removing from %q: writer is closed", w.name)
	}
	err := w.removePending(ctx, drop, func(key string) { each[key[1:]]++ })
	if err != nil {
		return each, err
	}
	err = w.retract(ctx, ids, func(id string) { each[id]++ })
	return each, err
}

// removePending drops the pending records whose keys are in drop from the
// spool, calling gone with the key of each. w.mu held.
func (w *DatasetWriter) removePending(ctx context.Context, drop map[string]bool, gone func(key string)) error {
	hit := false
	for k := range w.pending {
		if drop[k] {
			hit = true
			break
		}
	}
	if !hit {
		return nil
	}
	// Start a fresh segment so that no segment being rewritten is open
	// for appending.
	if err := w.rotate(); err != nil {
		return err
	}
	consumed, err := w.s.consumed(ctx, w.name)
	if err != nil {
		return err
	}
	segs, err := w.segments()
	if err != nil {
		return err
	}
	for _, seg := range segs {
		if seg <= consumed || seg >= w.seg {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := w.rewriteWithout(w.segPath(seg), drop, gone); err != nil {
			return err
		}
	}
	return nil
}

// rewriteWithout rewrites one closed spool segment without the records
// whose keys are in drop, updating the pending set and calling removed
// with the key of each pending record it dropped. Caller holds mu.
func (w *DatasetWriter) rewriteWithout(path string, drop map[string]bool, removed func(key string)) error {
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
		return fmt.Errorf("removing from %q: %w", w.name, err)
	}
	if len(gone) == 0 {
		return nil
	}
	// renameio writes, syncs and renames over path: a crash leaves the
	// old segment or the new one, never a mix.
	if err := renameio.WriteFile(path, kept.Bytes(), 0o644); err != nil {
		return fmt.Errorf("removing from %q: replacing %s: %w", w.name, path, err)
	}
	if err := syncDir(w.dir); err != nil {
		return err
	}
	for _, k := range gone {
		if _, ok := w.pending[k]; ok {
			delete(w.pending, k)
			w.nPending--
			removed(k)
		}
	}
	return nil
}
