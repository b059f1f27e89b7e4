package curator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/swardnet/sward/curator/rules"
	"github.com/swardnet/sward/internal/logkey"
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
				c.log.Debug("dropped curation message", logkey.Err, err)
			case ctx.Err() != nil:
				return
			default:
				c.log.Warn("dropped curation message", logkey.Err, err)
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

// checkAdjudicatorLocked applies the static part of the adjudicator rule:
// only the queue's owners and the curators the owner named (Adjudicators)
// may adjudicate, whatever their weight. Whether the adjudicator voted on
// the item is checked when tallying.
func (c *Curator) checkAdjudicatorLocked(_ context.Context, who string) error {
	if !c.mayAdjudicate(who) {
		return fmt.Errorf("%w: %s is not an adjudicator the dataset owner named (Adjudicators)", ErrNotAdjudicator, who)
	}
	return nil
}

// wireItem is the form of an item that leaves this process: a gold item
// goes out as a review item with no answer, so that nobody but the queue's
// owner can tell it from any other item (gold answers never travel).
func wireItem(it *Item) ([]byte, error) {
	out := *it
	if out.Kind == KindGold {
		out.Kind = KindReview
	}
	out.Gold = nil
	body, err := json.Marshal(&out)
	if err != nil {
		return nil, fmt.Errorf("encoding item %s: %w", it.ID, err)
	}
	return body, nil
}

// announce signs and publishes an item for other curators.
func (c *Curator) announce(ctx context.Context, it *Item) error {
	body, err := wireItem(it)
	if err != nil {
		return err
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
	if it.Kind == KindGold || it.Gold != nil {
		// A source that announces a gold answer leaks it to every peer;
		// refuse it so the mistake shows.
		return fmt.Errorf("item %s from %s: %w: gold items must not travel with their answer", it.ID, a.Source, ErrUntrusted)
	}
	added, err := c.storeItem(ctx, &it)
	if err != nil || !added {
		return err
	}
	return c.keepAnnouncement(ctx, it.ID, data)
}

// acceptRule stores a rule from a curator the owner trusts (an owner or a
// Trusted curator) and gives it this process's next version for its
// domain. The version the author signed is not what orders rules: a
// gossiped "version 1,000,000" wins nothing.
func (c *Curator) acceptRule(ctx context.Context, r *schemas.ExtractionRule) error {
	if _, err := rules.Compile(*r); err != nil {
		return err
	}
	if !c.isTrusted(r.Author) {
		return fmt.Errorf("rule for %s by %s: %w: only the owner and the curators it trusts (Trusted) may publish rules", r.Domain, r.Author, ErrUntrusted)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.storeRuleLocked(ctx, r)
	return err
}

// storeRuleLocked stores a verified rule and returns the version this
// process assigned it: one more than the domain's newest.
func (c *Curator) storeRuleLocked(ctx context.Context, r *schemas.ExtractionRule) (int, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encoding rule: %w", err)
	}
	var n int
	if err := c.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM rules WHERE nonce = ? OR (domain = ? AND rule_version = ? AND author = ?)`,
		r.Nonce, r.Domain, r.RuleVersion, r.Author).Scan(&n); err != nil {
		return 0, fmt.Errorf("storing rule for %s: %w", r.Domain, err)
	}
	if n > 0 {
		return 0, fmt.Errorf("rule for %s v%d by %s: %w", r.Domain, r.RuleVersion, r.Author, ErrReplay)
	}
	var assigned int
	if err := c.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(assigned), 0) + 1 FROM rules WHERE domain = ?`, r.Domain).Scan(&assigned); err != nil {
		return 0, fmt.Errorf("storing rule for %s: %w", r.Domain, err)
	}
	if _, err := c.db.ExecContext(ctx, `INSERT INTO rules(domain, rule_version, author, nonce, created_at, raw, assigned) VALUES(?,?,?,?,?,?,?)`,
		r.Domain, r.RuleVersion, r.Author, r.Nonce, r.CreatedAt.UnixNano(), raw, assigned); err != nil {
		return 0, fmt.Errorf("storing rule for %s: %w", r.Domain, err)
	}
	return assigned, nil
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
