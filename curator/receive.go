package curator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/swardnet/sward/curator/rules"
	"github.com/swardnet/sward/schemas"
)

// VerifyMessage decodes a curation message and checks its shape and
// signature. It needs no state, so it can serve as a gossipsub topic
// validator that drops forged messages before they spread; replays and
// trust are checked by Receive.
func VerifyMessage(data []byte) (*schemas.CurationMessage, error) {
	m, err := schemas.DecodeCurationMessage(data)
	if err != nil {
		return nil, err
	}
	switch {
	case m.Decision != nil:
		err = verify(m.Decision.Curator, m.Decision.SigningBytes(), m.Decision.Signature)
	case m.Rule != nil:
		err = verify(m.Rule.Author, m.Rule.SigningBytes(), m.Rule.Signature)
	case m.Item != nil:
		err = verify(m.Item.Source, m.Item.SigningBytes(), m.Item.Signature)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Receive handles one message from the bus: a decision, a rule or an item.
// Forged messages fail with ErrForged, messages already seen with ErrReplay,
// decisions dated outside the accepted window with ErrStale.
func (c *Curator) Receive(ctx context.Context, data []byte) error {
	m, err := VerifyMessage(data)
	if err != nil {
		return err
	}
	switch {
	case m.Decision != nil:
		return c.acceptDecision(ctx, m.Decision, false)
	case m.Rule != nil:
		return c.acceptRule(ctx, m.Rule)
	default:
		return c.acceptItem(ctx, m.Item, data)
	}
}

func (c *Curator) receiveLoop(ctx context.Context, ch <-chan []byte) {
	defer c.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case data, ok := <-ch:
			if !ok {
				return
			}
			err := c.Receive(ctx, data)
			switch {
			case err == nil:
			case errors.Is(err, ErrReplay):
				// Our own messages come back from gossip; so do honest
				// duplicates. Nothing to report.
				c.log.Debug("dropped curation message", "err", err)
			case ctx.Err() != nil:
				return
			default:
				c.log.Warn("dropped curation message", "err", err)
			}
		}
	}
}

// checkTime refuses decisions dated too far in the future or the past.
func (c *Curator) checkTime(ts time.Time) error {
	now := c.cfg.Now()
	if ts.After(now.Add(c.cfg.MaxClockSkew)) {
		return fmt.Errorf("%w: dated %s, %s ahead of this clock", ErrStale, ts.Format(time.RFC3339), ts.Sub(now).Round(time.Second))
	}
	if ts.Before(now.Add(-c.cfg.MaxDecisionAge)) {
		return fmt.Errorf("%w: dated %s, older than %s", ErrStale, ts.Format(time.RFC3339), c.cfg.MaxDecisionAge)
	}
	return nil
}

