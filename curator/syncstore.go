package curator

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// This file is the host-agnostic half of backfill: which messages a page
// holds, and how a received page is applied. sync.go carries pages over a
// libp2p stream.

// BackfillPage is one page of what a curator holds, for a curator who
// joined late: the open items and the published decisions, each in the
// signed wire form gossip carries.
type BackfillPage struct {
	// Messages are schemas.CurationMessage JSON, items before decisions.
	Messages [][]byte
	// Cursor asks for the next page, or, when More is false, for what
	// arrives later.
	Cursor string
	// More says another page is ready now.
	More bool
}

// BackfillStats counts what a backfill did with the messages it received.
type BackfillStats struct {
	// Pages and Messages received.
	Pages, Messages int
	// Stored messages were new and passed every check.
	Stored int
	// Duplicates were already here (ErrReplay): harmless.
	Duplicates int
	// Refused messages failed a check (untrusted item source, stale
	// decision, ...); Errors keeps the first few reasons.
	Refused int
	Errors  []error
}

func (s *BackfillStats) add(o BackfillStats) {
	s.Pages += o.Pages
	s.Messages += o.Messages
	s.Stored += o.Stored
	s.Duplicates += o.Duplicates
	s.Refused += o.Refused
	for _, e := range o.Errors {
		if len(s.Errors) < maxBackfillErrors {
			s.Errors = append(s.Errors, e)
		}
	}
}

const maxBackfillErrors = 8

// syncCursor says where the previous page ended in the responder's store:
// the last item row and the last decision row sent. Store names the
// responder's database, so a cursor into a store that was since recreated
// starts over instead of skipping its rows.
type syncCursor struct {
	store         string
	item, decided int64
}

const cursorPrefix = "c1"

func (c syncCursor) String() string {
	return fmt.Sprintf("%s.%s.%d.%d", cursorPrefix, c.store, c.item, c.decided)
}

