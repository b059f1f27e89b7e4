package curator

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/swardnet/sward/curator/rules"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// ActionSkip passes on an item without a vote; the item is not shown to
// this curator again (until the skip is undone). It never leaves the
// process.
const ActionSkip = "skip"

// Input is one decision made in this process.
type Input struct {
	ItemID string `json:"item_id"`
	// Action is schemas.ActionAccept, schemas.ActionReject or ActionSkip.
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	// Edits correct the extracted text or a field (see schemas.Decision).
	Edits map[string]string `json:"edits,omitempty"`
	// Adjudication decides an item in the adjudication queue.
	Adjudication bool `json:"adjudication,omitempty"`
}

// Decide records this curator's decision. It is kept locally for the undo
// window, then signed into the tally and gossiped.
func (c *Curator) Decide(ctx context.Context, in Input) error {
	grp, err := c.nextGroup(ctx)
	if err != nil {
		return err
	}
	return c.decide(ctx, in, grp)
}

func (c *Curator) decide(ctx context.Context, in Input, grp int64) error {
	it, state, err := c.item(ctx, in.ItemID)
	if err != nil {
		return err
	}
	switch {
	case state == StateSettled:
		return fmt.Errorf("deciding %s: %w", in.ItemID, ErrSettled)
	case in.Adjudication && state != StateAdjudication:
		return fmt.Errorf("deciding %s: it is not waiting for adjudication", in.ItemID)
	case !in.Adjudication && state == StateAdjudication && in.Action != ActionSkip:
		return fmt.Errorf("deciding %s: it is waiting for adjudication; decide it from the adjudication queue", in.ItemID)
	case it.Gold != nil && it.Gold.Author == c.self:
		return fmt.Errorf("deciding %s: you wrote this gold item's answer", in.ItemID)
	}
	if err := checkEdits(it, in.Edits); err != nil {
		return fmt.Errorf("deciding %s: %w", in.ItemID, err)
	}
	if in.Action == ActionSkip {
		if _, err := c.db.ExecContext(ctx, `INSERT INTO mine(item_id, action, nonce) VALUES(?, ?, '')
			ON CONFLICT(item_id) DO UPDATE SET action = excluded.action, nonce = ''`, in.ItemID, ActionSkip); err != nil {
			return fmt.Errorf("recording skip of %s: %w", in.ItemID, err)
		}
		return c.addHistory(ctx, grp, in.ItemID, ActionSkip, "")
	}
	if in.Adjudication {
		c.mu.Lock()
		err := c.checkAdjudicatorLocked(ctx, c.self)
		var ballots []vote
		if err == nil {
			ballots, err = c.itemVotesLocked(ctx, in.ItemID, false)
		}
		c.mu.Unlock()
		if err != nil {
			return fmt.Errorf("adjudicating %s: %w", in.ItemID, err)
		}
		if slices.ContainsFunc(ballots, func(b vote) bool { return b.Curator == c.self }) {
			return fmt.Errorf("adjudicating %s: %w: you voted on it", in.ItemID, ErrNotAdjudicator)
		}
	}
	// A second decision on the same item replaces a pending first one.
	if err := c.dropPending(ctx, in.ItemID); err != nil {
		return err
	}
	d := schemas.Decision{
		Version: schemas.DecisionVersion, ItemID: in.ItemID, Curator: c.self, Action: in.Action,
		Reason: in.Reason, Edits: in.Edits, Adjudication: in.Adjudication,
		Timestamp: c.cfg.Now().UTC(), Nonce: newNonce(),
	}
	if len(d.Edits) == 0 {
		d.Edits = nil
	}
	if err := d.Validate(); err != nil {
		return err
	}
	if d.Signature, err = c.key.Sign(d.SigningBytes()); err != nil {
		return fmt.Errorf("signing decision on %s: %w", in.ItemID, err)
	}
	if err := c.acceptDecision(ctx, &d, true); err != nil {
		return err
	}
	if _, err := c.db.ExecContext(ctx, `INSERT INTO mine(item_id, action, nonce) VALUES(?, ?, ?)
		ON CONFLICT(item_id) DO UPDATE SET action = excluded.action, nonce = excluded.nonce`, in.ItemID, d.Action, d.Nonce); err != nil {
		return fmt.Errorf("recording decision on %s: %w", in.ItemID, err)
	}
	return c.addHistory(ctx, grp, in.ItemID, d.Action, d.Nonce)
}

