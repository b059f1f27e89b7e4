package coordinator

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/swardnet/sward/internal/logkey"
)

// Durable receipts. Every receipt is written to coord_receipts by the
// saveState that follows its credit (the same group-committed update as
// the ledger entry it accounts for), and the signing key's seed is kept in
// coord_meta: after a restart a node owner still gets every receipt of
// the last maxReceiptsPerPeer, and each still verifies against the key the
// ledger publishes. Sequence numbers go on from the highest saved.

// createReceiptsSQL makes the table on first use (a database written
// before it existed has none).
const createReceiptsSQL = `CREATE TABLE IF NOT EXISTS coord_receipts(
	peer TEXT NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY(peer, seq)) WITHOUT ROWID`

// receiptSave is what one saveState writes of the receipt book.
type receiptSave struct {
	issued []Receipt
	trim   map[string]uint64
}

// takeUnsaved returns the receipts issued and the trims made since the
// last call, and forgets them.
func (b *receiptBook) takeUnsaved() receiptSave {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := receiptSave{issued: b.unsaved}
	if len(b.trim) > 0 {
		s.trim = b.trim
		b.trim = make(map[string]uint64)
	}
	b.unsaved = nil
	return s
}

// putBack returns what a failed save took, to be written by the next.
func (b *receiptBook) putBack(s receiptSave) {
	if len(s.issued) == 0 && len(s.trim) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.unsaved = slices.Concat(s.issued, b.unsaved)
	for p, seq := range s.trim {
		b.trim[p] = max(b.trim[p], seq)
	}
}

// writeReceipts writes s in saveState's transaction.
func writeReceipts(ctx context.Context, tx *sql.Tx, s receiptSave) error {
	// loadReceipts created the table.
	for _, r := range s.issued {
		body, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode receipt %d of %s: %w", r.Seq, r.Peer, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO coord_receipts(peer, seq, body) VALUES(?, ?, ?)`, r.Peer, r.Seq, body); err != nil {
			return fmt.Errorf("save receipt %d of %s: %w", r.Seq, r.Peer, err)
		}
	}
	for p, seq := range s.trim {
		if _, err := tx.ExecContext(ctx, `DELETE FROM coord_receipts WHERE peer = ? AND seq < ?`, p, seq); err != nil {
			return fmt.Errorf("drop old receipts of %s: %w", p, err)
		}
	}
	return nil
}

// loadReceipts restores the receipts saveState wrote.
func (c *Coordinator) loadReceipts(ctx context.Context) error {
	var rs []Receipt
	err := c.frontier.Update(ctx, "load receipts", func(tx *sql.Tx) error {
		rs = rs[:0]
		if _, err := tx.ExecContext(ctx, createReceiptsSQL); err != nil {
			return fmt.Errorf("create coord_receipts: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT peer, seq, body FROM coord_receipts ORDER BY peer, seq`)
		if err != nil {
			return fmt.Errorf("read coord_receipts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				peer string
				seq  uint64
				body []byte
				r    Receipt
			)
			if err := rows.Scan(&peer, &seq, &body); err != nil {
				return fmt.Errorf("read coord_receipts: %w", err)
			}
			if err := json.Unmarshal(body, &r); err != nil || r.Peer != peer || r.Seq != seq {
				// One bad row costs its owner that receipt, not the start.
				c.log.Warn("skipping a corrupt saved receipt", logkey.Node, peer, "seq", seq, logkey.Err, err)
				continue
			}
			rs = append(rs, r)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("loading receipts: %w", err)
	}
	c.receipts.restore(rs)
	return nil
}

// restore sets the book from saved receipts (ordered by peer, then
// sequence number), keeping the newest maxReceiptsPerPeer of each peer.
func (b *receiptBook) restore(rs []Receipt) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range rs {
		b.by[r.Peer] = append(b.by[r.Peer], r)
		b.seq = max(b.seq, r.Seq)
	}
	for p, list := range b.by {
		slices.SortFunc(list, func(x, y Receipt) int { return cmp.Compare(x.Seq, y.Seq) })
		if len(list) > maxReceiptsPerPeer {
			b.by[p] = list[len(list)-maxReceiptsPerPeer:]
			b.trim[p] = b.by[p][0].Seq
		}
	}
}