// acceptDecision stores a verified decision and re-tallies its item. A
// local decision (pending) waits out the undo window before it counts.
func (c *Curator) acceptDecision(ctx context.Context, d *schemas.Decision, pending bool) error {
	if err := c.checkTime(d.Timestamp); err != nil {
		return fmt.Errorf("decision by %s on %s: %w", d.Curator, d.ItemID, err)
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encoding decision: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int
	if err := c.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM decisions WHERE curator = ? AND nonce = ?`, d.Curator, d.Nonce).Scan(&n); err != nil {
		return fmt.Errorf("checking decision nonce: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("decision by %s on %s: %w", d.Curator, d.ItemID, ErrReplay)
	}
	if d.Adjudication {
		if err := c.checkAdjudicatorLocked(ctx, d.Curator); err != nil {
			return fmt.Errorf("decision by %s on %s: %w", d.Curator, d.ItemID, err)
		}
	}
	due := int64(0)
	if pending {
		due = c.cfg.Now().Add(c.cfg.UndoWindow).UnixNano()
	}
	if _, err := c.db.ExecContext(ctx, `INSERT INTO decisions(curator, nonce, item_id, action, adjudication, ts, raw, pending, due_at)
		VALUES(?,?,?,?,?,?,?,?,?)`, d.Curator, d.Nonce, d.ItemID, d.Action, d.Adjudication, d.Timestamp.UnixNano(), raw, pending, due); err != nil {
		return fmt.Errorf("storing decision by %s on %s: %w", d.Curator, d.ItemID, err)
	}
	if pending {
		return nil
	}
	return c.tallyLocked(ctx, d.ItemID)
}

// checkAdjudicatorLocked applies the static part of the adjudicator rule;
// whether the adjudicator voted on the item is checked when tallying.
func (c *Curator) checkAdjudicatorLocked(ctx context.Context, who string) error {
	if len(c.cfg.Adjudicators) > 0 {
		if !slices.Contains(c.cfg.Adjudicators, who) {
			return ErrNotAdjudicator
		}
		return nil
	}
	w, err := c.weightsLocked(ctx)
	if err != nil {
		return err
	}
	if w.of(who) < c.cfg.AdjudicatorMinWeight {
		return fmt.Errorf("%w: weight %.2f is below %.2f", ErrNotAdjudicator, w.of(who), c.cfg.AdjudicatorMinWeight)
	}
	return nil
}

// announce signs and publishes an item for other curators.
func (c *Curator) announce(ctx context.Context, it *Item) error {
	body, err := json.Marshal(it)
	if err != nil {
		return fmt.Errorf("encoding item %s: %w", it.ID, err)
	}
	a := schemas.ItemAnnouncement{Source: c.self, SentAt: c.cfg.Now().UTC(), Nonce: newNonce(), Item: body}
	if a.Signature, err = c.key.Sign(a.SigningBytes()); err != nil {
		return fmt.Errorf("signing item %s: %w", it.ID, err)
	}
	if _, err := c.db.ExecContext(ctx, `INSERT OR IGNORE INTO seen_items(source, nonce) VALUES(?, ?)`, a.Source, a.Nonce); err != nil {
		return fmt.Errorf("recording item announcement: %w", err)
	}
	data, err := json.Marshal(schemas.CurationMessage{Version: schemas.CurationWireVersion, Item: &a})
	if err != nil {
		return fmt.Errorf("encoding item %s: %w", it.ID, err)
	}
	if err := c.keepAnnouncement(ctx, it.ID, data); err != nil {
		return err
	}
	if c.cfg.Bus == nil {
		return nil
	}
	if err := c.cfg.Bus.Publish(ctx, data); err != nil {
		return fmt.Errorf("publishing curation message: %w", err)
	}
	return nil
}

// keepAnnouncement stores the signed wire form an item arrived with (or
// was first announced in), to resend it verbatim to late curators.
func (c *Curator) keepAnnouncement(ctx context.Context, itemID string, data []byte) error {
	if _, err := c.db.ExecContext(ctx, `INSERT OR IGNORE INTO item_announcements(item_id, raw) VALUES(?, ?)`, itemID, data); err != nil {
		return fmt.Errorf("storing the announcement of item %s: %w", itemID, err)
	}
	return nil
}

// acceptItem stores an item announced by a trusted source; data is the
// message's wire form, kept for backfill.
func (c *Curator) acceptItem(ctx context.Context, a *schemas.ItemAnnouncement, data []byte) error {
	if a.Source != c.self && !slices.Contains(c.cfg.ItemSources, a.Source) {
		return fmt.Errorf("item from %s: %w (add it to ItemSources to accept its items)", a.Source, ErrUntrusted)
	}
	res, err := c.db.ExecContext(ctx, `INSERT OR IGNORE INTO seen_items(source, nonce) VALUES(?, ?)`, a.Source, a.Nonce)
	if err != nil {
		return fmt.Errorf("recording item announcement: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("item from %s: %w", a.Source, ErrReplay)
	}
	var it Item
	if err := json.Unmarshal(a.Item, &it); err != nil {
		return fmt.Errorf("item from %s: decoding: %w", a.Source, err)
	}
	if err := it.Validate(); err != nil {
		return fmt.Errorf("item from %s: %w", a.Source, err)
	}
	added, err := c.storeItem(ctx, &it)
	if err != nil || !added {
		return err
	}
	return c.keepAnnouncement(ctx, it.ID, data)
}

func (c *Curator) acceptRule(ctx context.Context, r *schemas.ExtractionRule) error {
	if _, err := rules.Compile(*r); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w, err := c.weightsLocked(ctx)
	if err != nil {
		return err
	}
	if w.of(r.Author) < c.cfg.RuleMinWeight {
		return fmt.Errorf("rule for %s by %s: %w: weight %.2f is below %.2f", r.Domain, r.Author, ErrUntrusted, w.of(r.Author), c.cfg.RuleMinWeight)
	}
	return c.storeRuleLocked(ctx, r)
}

func (c *Curator) storeRuleLocked(ctx context.Context, r *schemas.ExtractionRule) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding rule: %w", err)
	}
	res, err := c.db.ExecContext(ctx, `INSERT OR IGNORE INTO rules(domain, rule_version, author, nonce, created_at, raw) VALUES(?,?,?,?,?,?)`,
		r.Domain, r.RuleVersion, r.Author, r.Nonce, r.CreatedAt.UnixNano(), raw)
	if err != nil {
		return fmt.Errorf("storing rule for %s: %w", r.Domain, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("rule for %s v%d by %s: %w", r.Domain, r.RuleVersion, r.Author, ErrReplay)
	}
	return nil
}

func (c *Curator) publish(ctx context.Context, m schemas.CurationMessage) error {
	if c.cfg.Bus == nil {
		return nil
	}
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding curation message: %w", err)
	}
	if err := c.cfg.Bus.Publish(ctx, data); err != nil {
		return fmt.Errorf("publishing curation message: %w", err)
	}
	return nil
}
