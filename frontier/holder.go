package frontier

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/swardnet/sward/schemas"
)

// LeaseHolder returns the node whose live lease holds a job's URL, or ""
// when no lease holds it (never queued, queued, done, or its lease expired).
func (f *Frontier) LeaseHolder(ctx context.Context, jobID, rawURL string) (string, error) {
	l, err := f.LeasedURL(ctx, jobID, rawURL)
	return l.Node, err
}

// LeasedURL is what the frontier knows of a leased URL.
type LeasedURL struct {
	// Node holds the URL's live lease; "" when no lease holds it.
	Node string
	// Depth is the depth the URL was admitted at (0 when not leased).
	Depth int
}

// LeasedURL returns the live lease of a job's URL: its holder, or "" when
// no lease holds it (never queued, queued, done, or its lease expired),
// and the depth the URL was admitted at. Ingest uses it to accept a
// capture only from the node the URL was leased to, so no peer can inject
// pages (or their links) into a job, and to count the capture's links
// from the stored depth rather than the one the capture claims.
func (f *Frontier) LeasedURL(ctx context.Context, jobID, rawURL string) (LeasedURL, error) {
	n, err := schemas.NormalizeURL(rawURL)
	if err != nil {
		return LeasedURL{}, fmt.Errorf("lease holder: %w", err)
	}
	key := schemas.URLKey(n)
	var l LeasedURL
	err = f.rdb.QueryRowContext(ctx, `SELECT l.node, u.depth FROM urls u
		JOIN jobs j ON j.jid = u.job
		JOIN leases l ON l.lid = u.lease
		WHERE j.id = ? AND u.key = ?`, jobID, key[:]).Scan(&l.Node, &l.Depth)
	if errors.Is(err, sql.ErrNoRows) {
		return LeasedURL{}, nil
	}
	if err != nil {
		return LeasedURL{}, fmt.Errorf("lease holder of %s: %w", n, err)
	}
	return l, nil
}

// RetryLater takes a job's URL out of its lease and queues it again, not to
// be leased before notBefore: the coordinator calls it when a node's capture
// says the host is overloaded (429, 503), so the page is fetched later
// instead of being lost. A URL that is not leased is left alone.
func (f *Frontier) RetryLater(ctx context.Context, jobID, rawURL string, notBefore time.Time) error {
	n, err := schemas.NormalizeURL(rawURL)
	if err != nil {
		return fmt.Errorf("retry later: %w", err)
	}
	key := schemas.URLKey(n)
	return f.writeTx(ctx, "retry later "+n, func(tx *sql.Tx, _ *func()) error {
		j, err := loadJob(ctx, tx, jobID)
		if err != nil {
			return err
		}
		var (
			id, hid int64
			lease   sql.NullInt64
		)
		err = tx.QueryRowContext(ctx, `SELECT id, host, lease FROM urls WHERE job = ? AND key = ? AND state = ?`,
			j.jid, key[:], stateLeased).Scan(&id, &hid, &lease)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("look up URL: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE urls SET state = ?, lease = NULL, not_before = ? WHERE id = ?`,
			waitingState(j.state), notBefore.UnixNano(), id); err != nil {
			return fmt.Errorf("requeue URL: %w", err)
		}
		if lease.Valid {
			return settle(ctx, tx, lease.Int64, hid)
		}
		return nil
	})
}
