package coordinator

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

// Durable verification state. The ledger, the quarantined peers, each
// peer's contributions to the next dataset versions and the open
// verification checks live in memory, where ingest reads them, and in the
// frontier's SQLite database (schema 3 in frontier/store.go, written with
// frontier.Update), so that a coordinator that crashed or was restarted
// carries on where it stopped.
//
// Writing is write-through with group commit: every change marks what it
// touched as dirty under the lock that guards it, and the code that made
// the change then calls saveState, which, in a frontier.UpdateLazy, takes
// every dirty item, reads its current state and writes it (or deletes its
// row when it is gone from memory). The frontier runs its updates one
// after the other under its write lock, and commits those that queue up
// together in one transaction, so concurrent ingest workers share
// transactions: whoever's update runs first writes everyone's changes, and
// the others find nothing left to write. Because the snapshot is taken
// inside the update and updates are serial, the database never goes back
// to an older state. A failed save marks its items dirty again.
//
// Open checks survive a restart with their original fingerprint (its
// status, MinHash signature, redirect and error mark; the shingles are not kept, so a
// restored fingerprint is compared by signature), the fingerprints of the
// fetches already received and the nodes that answered; only their
// assignment (which node is fetching right now) is not saved: after a
// restart every check is unassigned and offered again, and its timeout
// starts again from the restart. A re-fetch that was on its way when the
// coordinator stopped is then not a verification any more; it arrives as
// a capture without a lease and is dropped. Redirected documents held for
// their check, those sent to review included, are saved in coord_held
// (held_persist.go).

// Names of the secrets in coord_meta: the sampling secret and the seed of
// the receipt signing key.
const (
	secretKey      = "verify_secret"
	receiptSeedKey = "receipt_key_seed"
)

