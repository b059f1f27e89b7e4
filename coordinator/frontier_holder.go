package coordinator

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// LeaseHolder returns the node whose live lease holds a job's URL, or ""
// when no lease holds it (never queued, queued, done, or its lease expired).
// Ingest uses it to accept a capture only from the node the URL was leased
// to, so no peer can inject pages (or their links) into a job.
func (f *Frontier) LeaseHolder(ctx context.Context, jobID, rawURL string) (string, error) {
	n, err := NormalizeURL(rawURL)
	if err != nil {
		return "", fmt.Errorf("lease holder: %w", err)
	}
	key := URLKey(n)
	var node string
	err = f.rdb.QueryRowContext(ctx, `SELECT l.node FROM urls u
		JOIN jobs j ON j.jid = u.job
		JOIN leases l ON l.lid = u.lease
		WHERE j.id = ? AND u.key = ?`, jobID, key[:]).Scan(&node)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lease holder of %s: %w", n, err)
	}
	return node, nil
}
