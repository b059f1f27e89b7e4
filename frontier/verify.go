package frontier

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Host-budget bookkeeping for verification re-fetches. A re-fetch is a
// request to the host like any other, so it must fit the host's budget:
// either it rides in a lease that already holds the host (the lease's
// fetch schedule grows by one slot) or it takes the idle host for itself
// (ReserveHost). Neither touches the urls table: the URL is already done.

// ExtendLeaseHost lengthens the fetch schedule of lease leaseID on host by
// extra fetches of share each, so that the host's next lease starts only
// after them. It reports false when the lease does not hold the host (it
// ended or expired meanwhile).
func (f *Frontier) ExtendLeaseHost(ctx context.Context, leaseID, host string, extra int, share time.Duration) (bool, error) {
	if extra <= 0 {
		return false, fmt.Errorf("extend lease %s on %s: extra %d must be positive", leaseID, host, extra)
	}
	name, err := normalizeHostKey(host)
	if err != nil {
		return false, fmt.Errorf("extend lease %s: %w", leaseID, err)
	}
	var ok bool
	err = f.writeTx(ctx, "extend lease "+leaseID+" on "+name, func(tx *sql.Tx, _ *func()) error {
		ok = false
		lid, found, err := leaseLID(ctx, tx, leaseID)
		if err != nil || !found {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE lease_hosts SET end_ns = end_ns + ?
			WHERE lease = ? AND host = (SELECT hid FROM hosts WHERE name = ?)`,
			int64(extra)*int64(share), lid, name)
		if err != nil {
			return fmt.Errorf("extend lease host: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("extend lease host: %w", err)
		}
		ok = n == 1
		return nil
	})
	return ok, err
}

// ReserveHost takes an idle host for n fetches starting at now: when no
// lease holds it, it is not backing off and its next fetch is due, no
// lease gets it before now + n·MinDelay. It returns the gap the fetches
// must keep (the host's MinDelay) and whether the host was reserved. A
// host the frontier has never seen is not reserved.
func (f *Frontier) ReserveHost(ctx context.Context, host string, now time.Time, n int) (time.Duration, bool, error) {
	if n <= 0 {
		return 0, false, fmt.Errorf("reserve host %s: n %d must be positive", host, n)
	}
	name, err := normalizeHostKey(host)
	if err != nil {
		return 0, false, fmt.Errorf("reserve host: %w", err)
	}
	nowNs := now.UnixNano()
	var (
		gap time.Duration
		ok  bool
	)
	err = f.writeTx(ctx, "reserve host "+name, func(tx *sql.Tx, _ *func()) error {
		gap, ok = 0, false
		var (
			hid, delay, next, backoff, active int64
			conc                              int
		)
		err := tx.QueryRowContext(ctx, `SELECT hid, min_delay, max_conc, next_ns, backoff_ns, active FROM hosts WHERE name = ?`, name).
			Scan(&hid, &delay, &conc, &next, &backoff, &active)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("look up host: %w", err)
		}
		if active > 0 || next > nowNs || backoff > nowNs {
			return nil
		}
		p := f.policy.stricter(HostPolicy{MinDelay: time.Duration(delay), MaxConcurrency: conc})
		if _, err := tx.ExecContext(ctx, `UPDATE hosts SET next_ns = ? WHERE hid = ?`,
			nowNs+int64(n)*int64(p.MinDelay), hid); err != nil {
			return fmt.Errorf("reserve host: %w", err)
		}
		gap, ok = p.MinDelay, true
		return nil
	})
	return gap, ok, err
}

// ReleaseNode returns every URL leased to node to the queue at once and
// ends its leases, as if they had expired; it returns how many URLs went
// back. The coordinator calls it when it quarantines a node, whose
// captures of those URLs will never be accepted.
func (f *Frontier) ReleaseNode(ctx context.Context, node string) (int, error) {
	var total int
	err := f.writeTx(ctx, "release leases of node "+node, func(tx *sql.Tx, _ *func()) error {
		total = 0
		rows, err := tx.QueryContext(ctx, `SELECT lid FROM leases WHERE node = ?`, node)
		if err != nil {
			return fmt.Errorf("find leases of node: %w", err)
		}
		var lids []int64
		for rows.Next() {
			var lid int64
			if err := rows.Scan(&lid); err != nil {
				rows.Close()
				return fmt.Errorf("find leases of node: %w", err)
			}
			lids = append(lids, lid)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("find leases of node: %w", err)
		}
		for _, lid := range lids {
			n, err := endLease(ctx, tx, lid, requeueLeaseSQL)
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	return total, err
}