// parseCursor reads a cursor; "" is the start.
func parseCursor(s string) (syncCursor, error) {
	if s == "" {
		return syncCursor{}, nil
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 || parts[0] != cursorPrefix {
		return syncCursor{}, fmt.Errorf("backfill cursor %q: want %s.STORE.ITEM.DECISION", s, cursorPrefix)
	}
	if _, err := hex.DecodeString(parts[1]); err != nil || len(parts[1]) != 32 || strings.ToLower(parts[1]) != parts[1] {
		return syncCursor{}, fmt.Errorf("backfill cursor %q: bad store id", s)
	}
	item, err1 := strconv.ParseInt(parts[2], 10, 64)
	dec, err2 := strconv.ParseInt(parts[3], 10, 64)
	// Only the canonical form, so that a cursor prints back as itself.
	if err1 != nil || err2 != nil || item < 0 || dec < 0 ||
		strconv.FormatInt(item, 10) != parts[2] || strconv.FormatInt(dec, 10) != parts[3] {
		return syncCursor{}, fmt.Errorf("backfill cursor %q: bad row numbers", s)
	}
	return syncCursor{store: parts[1], item: item, decided: dec}, nil
}

// storeID names this curator's database for cursors; it is created on
// first use.
func (c *Curator) storeID(ctx context.Context) (string, error) {
	id, err := c.setting(ctx, "sync_store_id")
	if err != nil || id != "" {
		return id, err
	}
	id = newNonce()
	if _, err := c.db.ExecContext(ctx, `INSERT OR IGNORE INTO settings(key, value) VALUES('sync_store_id', ?)`, id); err != nil {
		return "", fmt.Errorf("creating the store id: %w", err)
	}
	return c.setting(ctx, "sync_store_id")
}

// BackfillPage returns up to limit messages (0: schemas.MaxCurateSyncPage)
// after cursor ("" for everything): first the open and adjudication items,
// each in its original signed announcement (an item this curator queued
// without a bus is announced now, signed by this curator), then every
// published decision in the order this curator stored it, in its stored
// signed form. Decisions older than MaxDecisionAge, which no curator would
// accept, and this curator's decisions still inside their undo window are
// left out. A cursor from a store that no longer exists starts over.
func (c *Curator) BackfillPage(ctx context.Context, cursor string, limit int) (*BackfillPage, error) {
	cur, err := parseCursor(cursor)
	if err != nil {
		return nil, err
	}
	store, err := c.storeID(ctx)
	if err != nil {
		return nil, err
	}
	if cur.store != store {
		cur = syncCursor{store: store}
	}
	if limit <= 0 || limit > schemas.MaxCurateSyncPage {
		limit = schemas.MaxCurateSyncPage
	}
	page := &BackfillPage{}
	size := 0
	// fits adds a message unless it would break the page's byte bound.
	fits := func(data []byte) bool {
		if len(page.Messages) >= limit || (len(page.Messages) > 0 && size+len(data) > schemas.MaxCurateSyncPageBytes) {
			page.More = true
			return false
		}
		page.Messages = append(page.Messages, data)
		size += len(data)
		return true
	}
	if err := c.backfillItems(ctx, &cur, limit, fits); err != nil {
		return nil, err
	}
	if !page.More {
		firstPending, err := c.backfillDecisions(ctx, &cur, limit-len(page.Messages), fits)
		if err != nil {
			return nil, err
		}
		// A decision of ours still in its undo window has a row number
		// below later ones; the cursor must not pass it, or it would never
		// be sent. Pinning only the last page keeps paging moving; the
		// next backfill resends a few duplicates, which are harmless.
		if !page.More && firstPending > 0 && firstPending <= cur.decided {
			cur.decided = firstPending - 1
		}
	}
	page.Cursor = cur.String()
	return page, nil
}

type backfillRow struct {
	rowid int64
	id    string
	raw   []byte
	body  string
}

func (c *Curator) backfillItems(ctx context.Context, cur *syncCursor, limit int, fits func([]byte) bool) error {
	// One more row than fits tells whether another page follows.
	rows, err := c.db.QueryContext(ctx, `SELECT i.rowid, i.id, a.raw, i.body FROM items i
		LEFT JOIN item_announcements a ON a.item_id = i.id
		WHERE i.rowid > ? AND i.state != ? ORDER BY i.rowid LIMIT ?`, cur.item, StateSettled, limit+1)
	if err != nil {
		return fmt.Errorf("reading items for backfill: %w", err)
	}
	var list []backfillRow
	for rows.Next() {
		var r backfillRow
		if err := rows.Scan(&r.rowid, &r.id, &r.raw, &r.body); err != nil {
			rows.Close()
			return fmt.Errorf("reading items for backfill: %w", err)
		}
		list = append(list, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading items for backfill: %w", err)
	}
	for _, r := range list {
		data := r.raw
		if data == nil {
			if data, err = c.announcementFor(ctx, r.id, r.body); err != nil {
				return err
			}
		}
		if len(data) > schemas.MaxMessageSize {
			c.log.Warn("backfill: item too large to send", logkey.Item, r.id, "bytes", len(data))
			cur.item = r.rowid
			continue
		}
		if !fits(data) {
			return nil
		}
		cur.item = r.rowid
	}
	return nil
}

// announcementFor signs an announcement of an item that was queued without
// one (no bus), and keeps it so every later page sends the same bytes. A
// gold item goes out in its wire form, without its answer.
func (c *Curator) announcementFor(ctx context.Context, itemID, body string) ([]byte, error) {
	var it Item
	if err := json.Unmarshal([]byte(body), &it); err != nil {
		return nil, fmt.Errorf("decoding item %s: %w", itemID, err)
	}
	wire, err := wireItem(&it)
	if err != nil {
		return nil, err
	}
	a := schemas.ItemAnnouncement{Source: c.self, SentAt: c.cfg.Now().UTC(), Nonce: newNonce(), Item: wire}
	if a.Signature, err = c.key.Sign(a.SigningBytes()); err != nil {
		return nil, fmt.Errorf("signing item %s: %w", itemID, err)
	}
	data, err := json.Marshal(schemas.CurationMessage{Version: schemas.CurationWireVersion, Item: &a})
	if err != nil {
		return nil, fmt.Errorf("encoding item %s: %w", itemID, err)
	}
	if _, err := c.db.ExecContext(ctx, `INSERT OR IGNORE INTO seen_items(source, nonce) VALUES(?, ?)`, a.Source, a.Nonce); err != nil {
		return nil, fmt.Errorf("recording item announcement: %w", err)
	}
	if err := c.keepAnnouncement(ctx, itemID, data); err != nil {
		return nil, err
	}
	// Another page may have raced us to it: send what is stored.
	var raw []byte
	if err := c.db.QueryRowContext(ctx, `SELECT raw FROM item_announcements WHERE item_id = ?`, itemID).Scan(&raw); err != nil {
		return nil, fmt.Errorf("reading the announcement of item %s: %w", itemID, err)
	}
	return raw, nil
}

// backfillDecisions adds decisions after the cursor and returns the row of
// the first decision of ours still in its undo window (0: none).
func (c *Curator) backfillDecisions(ctx context.Context, cur *syncCursor, limit int, fits func([]byte) bool) (int64, error) {
	oldest := c.cfg.Now().Add(-c.cfg.MaxDecisionAge).UnixNano()
	c.mu.Lock()
	rows, err := c.db.QueryContext(ctx, `SELECT rowid, item_id, raw FROM decisions
		WHERE rowid > ? AND pending = 0 AND ts >= ? ORDER BY rowid LIMIT ?`, cur.decided, oldest, limit+1)
	if err != nil {
		c.mu.Unlock()
		return 0, fmt.Errorf("reading decisions for backfill: %w", err)
	}
	var list []backfillRow
	for rows.Next() {
		var r backfillRow
		if err := rows.Scan(&r.rowid, &r.id, &r.raw); err != nil {
			rows.Close()
			c.mu.Unlock()
			return 0, fmt.Errorf("reading decisions for backfill: %w", err)
		}
		list = append(list, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		c.mu.Unlock()
		return 0, fmt.Errorf("reading decisions for backfill: %w", err)
	}
	var firstPending sql.NullInt64
	err = c.db.QueryRowContext(ctx, `SELECT MIN(rowid) FROM decisions WHERE pending = 1`).Scan(&firstPending)
	c.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("reading pending decisions for backfill: %w", err)
	}
	for _, r := range list {
		// The stored bytes are the signed decision; wrap them verbatim.
		data := make([]byte, 0, len(r.raw)+32)
		data = append(data, `{"v":`...)
		data = strconv.AppendInt(data, schemas.CurationWireVersion, 10)
		data = append(data, `,"decision":`...)
		data = append(data, r.raw...)
		data = append(data, '}')
		if len(data) > schemas.MaxMessageSize {
			c.log.Warn("backfill: decision too large to send", logkey.Item, r.id, "bytes", len(data))
			cur.decided = r.rowid
			continue
		}
		if !fits(data) {
			break
		}
		cur.decided = r.rowid
	}
	return firstPending.Int64, nil
}

// ApplyBackfill runs each message through Receive, exactly as if it had
// come by gossip, and counts the outcome. It fails only when ctx ends;
// refused messages are counted in the stats.
func (c *Curator) ApplyBackfill(ctx context.Context, msgs [][]byte) (BackfillStats, error) {
	st := BackfillStats{Messages: len(msgs)}
	for _, m := range msgs {
		err := c.Receive(ctx, m)
		switch {
		case err == nil:
			st.Stored++
		case ctx.Err() != nil:
			return st, fmt.Errorf("applying backfill: %w", ctx.Err())
		case errors.Is(err, ErrReplay):
			st.Duplicates++
		default:
			st.Refused++
			if len(st.Errors) < maxBackfillErrors {
				st.Errors = append(st.Errors, err)
			}
		}
	}
	return st, nil
}