// loadSecret returns the 32-byte secret named name kept in f, drawing one
// with read and storing it the first time.
func loadSecret(ctx context.Context, f *frontier.Frontier, name string, read func([]byte) (int, error)) ([]byte, error) {
	var secret []byte
	err := f.Update(ctx, "load the secret "+name, func(tx *sql.Tx) error {
		secret = nil
		err := tx.QueryRowContext(ctx, `SELECT value FROM coord_meta WHERE key = ?`, name).Scan(&secret)
		if err == nil && len(secret) > 0 {
			return nil
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read %s: %w", name, err)
		}
		secret = make([]byte, 32)
		if _, err := read(secret); err != nil {
			return fmt.Errorf("draw %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO coord_meta(key, value) VALUES(?, ?)`, name, secret); err != nil {
			return fmt.Errorf("store %s: %w", name, err)
		}
		return nil
	})
	return secret, err
}

// ownChecksValue is a contribution's own-check count as saved: NULL when
// unknown (restored from before schema 5 and not swept since).
func ownChecksValue(n int64) any {
	if n < 0 {
		return nil
	}
	return n
}

// contribSave is a contribution as it is to be saved: a copy, or nil when
// it was taken out or forgotten.
type contribSave struct {
	key contribKey
	ct  *contribution
}

// takeContribDirty returns the contributions changed since the last call
// and forgets that they changed.
func (c *Coordinator) takeContribDirty() []contribSave {
	c.contribMu.Lock()
	defer c.contribMu.Unlock()
	if len(c.contribDirty) == 0 {
		return nil
	}
	out := make([]contribSave, 0, len(c.contribDirty))
	for k := range c.contribDirty {
		delete(c.contribDirty, k)
		if ct := c.contrib[k.peer][k.key]; ct != nil {
			cp := *ct
			out = append(out, contribSave{key: k, ct: &cp})
		} else {
			out = append(out, contribSave{key: k})
		}
	}
	return out
}

// saveState writes every change to the ledger, the contributions and the
// checks made so far, in one lazy frontier update; see the top of this
// file. It returns when they are committed (or were committed by a
// concurrent call).
func (c *Coordinator) saveState(ctx context.Context) error {
	stmts, err := c.stateStmts(ctx)
	if err != nil {
		return fmt.Errorf("save verification state: %w", err)
	}
	var (
		taken    bool
		ledger   []schemas.LedgerEntry
		checks   []checkSave
		contribs []contribSave
		trust    []trustSave
		receipts receiptSave
		held     []heldSave
	)
	err = c.frontier.UpdateLazy(ctx, "save verification state", func(tx *sql.Tx) error {
		// Taken once, under the frontier's write lock: if the update runs
		// again (its transaction was lost), it writes the same items.
		if !taken {
			ledger = c.ledger.takeDirty()
			checks = c.verify.takeDirty()
			contribs = c.takeContribDirty()
			trust = c.takeTrustDirty()
			receipts = c.receipts.takeUnsaved()
			held = c.held.takeDirty()
			taken = true
		}
		if err := writeHeld(ctx, tx, held, c.log); err != nil {
			return err
		}
		if err := writeTrust(ctx, tx, trust); err != nil {
			return err
		}
		if err := writeReceipts(ctx, tx, receipts); err != nil {
			return err
		}
		if len(ledger) == 0 && len(checks) == 0 && len(contribs) == 0 {
			return nil
		}
		w := stateTx{ctx: ctx, tx: tx, prepared: stmts, inTx: make(map[string]*sql.Stmt, len(stateSQL))}
		return w.write(ledger, checks, contribs)
	})
	if err != nil {
		c.ledger.putBack(ledger)
		c.verify.putBack(checks)
		c.putBackTrust(trust)
		c.receipts.putBack(receipts)
		c.held.putBack(held)
		c.contribMu.Lock()
		for _, s := range contribs {
			c.contribDirty[s.key] = struct{}{}
		}
		c.contribMu.Unlock()
		return fmt.Errorf("save verification state: %w", err)
	}
	return nil
}

// SQL of saveState.
const (
	upsertLedgerSQL = `INSERT INTO ledger(peer, pages, bytes, verified_pages, verified_bytes, failed, quarantined)
		VALUES(?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(peer) DO UPDATE SET pages = excluded.pages, bytes = excluded.bytes,
			verified_pages = excluded.verified_pages, verified_bytes = excluded.verified_bytes,
			failed = excluded.failed, quarantined = excluded.quarantined`
	upsertContribSQL = `INSERT INTO contributions(peer, job, norm, url, depth, doc_id, decision, verified, at_ns, dedup, own_checks)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(peer, job, norm) DO UPDATE SET url = excluded.url, depth = excluded.depth,
			doc_id = excluded.doc_id, decision = excluded.decision, verified = excluded.verified,
			at_ns = excluded.at_ns, dedup = excluded.dedup, own_checks = excluded.own_checks`
	deleteContribSQL = `DELETE FROM contributions WHERE peer = ? AND job = ? AND norm = ?`
	upsertCheckSQL   = `INSERT INTO checks(job, norm, url, host, depth, orig, orig_status, orig_sig, orig_bytes, created_ns, orig_final, orig_failed)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(job, norm) DO UPDATE SET url = excluded.url, host = excluded.host, depth = excluded.depth,
			orig = excluded.orig, orig_status = excluded.orig_status, orig_sig = excluded.orig_sig,
			orig_bytes = excluded.orig_bytes, created_ns = excluded.created_ns, orig_final = excluded.orig_final,
			orig_failed = excluded.orig_failed`
	deleteCheckSQL   = `DELETE FROM checks WHERE job = ? AND norm = ?`
	deleteAnswersSQL = `DELETE FROM check_answers WHERE job = ? AND norm = ?`
	insertAnswerSQL  = `INSERT INTO check_answers(job, norm, node, seq, usable, status, sig, bytes, final, failed) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// stateStmts returns saveState's statements, prepared once on the
// frontier's write connection (before the update that uses them: the
// connection is busy inside it).
func (c *Coordinator) stateStmts(ctx context.Context) (map[string]*sql.Stmt, error) {
	c.stmtsMu.Lock()
	defer c.stmtsMu.Unlock()
	if c.stmts != nil {
		return c.stmts, nil
	}
	stmts := make(map[string]*sql.Stmt, len(stateSQL))
	for _, q := range stateSQL {
		st, err := c.frontier.Prepare(ctx, q)
		if err != nil {
			for _, st := range stmts {
				st.Close()
			}
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		stmts[q] = st
	}
	c.stmts = stmts
	return stmts, nil
}

// stateSQL lists the statements stateStmts prepares once.
var stateSQL = []string{upsertLedgerSQL, upsertContribSQL, deleteContribSQL, upsertCheckSQL, deleteCheckSQL, deleteAnswersSQL, insertAnswerSQL}

// stateTx runs prepared statements in one transaction.
type stateTx struct {
	ctx      context.Context
	tx       *sql.Tx
	prepared map[string]*sql.Stmt
	inTx     map[string]*sql.Stmt
}

func (w *stateTx) exec(q string, args ...any) error {
	st := w.inTx[q]
	if st == nil {
		st = w.tx.StmtContext(w.ctx, w.prepared[q])
		w.inTx[q] = st
	}
	_, err := st.ExecContext(w.ctx, args...)
	return err
}

func (w *stateTx) write(ledger []schemas.LedgerEntry, checks []checkSave, contribs []contribSave) error {
	for _, e := range ledger {
		if err := w.exec(upsertLedgerSQL, e.Peer, e.Pages, e.Bytes,
			e.VerifiedPages, e.VerifiedBytes, e.Failed, e.Quarantined); err != nil {
			return fmt.Errorf("save ledger entry of %s: %w", e.Peer, err)
		}
	}
	for _, s := range contribs {
		k := s.key
		if s.ct == nil {
			if err := w.exec(deleteContribSQL, k.peer, k.key.job, k.key.url); err != nil {
				return fmt.Errorf("delete contribution of %s to %s: %w", k.peer, k.key.url, err)
			}
			continue
		}
		ct := s.ct
		var dedup []byte
		if ct.dedup != nil {
			dedup = ct.dedup.Marshal()
		}
		if err := w.exec(upsertContribSQL, k.peer, k.key.job, k.key.url, ct.url, ct.depth,
			ct.docID, ct.decision.String(), ct.verified, ct.at.UnixNano(), dedup, ownChecksValue(ct.checks)); err != nil {
			return fmt.Errorf("save contribution of %s to %s: %w", k.peer, k.key.url, err)
		}
	}
	for _, s := range checks {
		k := s.key
		if err := w.exec(deleteAnswersSQL, k.job, k.url); err != nil {
			return fmt.Errorf("save check of %s: %w", k.url, err)
		}
		if s.ck == nil {
			if err := w.exec(deleteCheckSQL, k.job, k.url); err != nil {
				return fmt.Errorf("delete check of %s: %w", k.url, err)
			}
			continue
		}
		ck := s.ck
		if err := w.exec(upsertCheckSQL, k.job, k.url, ck.url, ck.host, ck.depth, ck.orig,
			ck.origFP.status, encodeSig(ck.origFP.sig), ck.origBytes, ck.created.UnixNano(), saveFinal(ck.origFP), ck.origFP.failed); err != nil {
			return fmt.Errorf("save check of %s: %w", k.url, err)
		}
		// The usable fetches in arrival order, then the nodes that
		// answered without one (a transient failure, or a fetch that
		// stopped counting when its node was quarantined).
		usable := make(map[string]bool, len(ck.fetches))
		for i, fr := range ck.fetches {
			usable[fr.node] = true
			if err := w.exec(insertAnswerSQL, k.job, k.url, fr.node, i, true,
				fr.fp.status, encodeSig(fr.fp.sig), fr.bytes, saveFinal(fr.fp), fr.fp.failed); err != nil {
				return fmt.Errorf("save answer of %s to the check of %s: %w", fr.node, k.url, err)
			}
		}
		seq := len(ck.fetches)
		for node := range ck.tried {
			if usable[node] {
				continue
			}
			if err := w.exec(insertAnswerSQL, k.job, k.url, node, seq, false, 0, nil, 0, "", true); err != nil {
				return fmt.Errorf("save answer of %s to the check of %s: %w", node, k.url, err)
			}
			seq++
		}
	}
	return nil
}

// saveFinal is the orig_final or final column of fp: its redirect, or
// NULL when a fingerprint restored from an older row never knew it (it
// stays unknown).
func saveFinal(fp fingerprint) sql.NullString {
	return sql.NullString{String: fp.final, Valid: !fp.finalUnknown}
}

// loadMarks sets fp's redirect and error mark from their saved columns. A
// row saved before schema 4 has neither: its redirect is unknown, and an
// error answer is told by its status alone (one with a status of 200 and
// an error, such as a body the node may not keep, is then lost).
func loadMarks(fp *fingerprint, final sql.NullString, failed sql.NullBool) {
	fp.final, fp.finalUnknown = final.String, !final.Valid
	fp.failed = failed.Bool
	if !failed.Valid {
		fp.failed = fp.status == 0 || fp.status == 429 || fp.status >= 500
	}
}

// encodeSig stores a MinHash signature as little-endian uint64s; nil (a
// page without main text) stays NULL.
func encodeSig(sig []uint64) []byte {
	if sig == nil {
		return nil
	}
	b := make([]byte, 0, 8*len(sig))
	for _, x := range sig {
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	return b
}

// decodeSig reverses encodeSig.
func decodeSig(b []byte) ([]uint64, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("signature of %d bytes is not a whole number of uint64s", len(b))
	}
	sig := make([]uint64, len(b)/8)
	for i := range sig {
		sig[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return sig, nil
}

// parseDecision reverses pipeline.Decision.String.
func parseDecision(s string) (pipeline.Decision, error) {
	for _, d := range []pipeline.Decision{pipeline.Accept, pipeline.Reject, pipeline.Review} {
		if d.String() == s {
			return d, nil
		}
	}
	return 0, fmt.Errorf("unknown pipeline decision %q", s)
}

// loadState restores what saveState wrote: the ledger, the quarantined
// peers (quarantined again on the network), the contributions and the
// open checks. New calls it before the coordinator is used.
func (c *Coordinator) loadState(ctx context.Context) error {
	entries, err := loadLedger(ctx, c.frontier)
	if err != nil {
		return err
	}
	c.ledger.restore(entries)
	c.quarMu.Lock()
	for _, e := range entries {
		if !e.Quarantined {
			continue
		}
		pid, err := peer.Decode(e.Peer)
		if err != nil {
			// Only Quarantine marks peers, and it decodes them first.
			c.quarMu.Unlock()
			return fmt.Errorf("load quarantined peer %q: %w", e.Peer, err)
		}
		c.quarantined[e.Peer] = true
		c.quarSeen.Store(e.Peer, struct{}{})
		c.net.Quarantine(pid)
	}
	c.quarMu.Unlock()

	contribs, err := loadContributions(ctx, c.frontier)
	if err != nil {
		return err
	}
	c.contribMu.Lock()
	for _, s := range contribs {
		m := c.contrib[s.key.peer]
		if m == nil {
			m = make(map[checkKey]*contribution)
			c.contrib[s.key.peer] = m
		}
		m[s.key.key] = s.ct
	}
	c.contribMu.Unlock()

	checks, err := loadChecks(ctx, c.frontier)
	if err != nil {
		return err
	}
	c.verify.restore(checks, time.Now())
	if q, n, k := len(c.quarantined), len(contribs), len(checks); len(entries) > 0 || n > 0 || k > 0 {
		c.log.Info("verification state restored", "peers", len(entries), "quarantined", q, "contributions", n, "checks", k)
	}
	return nil
}

// querier reads the frontier's database; *frontier.Frontier is one.
type querier interface {
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func loadLedger(ctx context.Context, db querier) ([]schemas.LedgerEntry, error) {
	rows, err := db.Query(ctx, `SELECT peer, pages, bytes, verified_pages, verified_bytes, failed, quarantined FROM ledger`)
	if err != nil {
		return nil, fmt.Errorf("load ledger: %w", err)
	}
	defer rows.Close()
	var out []schemas.LedgerEntry
	for rows.Next() {
		var e schemas.LedgerEntry
		if err := rows.Scan(&e.Peer, &e.Pages, &e.Bytes, &e.VerifiedPages, &e.VerifiedBytes, &e.Failed, &e.Quarantined); err != nil {
			return nil, fmt.Errorf("load ledger: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load ledger: %w", err)
	}
	return out, nil
}

func loadContributions(ctx context.Context, db querier) ([]contribSave, error) {
	rows, err := db.Query(ctx, `SELECT peer, job, norm, url, depth, doc_id, decision, verified, at_ns, dedup, own_checks FROM contributions`)
	if err != nil {
		return nil, fmt.Errorf("load contributions: %w", err)
	}
	defer rows.Close()
	var out []contribSave
	for rows.Next() {
		var (
			k        contribKey
			ct       = &contribution{restored: true}
			decision string
			atNs     int64
			dedup    []byte
			checks   sql.NullInt64
		)
		if err := rows.Scan(&k.peer, &k.key.job, &k.key.url, &ct.url, &ct.depth, &ct.docID, &decision, &ct.verified, &atNs, &dedup, &checks); err != nil {
			return nil, fmt.Errorf("load contributions: %w", err)
		}
		// Saved before schema 5: unknown, counted from the first sweep.
		ct.checks = -1
		if checks.Valid {
			ct.checks = checks.Int64
		}
		if ct.decision, err = parseDecision(decision); err != nil {
			return nil, fmt.Errorf("load contribution of %s to %s: %w", k.peer, k.key.url, err)
		}
		ct.at = time.Unix(0, atNs)
		if len(dedup) > 0 {
			ct.dedup = new(pipeline.DedupKey)
			if err := ct.dedup.Unmarshal(dedup); err != nil {
				return nil, fmt.Errorf("load contribution of %s to %s: %w", k.peer, k.key.url, err)
			}
		}
		out = append(out, contribSave{key: k, ct: ct})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load contributions: %w", err)
	}
	return out, nil
}

func loadChecks(ctx context.Context, db querier) ([]*check, error) {
	rows, err := db.Query(ctx, `SELECT job, norm, url, host, depth, orig, orig_status, orig_sig, orig_bytes, created_ns, orig_final, orig_failed FROM checks`)
	if err != nil {
		return nil, fmt.Errorf("load checks: %w", err)
	}
	byKey := make(map[checkKey]*check)
	var out []*check
	for rows.Next() {
		var (
			ck        = &check{tried: make(map[string]bool)}
			sig       []byte
			createdNs int64
			final     sql.NullString
			failed    sql.NullBool
		)
		if err := rows.Scan(&ck.key.job, &ck.key.url, &ck.url, &ck.host, &ck.depth, &ck.orig,
			&ck.origFP.status, &sig, &ck.origBytes, &createdNs, &final, &failed); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load checks: %w", err)
		}
		if ck.origFP.sig, err = decodeSig(sig); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load check of %s: %w", ck.key.url, err)
		}
		loadMarks(&ck.origFP, final, failed)
		ck.created = time.Unix(0, createdNs)
		byKey[ck.key] = ck
		out = append(out, ck)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("load checks: %w", err)
	}

	rows, err = db.Query(ctx, `SELECT job, norm, node, usable, status, sig, bytes, final, failed FROM check_answers ORDER BY job, norm, seq`)
	if err != nil {
		return nil, fmt.Errorf("load check answers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k      checkKey
			fr     fetchResult
			usable bool
			sig    []byte
			final  sql.NullString
			failed sql.NullBool
		)
		if err := rows.Scan(&k.job, &k.url, &fr.node, &usable, &fr.fp.status, &sig, &fr.bytes, &final, &failed); err != nil {
			return nil, fmt.Errorf("load check answers: %w", err)
		}
		ck := byKey[k]
		if ck == nil {
			// Written in the transaction that wrote its check; never
			// alone.
			return nil, fmt.Errorf("load check answers: answer of %s to %s has no check", fr.node, k.url)
		}
		ck.tried[fr.node] = true
		if !usable {
			continue
		}
		loadMarks(&fr.fp, final, failed)
		if fr.fp.sig, err = decodeSig(sig); err != nil {
			return nil, fmt.Errorf("load answer of %s to %s: %w", fr.node, k.url, err)
		}
		ck.fetches = append(ck.fetches, fr)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load check answers: %w", err)
	}
	return out, nil
}

// resumeQuarantines finishes what a crash may have interrupted in
// Quarantine: the leases of every quarantined peer go back to the queue
// and its unverified pages still on record are taken out. Serve calls it
// before it ingests anything, once the hooks are registered; for peers
// whose quarantine completed it does nothing.
func (c *Coordinator) resumeQuarantines(ctx context.Context) error {
	c.quarMu.RLock()
	nodes := make([]string, 0, len(c.quarantined))
	for n := range c.quarantined {
		nodes = append(nodes, n)
	}
	c.quarMu.RUnlock()
	var errs []error
	for _, n := range nodes {
		c.verify.dropNode(n)
		if err := c.takeOut(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("resuming the quarantine of %s: %w", n, err))
		}
	}
	if err := c.saveState(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
