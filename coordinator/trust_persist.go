package coordinator

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"time"
)

// Durable trust state: what the coordinator knows of each node beyond its
// ledger counts (probation, lapses, failed checks, the networks it was
// seen from) and its escrow (each credit's time, bytes and the own checks
// it waits for, the forfeits). Without it a liar would only have to wait
// for a coordinator restart to leave probation or see its escrow vest at
// once. It is one JSON record per node in coord_trust, written with the
// rest of the verification state by saveState (same group-committed
// update) and read by setupTrust.

// createTrustSQL makes the table on first use (a database written before
// it existed has none).
const createTrustSQL = `CREATE TABLE IF NOT EXISTS coord_trust(peer TEXT PRIMARY KEY, body BLOB NOT NULL)`

// trustRecord is one node's durable trust state.
type trustRecord struct {
	Credited  int64      `json:"credited"`
	Verified  int64      `json:"verified"`
	Lapses    int64      `json:"lapses"`
	Failed    int64      `json:"failed"`
	Prefixes  []string   `json:"prefixes,omitempty"`
	OwnChecks int64      `json:"own_checks"`
	Escrow    [][3]int64 `json:"escrow,omitempty"` // at (Unix ns), bytes, own checks at the grant
	Forfeit   Forfeit    `json:"forfeit"`
}

// trustSave is a node's record to write.
type trustSave struct {
	peer string
	rec  trustRecord
}

// trustSaveEvery is how often saveState writes trust records: a busy
// node's escrow holds a day of credits, too much to write per capture.
// A crash loses at most this much of the trust state.
const trustSaveEvery = time.Second

// takeTrustDirty returns the records of the nodes whose trust state or
// escrow changed since the last call and forgets that they changed;
// nothing when the last one was less than trustSaveEvery ago (saveState
// runs at least every second, from sweepChecks, and takes them then).
func (c *Coordinator) takeTrustDirty() []trustSave {
	now := time.Now().UnixNano()
	if last := c.trust.saved.Load(); now-last < int64(trustSaveEvery) || !c.trust.saved.CompareAndSwap(last, now) {
		return nil
	}
	peers := c.trust.takeDirty()
	for _, p := range c.ledger.takeEscrowDirty() {
		peers[p] = true
	}
	if len(peers) == 0 {
		return nil
	}
	out := make([]trustSave, 0, len(peers))
	for p := range peers {
		out = append(out, trustSave{peer: p})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].peer < out[j].peer })
	for i := range out {
		c.trust.fill(out[i].peer, &out[i].rec)
		c.ledger.fillEscrow(out[i].peer, &out[i].rec)
	}
	return out
}

// putBackTrust marks records taken by takeTrustDirty as changed again.
func (c *Coordinator) putBackTrust(ts []trustSave) {
	for _, s := range ts {
		c.trust.markDirty(s.peer)
	}
}

