package frontier

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/swardnet/sward/schemas"
)

// Requeue queues a candidate whether or not its job has seen the URL: a new
// URL is added as by Add, a finished one is queued again with the
// candidate's priority. A URL already queued or leased is left alone, so
// concurrent requests for one URL fetch it once. Live fetches use it.
func (f *Frontier) Requeue(ctx context.Context, c Candidate) error {
	added, err := f.Add(ctx, []Candidate{c})
	if err != nil || added == 1 {
		return err
	}
	n, err := schemas.NormalizeURL(c.URL)
	if err != nil {
		return fmt.Errorf("requeue: %w", err)
	}
	key := schemas.URLKey(n)
	return f.writeTx(ctx, "requeue "+n, func(tx *sql.Tx, _ *func()) error {
		j, err := loadJob(ctx, tx, c.JobID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE urls SET state = ?, priority = ?, not_before = 0
			WHERE job = ? AND key = ? AND state = ?`,
			waitingState(j.state), c.Priority, j.jid, key[:], stateDone); err != nil {
			return fmt.Errorf("requeue %s: %w", n, err)
		}
		return nil
	})
}
