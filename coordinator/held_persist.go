package coordinator

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

// Durable held redirects. A document held for a verifier to see its
// redirect (holdRedirect) is written to coord_held by the saveState that
// follows it, and deleted when its check releases or drops it, so a
// restart keeps it waiting for the check, which is restored too. Documents
// the pipeline sent to review are not saved (what the curators are shown
// holds values JSON does not keep): after a restart their URLs are queued
// again (requeueLostHeld), as are those whose check was not restored.

const createHeldSQL = `CREATE TABLE IF NOT EXISTS coord_held(
	peer TEXT NOT NULL, job TEXT NOT NULL, norm TEXT NOT NULL, body BLOB NOT NULL,
	PRIMARY KEY(peer, job, norm)) WITHOUT ROWID`

// heldRecord is a held document as saved.
type heldRecord struct {
	Doc   schemas.Document `json:"doc"`
	Bytes int64            `json:"bytes"`
	Dedup []byte           `json:"dedup,omitempty"`
}

// heldSave is one held document to write, or to delete when doc is nil.
type heldSave struct {
	key contribKey
	doc *heldDoc
}

// markLocked notes that k changed. h.mu held.
func (h *heldRedirects) markLocked(k contribKey) {
	if h.dirty == nil {
		h.dirty = make(map[contribKey]struct{})
	}
	h.dirty[k] = struct{}{}
}

// takeDirty returns the held documents changed since the last call (the
// review ones are never saved) and forgets that they changed.
func (h *heldRedirects) takeDirty() []heldSave {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]heldSave, 0, len(h.dirty))
	for k := range h.dirty {
		delete(h.dirty, k)
		if d, ok := h.docs[k]; ok && !d.review {
			out = append(out, heldSave{key: k, doc: &d})
		} else {
			out = append(out, heldSave{key: k})
		}
	}
	return out
}

// putBack marks what a failed save took as changed again.
func (h *heldRedirects) putBack(s []heldSave) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range s {
		h.markLocked(e.key)
	}
}

// writeHeld writes s in saveState's transaction.
func writeHeld(ctx context.Context, tx *sql.Tx, s []heldSave) error {
	for _, e := range s {
		k := e.key
		if e.doc == nil {
			if _, err := tx.ExecContext(ctx, `DELETE FROM coord_held WHERE peer = ? AND job = ? AND norm = ?`, k.peer, k.key.job, k.key.url); err != nil {
				return fmt.Errorf("delete held document of %s: %w", k.key.url, err)
			}
			continue
		}
		rec := heldRecord{Doc: e.doc.doc, Bytes: e.doc.bytes}
		if e.doc.dedup != nil {
			rec.Dedup = e.doc.dedup.Marshal()
		}
		body, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode held document of %s: %w", k.key.url, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO coord_held(peer, job, norm, body) VALUES(?, ?, ?, ?)`,
			k.peer, k.key.job, k.key.url, body); err != nil {
			return fmt.Errorf("save held document of %s: %w", k.key.url, err)
		}
	}
	return nil
}

// loadHeld restores the held documents an earlier process saved whose
// check is still open for the same capture; the others are deleted (and
// requeueLostHeld queues their URLs again).
func (c *Coordinator) loadHeld(ctx context.Context) error {
	if err := c.frontier.Update(ctx, "create held documents table", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, createHeldSQL)
		return err
	}); err != nil {
		return fmt.Errorf("create held documents table: %w", err)
	}
	rows, err := c.frontier.Query(ctx, `SELECT peer, job, norm, body FROM coord_held`)
	if err != nil {
		return fmt.Errorf("load held documents: %w", err)
	}
	defer rows.Close()
	c.held.mu.Lock()
	defer c.held.mu.Unlock()
	for rows.Next() {
		var (
			k    contribKey
			body []byte
			rec  heldRecord
		)
		if err := rows.Scan(&k.peer, &k.key.job, &k.key.url, &body); err != nil {
			return fmt.Errorf("load held documents: %w", err)
		}
		if err := json.Unmarshal(body, &rec); err != nil || c.verify.openOrig(k.key) != k.peer {
			// Unreadable, or its check is gone: the URL is fetched again.
			c.held.markLocked(k)
			continue
		}
		d := heldDoc{node: k.peer, doc: rec.Doc, bytes: rec.Bytes}
		if len(rec.Dedup) > 0 {
			d.dedup = new(pipeline.DedupKey)
			if err := d.dedup.Unmarshal(rec.Dedup); err != nil {
				d.dedup = nil
			}
		}
		if c.held.docs == nil {
			c.held.docs = make(map[contribKey]heldDoc)
		}
		c.held.docs[k] = d
	}
	return rows.Err()
}

// isHeld reports whether a document is held for k.
func (h *heldRedirects) isHeld(k contribKey) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.docs[k]
	return ok
}
