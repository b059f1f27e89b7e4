package coordinator

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

// Durable held redirects. A document held for a verifier to see its
// redirect (holdRedirect) is written to coord_held by the saveState that
// follows it, and deleted when its check releases or drops it, so a
// restart keeps it waiting for the check, which is restored too. A
// document the pipeline sent to review is saved with what its release
// hands the curators (heldReview): the capture and the pipeline's
// verdict, whose structured fields are written with their types. A
// document whose saved form cannot be read, or whose check was not
// restored, is dropped, and its URL queued again (requeueLostHeld).

const createHeldSQL = `CREATE TABLE IF NOT EXISTS coord_held(
	peer TEXT NOT NULL, job TEXT NOT NULL, norm TEXT NOT NULL, body BLOB NOT NULL,
	PRIMARY KEY(peer, job, norm)) WITHOUT ROWID`

// heldRecord is a held document as saved.
type heldRecord struct {
	Doc   schemas.Document `json:"doc"`
	Bytes int64            `json:"bytes"`
	Dedup []byte           `json:"dedup,omitempty"`
	// Review is set for a document the pipeline sent to review.
	Review *heldReview `json:"review,omitempty"`
}

// heldReview is what a held review document is released with: the
// capture and the pipeline's verdict, as settleHeld hands them to the
// OnReview hooks (its Doc and DedupKey are the record's). Every part of
// them keeps its value through JSON except Result.Fields, whose values
// are strings, float64s, pipeline.Prices and time.Times behind an any:
// JSON would give a price back as a map and a date as a string, so each
// field is saved with its type (heldField). Nil and empty stay apart
// (no omitempty): the hooks get exactly what they would have got.
type heldReview struct {
	Capture schemas.Capture      `json:"capture"`
	Reasons []string             `json:"reasons"`
	Detail  string               `json:"detail"`
	Scores  map[string]float64   `json:"scores"`
	Fields  map[string]heldField `json:"fields"`
}

// heldField is one structured field's value, typed: exactly one member
// is set.
type heldField struct {
	String *string         `json:"string,omitempty"`
	Number *float64        `json:"number,omitempty"`
	Price  *pipeline.Price `json:"price,omitempty"`
	Time   *time.Time      `json:"time,omitempty"`
}

// encodeFields gives fs in their saved form; a value of a type the
// pipeline does not produce is an error.
func encodeFields(fs map[string]any) (map[string]heldField, error) {
	if fs == nil {
		return nil, nil
	}
	out := make(map[string]heldField, len(fs))
	for name, v := range fs {
		var f heldField
		switch v := v.(type) {
		case string:
			f.String = &v
		case float64:
			f.Number = &v
		case pipeline.Price:
			f.Price = &v
		case time.Time:
			f.Time = &v
		default:
			return nil, fmt.Errorf("field %q holds a %T", name, v)
		}
		out[name] = f
	}
	return out, nil
}

// decodeFields is encodeFields' inverse.
func decodeFields(fs map[string]heldField) (map[string]any, error) {
	if fs == nil {
		return nil, nil
	}
	out := make(map[string]any, len(fs))
	for name, f := range fs {
		switch {
		case f.String != nil:
			out[name] = *f.String
		case f.Number != nil:
			out[name] = *f.Number
		case f.Price != nil:
			out[name] = *f.Price
		case f.Time != nil:
			out[name] = *f.Time
		default:
			return nil, fmt.Errorf("field %q has no value", name)
		}
	}
	return out, nil
}

// encodeHeld is d's saved form. It fails for a review document whose
// verdict holds a value it cannot write (a field of an unknown type, a
// score that is not a finite number).
func encodeHeld(d heldDoc) ([]byte, error) {
	rec := heldRecord{Doc: d.doc, Bytes: d.bytes}
	if d.dedup != nil {
		rec.Dedup = d.dedup.Marshal()
	}
	if d.review {
		if d.capt == nil {
			return nil, errors.New("review document without its capture")
		}
		fs, err := encodeFields(d.res.Fields)
		if err != nil {
			return nil, err
		}
		rec.Review = &heldReview{Capture: *d.capt, Reasons: d.res.Reasons, Detail: d.res.Detail, Scores: d.res.Scores, Fields: fs}
	}
	return json.Marshal(rec)
}

// decodeHeld reads node's held document saved by encodeHeld.
func decodeHeld(node string, body []byte) (heldDoc, error) {
	var rec heldRecord
	if err := json.Unmarshal(body, &rec); err != nil {
		return heldDoc{}, err
	}
	d := heldDoc{node: node, doc: rec.Doc, bytes: rec.Bytes}
	if len(rec.Dedup) > 0 {
		d.dedup = new(pipeline.DedupKey)
		if err := d.dedup.Unmarshal(rec.Dedup); err != nil {
			d.dedup = nil
		}
	}
	if r := rec.Review; r != nil {
		fs, err := decodeFields(r.Fields)
		if err != nil {
			return heldDoc{}, err
		}
		capt, doc := r.Capture, rec.Doc
		d.review, d.capt = true, &capt
		d.res = pipeline.Result{Decision: pipeline.Review, Doc: &doc, Reasons: r.Reasons, Detail: r.Detail,
			Scores: r.Scores, Fields: fs, DedupKey: d.dedup}
	}
	return d, nil
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

// takeDirty returns the held documents changed since the last call and
// forgets that they changed.
func (h *heldRedirects) takeDirty() []heldSave {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]heldSave, 0, len(h.dirty))
	for k := range h.dirty {
		delete(h.dirty, k)
		if d, ok := h.docs[k]; ok {
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

// writeHeld writes s in saveState's transaction. A document it cannot
// encode is not saved (its row, if any, is deleted) and log is told: it
// stays held in this process, and a restart queues its URL again, so one
// such document never holds up the rest of the state.
func writeHeld(ctx context.Context, tx *sql.Tx, s []heldSave, log *slog.Logger) error {
	for _, e := range s {
		k := e.key
		var body []byte
		if e.doc != nil {
			var err error
			if body, err = encodeHeld(*e.doc); err != nil {
				log.Warn("held redirected document not saved: a restart queues its URL again", logkey.Job, k.key.job, logkey.URL, k.key.url, logkey.Err, err)
				body = nil
			}
		}
		if body == nil {
			if _, err := tx.ExecContext(ctx, `DELETE FROM coord_held WHERE peer = ? AND job = ? AND norm = ?`, k.peer, k.key.job, k.key.url); err != nil {
				return fmt.Errorf("delete held document of %s: %w", k.key.url, err)
			}
			continue
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
		)
		if err := rows.Scan(&k.peer, &k.key.job, &k.key.url, &body); err != nil {
			return fmt.Errorf("load held documents: %w", err)
		}
		d, err := decodeHeld(k.peer, body)
		if err != nil || c.verify.openOrig(k.key) != k.peer {
			// Unreadable, or its check is gone: the URL is fetched again.
			c.held.markLocked(k)
			continue
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
