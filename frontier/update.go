package frontier

import (
	"context"
	"database/sql"
	"fmt"
)

// Update runs fn in the frontier's next write transaction, group-committed
// with the frontier's own writes (see writeTx): it returns once the
// transaction that ran fn committed, with fn's error if fn failed (its
// writes alone are undone), or the transaction's. The coordinator keeps
// its verification state (ledger, contributions, checks; schema 3 in
// store.go) in the frontier's database through it.
//
// fn is called with the frontier's write lock held, so updates are serial
// and each sees the writes of those before it; fn must not call the
// frontier's methods (they would wait for the lock fn holds). fn may be
// called more than once: when SQLite abandons a group's transaction, the
// functions in it run again in a fresh one, so fn must build its writes
// from its inputs each time. After Close, Update returns ErrClosed.
func (f *Frontier) Update(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	return f.writeTx(ctx, what, func(tx *sql.Tx, _ *func()) error { return fn(tx) })
}

// UpdateLazy is Update for writes whose durability may wait for the next
// commit: when the frontier fsyncs every commit (SyncFull), a transaction
// made of lazy updates only commits without an fsync. It is in the
// write-ahead log, so it survives a crash of the process at once, and the
// next commit of any other write, which fsyncs the log up to its end,
// makes it survive a power cut too. The coordinator saves its state
// lazily right before it marks a URL done, so a URL is never durably done
// while its contribution is not, and saves one fsync per capture.
func (f *Frontier) UpdateLazy(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	return f.write(ctx, what, true, func(tx *sql.Tx, _ *func()) error { return fn(tx) })
}

// Prepare prepares a statement on the frontier's write connection, for
// functions given to Update to run with tx.StmtContext, so that a
// statement used in every update is parsed once. It must not be called
// from inside such a function (the one write connection is busy there).
// The statement is closed with the frontier.
func (f *Frontier) Prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("prepare: %w", ErrClosed)
	}
	st, err := f.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	return st, nil
}

// Query runs a read-only query on a snapshot of the database, without
// waiting for writes; the caller closes the rows.
func (f *Frontier) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return f.rdb.QueryContext(ctx, query, args...)
}

// QueryRow is Query for at most one row.
func (f *Frontier) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return f.rdb.QueryRowContext(ctx, query, args...)
}

// syncFor puts the write connection in the synchronous mode batch needs:
// NORMAL for a batch of lazy updates only, when the frontier otherwise
// runs FULL, and FULL again for any other batch before it commits. f.mu
// is held.
func (f *Frontier) syncFor(batch []*txReq) error {
	if !f.syncFull {
		return nil
	}
	lazy := true
	for _, r := range batch {
		if !r.lazy {
			lazy = false
			break
		}
	}
	if lazy == f.relaxed {
		return nil
	}
	mode := SyncFull
	if lazy {
		mode = SyncNormal
	}
	// PRAGMA takes no bound parameters; mode is one of two constants.
	if _, err := f.db.Exec("PRAGMA synchronous = " + mode); err != nil {
		return fmt.Errorf("set synchronous mode %s: %w", mode, err)
	}
	f.relaxed = lazy
	return nil
}