// checkEdits refuses edits of unknown fields or values a field cannot hold.
func checkEdits(it *Item, edits map[string]string) error {
	for name, val := range edits {
		if f, ok := cutFieldPrefix(name); ok {
			if _, known := it.Fields[f]; !known {
				return fmt.Errorf("item has no structured field %q", f)
			}
			continue
		}
		doc := it.Doc
		known, err := rules.SetField(&doc, name, val)
		if !known {
			return fmt.Errorf("unknown field %q (document fields: %v, or field:NAME)", name, rules.DocumentFields)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Curator) dropPending(ctx context.Context, itemID string) error {
	if _, err := c.db.ExecContext(ctx, `DELETE FROM decisions WHERE curator = ? AND item_id = ? AND pending = 1`, c.self, itemID); err != nil {
		return fmt.Errorf("replacing a pending decision on %s: %w", itemID, err)
	}
	return nil
}

func (c *Curator) nextGroup(ctx context.Context) (int64, error) {
	var g sql.NullInt64
	if err := c.db.QueryRowContext(ctx, `SELECT MAX(grp) FROM history`).Scan(&g); err != nil {
		return 0, fmt.Errorf("reading undo history: %w", err)
	}
	return g.Int64 + 1, nil
}

func (c *Curator) addHistory(ctx context.Context, grp int64, itemID, action, nonce string) error {
	if _, err := c.db.ExecContext(ctx, `INSERT INTO history(grp, item_id, action, nonce) VALUES(?,?,?,?)`, grp, itemID, action, nonce); err != nil {
		return fmt.Errorf("recording undo history: %w", err)
	}
	return nil
}

// Undo takes back this curator's most recent decision, skip or bulk
// action. A decision still in its undo window is forgotten; a published one
// is retracted, which fails with ErrSettled once its item has settled. It
// returns the items that are open to this curator again.
func (c *Curator) Undo(ctx context.Context) ([]string, error) {
	var grp sql.NullInt64
	if err := c.db.QueryRowContext(ctx, `SELECT MAX(grp) FROM history`).Scan(&grp); err != nil {
		return nil, fmt.Errorf("reading undo history: %w", err)
	}
	if !grp.Valid {
		return nil, ErrNothingToUndo
	}
	type entry struct{ item, action, nonce string }
	rows, err := c.db.QueryContext(ctx, `SELECT item_id, action, nonce FROM history WHERE grp = ? ORDER BY seq DESC`, grp.Int64)
	if err != nil {
		return nil, fmt.Errorf("reading undo history: %w", err)
	}
	var entries []entry
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.item, &e.action, &e.nonce); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading undo history: %w", err)
		}
		entries = append(entries, e)
	}
	rows.Close()
	if _, err := c.db.ExecContext(ctx, `DELETE FROM history WHERE grp = ?`, grp.Int64); err != nil {
		return nil, fmt.Errorf("updating undo history: %w", err)
	}
	var reopened []string
	var errs []error
	for _, e := range entries {
		if err := c.undoOne(ctx, e.item, e.action, e.nonce); err != nil {
			errs = append(errs, err)
			continue
		}
		reopened = append(reopened, e.item)
	}
	return reopened, errors.Join(errs...)
}

func (c *Curator) undoOne(ctx context.Context, itemID, action, nonce string) error {
	forget := func() error {
		if _, err := c.db.ExecContext(ctx, `DELETE FROM mine WHERE item_id = ? AND nonce = ?`, itemID, nonce); err != nil {
			return fmt.Errorf("undoing %s: %w", itemID, err)
		}
		return nil
	}
	if action == ActionSkip {
		return forget()
	}
	c.mu.Lock()
	res, err := c.db.ExecContext(ctx, `DELETE FROM decisions WHERE curator = ? AND nonce = ? AND pending = 1`, c.self, nonce)
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("undoing %s: %w", itemID, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return forget() // never left this process
	}
	_, state, err := c.item(ctx, itemID)
	if err != nil {
		return err
	}
	if state == StateSettled {
		return fmt.Errorf("undoing %s: %w", itemID, ErrSettled)
	}
	var adjudication bool
	err = c.db.QueryRowContext(ctx, `SELECT adjudication FROM decisions WHERE curator = ? AND nonce = ?`, c.self, nonce).Scan(&adjudication)
	if errors.Is(err, sql.ErrNoRows) {
		// A later decision on the same item replaced this one while both
		// were pending: nothing of it is left to take back.
		return nil
	}
	if err != nil {
		return fmt.Errorf("undoing %s: finding the decision: %w", itemID, err)
	}
	if adjudication {
		return fmt.Errorf("undoing %s: an adjudication is final", itemID)
	}
	d := schemas.Decision{
		Version: schemas.DecisionVersion, ItemID: itemID, Curator: c.self, Action: schemas.ActionRetract,
		Timestamp: c.cfg.Now().UTC(), Nonce: newNonce(),
	}
	if d.Signature, err = c.key.Sign(d.SigningBytes()); err != nil {
		return fmt.Errorf("signing retraction on %s: %w", itemID, err)
	}
	if err := c.acceptDecision(ctx, &d, false); err != nil {
		return err
	}
	if err := c.publish(ctx, schemas.CurationMessage{Version: schemas.CurationWireVersion, Decision: &d}); err != nil {
		c.log.Warn("gossiping a retraction", logkey.Item, itemID, logkey.Err, err)
	}
	return forget()
}