// writeTrust writes records in saveState's transaction.
func writeTrust(ctx context.Context, tx *sql.Tx, ts []trustSave) error {
	if len(ts) == 0 {
		return nil
	}
	// loadTrust created the table.
	for _, s := range ts {
		body, err := json.Marshal(s.rec)
		if err != nil {
			return fmt.Errorf("encode trust of %s: %w", s.peer, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO coord_trust(peer, body) VALUES(?, ?)
			ON CONFLICT(peer) DO UPDATE SET body = excluded.body`, s.peer, body); err != nil {
			return fmt.Errorf("save trust of %s: %w", s.peer, err)
		}
	}
	return nil
}

// loadTrust restores the records saveState wrote.
func (c *Coordinator) loadTrust(ctx context.Context) error {
	recs := map[string]trustRecord{}
	err := c.frontier.Update(ctx, "load trust state", func(tx *sql.Tx) error {
		clear(recs)
		if _, err := tx.ExecContext(ctx, createTrustSQL); err != nil {
			return fmt.Errorf("create coord_trust: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT peer, body FROM coord_trust`)
		if err != nil {
			return fmt.Errorf("read coord_trust: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				p    string
				body []byte
				rec  trustRecord
			)
			if err := rows.Scan(&p, &body); err != nil {
				return fmt.Errorf("read coord_trust: %w", err)
			}
			if err := json.Unmarshal(body, &rec); err != nil {
				return fmt.Errorf("trust record of %s is corrupt (delete its coord_trust row to start the node on probation again): %w", p, err)
			}
			recs[p] = rec
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("loading trust state: %w", err)
	}
	for p, rec := range recs {
		c.trust.restore(p, rec)
		c.ledger.restoreEscrow(p, rec)
	}
	if len(recs) > 0 {
		c.log.Info("trust state restored", "nodes", len(recs))
	}
	return nil
}

// markDirty notes that node's trust state changed.
func (t *trustBook) markDirty(node string) {
	t.mu.Lock()
	t.dirty[node] = struct{}{}
	t.mu.Unlock()
}

// takeDirty returns the nodes whose state changed and forgets them.
func (t *trustBook) takeDirty() map[string]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]bool, len(t.dirty))
	for n := range t.dirty {
		out[n] = true
		delete(t.dirty, n)
	}
	return out
}

// fill copies node's trust state into rec.
func (t *trustBook) fill(node string, rec *trustRecord) {
	t.mu.Lock()
	defer t.mu.Unlock()
	nt := t.nodes[node]
	if nt == nil {
		return
	}
	rec.Credited, rec.Verified, rec.Lapses, rec.Failed = nt.credited, nt.verified, nt.lapses, nt.failed
	rec.Prefixes = rec.Prefixes[:0]
	for p := range nt.prefixes {
		rec.Prefixes = append(rec.Prefixes, p.String())
	}
	sort.Strings(rec.Prefixes)
}

// restore sets node's trust state from a saved record.
func (t *trustBook) restore(node string, rec trustRecord) {
	t.mu.Lock()
	defer t.mu.Unlock()
	nt := t.node(node)
	nt.credited, nt.verified, nt.lapses, nt.failed = rec.Credited, rec.Verified, rec.Lapses, rec.Failed
	for _, s := range rec.Prefixes {
		if p, err := netip.ParsePrefix(s); err == nil {
			nt.prefixes[p] = true
		}
	}
}

// takeEscrowDirty returns the peers whose escrow changed and forgets them.
func (l *Ledger) takeEscrowDirty() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.escrowDirty))
	for p := range l.escrowDirty {
		out = append(out, p)
		delete(l.escrowDirty, p)
	}
	return out
}

// fillEscrow copies p's escrow, own checks and forfeits into rec.
func (l *Ledger) fillEscrow(p string, rec *trustRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec.OwnChecks = l.ownChecks[p]
	rec.Forfeit = l.forfeited[p]
	// Vested grants stay vested (time and checks only grow): drop them.
	now := time.Now()
	kept := l.escrow[p][:0]
	for _, g := range l.escrow[p] {
		if !l.vestedLocked(p, g, now) {
			kept = append(kept, g)
		}
	}
	l.escrow[p] = kept
	rec.Escrow = rec.Escrow[:0]
	for _, g := range l.escrow[p] {
		rec.Escrow = append(rec.Escrow, [3]int64{g.at.UnixNano(), g.bytes, g.checks})
	}
}

// restoreEscrow sets p's escrow, own checks and forfeits from a record.
func (l *Ledger) restoreEscrow(p string, rec trustRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ownChecks[p] = rec.OwnChecks
	if rec.Forfeit != (Forfeit{}) {
		l.forfeited[p] = rec.Forfeit
	}
	gs := make([]grant, 0, len(rec.Escrow))
	for _, g := range rec.Escrow {
		gs = append(gs, grant{at: time.Unix(0, g[0]), bytes: g[1], checks: g[2]})
	}
	l.escrow[p] = gs
}