// Bulk applies one action to every item of the filtered queue that this
// curator may still decide (gold items excluded), up to limit, as a single
// undo step. It returns how many items were decided.
func (c *Curator) Bulk(ctx context.Context, f Filter, action, reason string, limit int) (int, error) {
	if action != schemas.ActionAccept && action != schemas.ActionReject {
		return 0, fmt.Errorf("bulk: action must be accept or reject, not %q", action)
	}
	f.Adjudication = false
	f.ExcludeGold = true
	items, err := c.Queue(ctx, f, limit)
	if err != nil {
		return 0, err
	}
	grp, err := c.nextGroup(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, it := range items {
		if err := c.decide(ctx, Input{ItemID: it.ID, Action: action, Reason: reason}, grp); err != nil {
			return n, fmt.Errorf("bulk %s after %d items: %w", action, n, err)
		}
		n++
	}
	return n, nil
}

// Flush publishes every local decision now, undo window or not.
func (c *Curator) Flush(ctx context.Context) error {
	return c.flush(ctx, time.Time{})
}

func (c *Curator) flushLoop(ctx context.Context) {
	defer c.wg.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := c.flush(ctx, c.cfg.Now()); err != nil && ctx.Err() == nil {
				c.log.Warn("publishing decisions", logkey.Err, err)
			}
		}
	}
}

// flush publishes local decisions due by the given time (zero: all).
func (c *Curator) flush(ctx context.Context, by time.Time) error {
	due := int64(1<<63 - 1)
	if !by.IsZero() {
		due = by.UnixNano()
	}
	c.mu.Lock()
	rows, err := c.db.QueryContext(ctx, `SELECT nonce, item_id, raw FROM decisions WHERE pending = 1 AND due_at <= ? ORDER BY due_at`, due)
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("reading pending decisions: %w", err)
	}
	type pend struct {
		nonce, item string
		raw         []byte
	}
	var ps []pend
	for rows.Next() {
		var p pend
		if err := rows.Scan(&p.nonce, &p.item, &p.raw); err != nil {
			rows.Close()
			c.mu.Unlock()
			return fmt.Errorf("reading pending decisions: %w", err)
		}
		ps = append(ps, p)
	}
	rows.Close()
	var msgs []schemas.CurationMessage
	for _, p := range ps {
		if _, err := c.db.ExecContext(ctx, `UPDATE decisions SET pending = 0 WHERE curator = ? AND nonce = ?`, c.self, p.nonce); err != nil {
			c.mu.Unlock()
			return fmt.Errorf("publishing decision on %s: %w", p.item, err)
		}
		if err := c.tallyLocked(ctx, p.item); err != nil {
			c.mu.Unlock()
			return err
		}
		var d schemas.Decision
		if err := json.Unmarshal(p.raw, &d); err != nil {
			c.mu.Unlock()
			return fmt.Errorf("decoding pending decision on %s: %w", p.item, err)
		}
		msgs = append(msgs, schemas.CurationMessage{Version: schemas.CurationWireVersion, Decision: &d})
	}
	c.mu.Unlock()
	// The decisions count locally already; a failed publish only delays
	// other processes, so report it and go on with the rest.
	var errs []error
	for _, m := range msgs {
		if err := c.publish(ctx, m); err != nil {
			errs = append(errs, fmt.Errorf("decision on %s: %w", m.Decision.ItemID, err))
		}
	}
	return errors.Join(errs...)
}
