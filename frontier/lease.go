package frontier

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// Lease is a batch of URLs handed to one node until Deadline.
type Lease struct {
	// ID is empty when there was nothing to hand out.
	ID       string
	Node     string
	Deadline time.Time
	Items    []LeaseItem
	// Budgets holds, for every host in Items, the share of the host's
	// budget this lease may use: fetches of the host at most one at a time
	// and MinDelay apart (MinDelay is the host's MinDelay times its
	// MaxConcurrency, so that all concurrent leases together keep the
	// host's rate).
	Budgets map[string]HostPolicy
	// RetryAfter, set when Items is empty, is how long until a host that
	// has queued URLs may be fetched again (zero when unknown or nothing is
	// queued).
	RetryAfter time.Duration
}

// LeaseItem is one URL of a lease.
type LeaseItem struct {
	JobID string
	URL   string
	Depth int
}

// hostCand is a host that may get URLs in a lease.
type hostCand struct {
	hid    int64
	name   string
	policy HostPolicy
}

// Lease hands node up to max URLs until now+ttl. It first returns expired
// leases to the queue. Hosts are visited by the time they may next be
// fetched (round-robin); a host whose policy allows MaxConcurrency leases at
// once and already has that many, or is backing off, is skipped. From each
// host it takes its highest-priority URLs, at most ceil(ttl / (MinDelay *
// MaxConcurrency)), so that however many nodes ask, the host is never
// fetched faster than its budget. URLs of jobs that are not running are not
// leased. A lease with no items has an empty ID and is not stored.
func (f *Frontier) Lease(ctx context.Context, node string, max int, now time.Time, ttl time.Duration) (*Lease, error) {
	if node == "" {
		return nil, errors.New("lease: empty node id")
	}
	if max <= 0 || ttl <= 0 {
		return nil, fmt.Errorf("lease for node %s: max %d and ttl %v must be positive", node, max, ttl)
	}
	l := &Lease{Node: node, Deadline: now.Add(ttl), Budgets: make(map[string]HostPolicy)}
	nowNs := now.UnixNano()
	err := f.writeTx(ctx, "lease for node "+node, func(tx *sql.Tx, _ *func()) error {
		l.Items, l.ID, l.RetryAfter = nil, "", 0
		clear(l.Budgets)
		if _, err := expireLeases(ctx, tx, nowNs); err != nil {
			return err
		}
		hosts, err := f.readyHosts(ctx, tx, nowNs, max)
		if err != nil {
			return err
		}
		if len(hosts) == 0 {
			l.RetryAfter, err = retryAfter(ctx, tx, nowNs)
			return err
		}
		id := rand.Text()
		res, err := tx.ExecContext(ctx, `INSERT INTO leases(id, node, deadline_ns, created_ns) VALUES(?, ?, ?, ?)`,
			id, node, l.Deadline.UnixNano(), nowNs)
		if err != nil {
			return fmt.Errorf("insert lease: %w", err)
		}
		lid, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("insert lease: %w", err)
		}
		for _, h := range hosts {
			left := max - len(l.Items)
			if left == 0 {
				break
			}
			share := h.policy.MinDelay * time.Duration(h.policy.MaxConcurrency)
			if share > 0 {
				perLease := int((ttl + share - 1) / share)
				if perLease < left {
					left = perLease
				}
			}
			items, err := takeURLs(ctx, tx, h.hid, lid, nowNs, left)
			if err != nil {
				return fmt.Errorf("host %s: %w", h.name, err)
			}
			if len(items) == 0 {
				continue
			}
			l.Items = append(l.Items, items...)
			l.Budgets[h.name] = HostPolicy{MinDelay: share, MaxConcurrency: 1}
			end := nowNs + int64(len(items))*int64(share)
			if _, err := tx.ExecContext(ctx, `INSERT INTO lease_hosts(lease, host, remaining, end_ns) VALUES(?, ?, ?, ?)`,
				lid, h.hid, len(items), end); err != nil {
				return fmt.Errorf("hold host %s: %w", h.name, err)
			}
			// The next concurrent lease of this host starts one MinDelay
			// later, so concurrent leases interleave their fetches.
			if _, err := tx.ExecContext(ctx, `UPDATE hosts SET active = active + 1, next_ns = ? WHERE hid = ?`,
				nowNs+int64(h.policy.MinDelay), h.hid); err != nil {
				return fmt.Errorf("hold host %s: %w", h.name, err)
			}
		}
		if len(l.Items) == 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE lid = ?`, lid); err != nil {
				return fmt.Errorf("drop empty lease: %w", err)
			}
			l.RetryAfter, err = retryAfter(ctx, tx, nowNs)
			return err
		}
		l.ID = id
		return nil
	})
	if err != nil {
		return nil, err
	}
	if l.ID != "" {
		f.log.Debug("frontier: leased", logkey.Peer, node, logkey.Lease, l.ID, "urls", len(l.Items), "hosts", len(l.Budgets))
	}
	return l, nil
}

// readyHostsSQL selects hosts that may be leased at ?1 (default
// concurrency ?2), in round-robin order, at most ?3.
const readyHostsSQL = `
SELECT h.hid, h.name, h.min_delay, h.max_conc FROM hosts h
WHERE h.queued > 0 AND h.next_ns <= ?1 AND h.backoff_ns <= ?1
  AND h.active < CASE WHEN h.max_conc > 0 AND h.max_conc < ?2 THEN h.max_conc ELSE ?2 END
  AND EXISTS (SELECT 1 FROM urls u WHERE u.host = h.hid AND u.state = 0 AND u.not_before <= ?1)
ORDER BY h.next_ns, h.hid LIMIT ?3`

// readyHosts lists, in round-robin order, up to limit hosts that may be
// fetched now, have a free lease slot and have URLs ready to lease.
func (f *Frontier) readyHosts(ctx context.Context, tx *sql.Tx, nowNs int64, limit int) ([]hostCand, error) {
	rows, err := tx.QueryContext(ctx, readyHostsSQL, nowNs, f.policy.MaxConcurrency, limit)
	if err != nil {
		return nil, fmt.Errorf("find ready hosts: %w", err)
	}
	defer rows.Close()
	var out []hostCand
	for rows.Next() {
		var h hostCand
		var delay int64
		if err := rows.Scan(&h.hid, &h.name, &delay, &h.policy.MaxConcurrency); err != nil {
			return nil, fmt.Errorf("find ready hosts: %w", err)
		}
		h.policy.MinDelay = time.Duration(delay)
		h.policy = f.policy.stricter(h.policy)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find ready hosts: %w", err)
	}
	return out, nil
}

// retryAfter is how long until some host with queued URLs may be fetched.
func retryAfter(ctx context.Context, tx *sql.Tx, nowNs int64) (time.Duration, error) {
	var next sql.NullInt64
	err := tx.QueryRowContext(ctx, `
SELECT min(max(h.next_ns, h.backoff_ns)) FROM hosts h
WHERE h.queued > 0 AND max(h.next_ns, h.backoff_ns) > ?1`, nowNs).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("find next ready host: %w", err)
	}
	if !next.Valid {
		return 0, nil
	}
	return time.Duration(next.Int64 - nowNs), nil
}

// takeURLs moves up to n of a host's best queued URLs into lease lid.
func takeURLs(ctx context.Context, tx *sql.Tx, hid, lid, nowNs int64, n int) ([]LeaseItem, error) {
	rows, err := tx.QueryContext(ctx, `
SELECT u.id, u.url, u.depth, j.id FROM urls u JOIN jobs j ON j.jid = u.job
WHERE u.host = ? AND u.state = 0 AND u.not_before <= ?
ORDER BY u.priority DESC, u.id LIMIT ?`, hid, nowNs, n)
	if err != nil {
		return nil, fmt.Errorf("select URLs: %w", err)
	}
	var ids []int64
	var items []LeaseItem
	for rows.Next() {
		var id int64
		var it LeaseItem
		if err := rows.Scan(&id, &it.URL, &it.Depth, &it.JobID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("select URLs: %w", err)
		}
		ids = append(ids, id)
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("select URLs: %w", err)
	}
	rows.Close()
	if len(ids) == 0 {
		return nil, nil
	}
	// The same selection, in the same transaction, picks the same rows.
	res, err := tx.ExecContext(ctx, `UPDATE urls SET state = 1, lease = ? WHERE id IN (
SELECT id FROM urls WHERE host = ? AND state = 0 AND not_before <= ? ORDER BY priority DESC, id LIMIT ?)`, lid, hid, nowNs, n)
	if err != nil {
		return nil, fmt.Errorf("lease URLs: %w", err)
	}
	if got, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("lease URLs: %w", err)
	} else if got != int64(len(ids)) {
		return nil, fmt.Errorf("lease URLs: leased %d rows, selected %d: frontier is inconsistent", got, len(ids))
	}
	return items, nil
}

// Renew moves a live lease's deadline to now+ttl. An unknown, finished or
// already expired lease gives ErrUnknownLease: its URLs may be someone
// else's by now.
func (f *Frontier) Renew(ctx context.Context, leaseID string, now time.Time, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("renew lease %s: ttl %v must be positive", leaseID, ttl)
	}
	return f.writeTx(ctx, "renew lease "+leaseID, func(tx *sql.Tx, _ *func()) error {
		res, err := tx.ExecContext(ctx, `UPDATE leases SET deadline_ns = ? WHERE id = ? AND deadline_ns >= ?`,
			now.Add(ttl).UnixNano(), leaseID, now.UnixNano())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrUnknownLease
		}
		return nil
	})
}

// leaseLID finds a lease's row id; ok is false when there is none.
func leaseLID(ctx context.Context, tx *sql.Tx, leaseID string) (int64, bool, error) {
	var lid int64
	err := tx.QueryRowContext(ctx, `SELECT lid FROM leases WHERE id = ?`, leaseID).Scan(&lid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("look up lease: %w", err)
	}
	return lid, true, nil
}

// leasedURL is one URL row in a lease.
type leasedURL struct{ id, host int64 }

// leaseURLs lists the lease's URLs named by urls. Names that do not
// normalise or are not in the lease are ignored.
func leaseURLs(ctx context.Context, tx *sql.Tx, lid int64, urls []string) ([]leasedURL, error) {
	var out []leasedURL
	seen := make(map[int64]bool, len(urls))
	for _, raw := range urls {
		n, err := schemas.NormalizeURL(raw)
		if err != nil {
			continue
		}
		k := schemas.URLKey(n)
		// One URL may be in the lease once per job.
		rows, err := tx.QueryContext(ctx, `SELECT id, host FROM urls WHERE lease = ? AND key = ?`, lid, k[:])
		if err != nil {
			return nil, fmt.Errorf("find lease URL %s: %w", n, err)
		}
		for rows.Next() {
			var u leasedURL
			if err := rows.Scan(&u.id, &u.host); err != nil {
				rows.Close()
				return nil, fmt.Errorf("find lease URL %s: %w", n, err)
			}
			if !seen[u.id] {
				seen[u.id] = true
				out = append(out, u)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("find lease URL %s: %w", n, err)
		}
	}
	return out, nil
}

// settle records that one URL of lease lid on host left the lease; when it
// was the host's last one, the host's slot is freed (not before the end of
// the lease's fetch schedule), and when it was the lease's last URL the
// lease is deleted.
func settle(ctx context.Context, tx *sql.Tx, lid, hid int64) error {
	var remaining, end int64
	err := tx.QueryRowContext(ctx, `UPDATE lease_hosts SET remaining = remaining - 1 WHERE lease = ? AND host = ? RETURNING remaining, end_ns`,
		lid, hid).Scan(&remaining, &end)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("lease %d holds no slot of host %d: frontier is inconsistent", lid, hid)
	}
	if err != nil {
		return fmt.Errorf("settle lease URL: %w", err)
	}
	if remaining > 0 {
		return nil
	}
	if err := freeSlot(ctx, tx, lid, hid, end); err != nil {
		return err
	}
	var left int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM lease_hosts WHERE lease = ?`, lid).Scan(&left); err != nil {
		return fmt.Errorf("settle lease: %w", err)
	}
	if left == 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE lid = ?`, lid); err != nil {
			return fmt.Errorf("delete finished lease: %w", err)
		}
	}
	return nil
}

// freeSlot gives a host's lease slot back.
func freeSlot(ctx context.Context, tx *sql.Tx, lid, hid, end int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM lease_hosts WHERE lease = ? AND host = ?`, lid, hid); err != nil {
		return fmt.Errorf("free host slot: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE hosts SET active = active - 1, next_ns = max(next_ns, ?) WHERE hid = ?`, end, hid); err != nil {
		return fmt.Errorf("free host slot: %w", err)
	}
	return nil
}

// Statements for endLease: the URLs still in lease ? go back to the queue
// (held when their job is not running), or become done at time ?.
const (
	requeueLeaseSQL = `UPDATE urls SET lease = NULL,
	state = CASE (SELECT state FROM jobs WHERE jid = urls.job) WHEN 'running' THEN 0 ELSE 3 END
	WHERE lease = ?`
	completeLeaseSQL = `UPDATE urls SET state = 2, lease = NULL, done_ns = ? WHERE lease = ?`
)

// endLease moves every URL still in lease lid with update (args, then the
// lease id), frees the lease's host slots and deletes it. It returns how
// many URLs it moved.
func endLease(ctx context.Context, tx *sql.Tx, lid int64, update string, args ...any) (int, error) {
	res, err := tx.ExecContext(ctx, update, append(args, lid)...)
	if err != nil {
		return 0, fmt.Errorf("move lease URLs: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("move lease URLs: %w", err)
	}
	type slot struct{ hid, end int64 }
	var slots []slot
	rows, err := tx.QueryContext(ctx, `SELECT host, end_ns FROM lease_hosts WHERE lease = ?`, lid)
	if err != nil {
		return 0, fmt.Errorf("list lease hosts: %w", err)
	}
	for rows.Next() {
		var s slot
		if err := rows.Scan(&s.hid, &s.end); err != nil {
			rows.Close()
			return 0, fmt.Errorf("list lease hosts: %w", err)
		}
		slots = append(slots, s)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return 0, fmt.Errorf("list lease hosts: %w", err)
	}
	for _, s := range slots {
		if err := freeSlot(ctx, tx, lid, s.hid, s.end); err != nil {
			return 0, err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE lid = ?`, lid); err != nil {
		return 0, fmt.Errorf("delete lease: %w", err)
	}
	return int(n), nil
}

// requeueSQL puts a URL back in the queue, or holds it when its job is not
// running.
const requeueSQL = `UPDATE urls SET lease = NULL,
	state = CASE (SELECT state FROM jobs WHERE jid = urls.job) WHEN 'running' THEN 0 ELSE 3 END
	WHERE id = ?`

// Complete marks URLs of a lease as fetched; no urls means all of the
// lease. It is idempotent: URLs that are unknown, not in the lease or
// already done, and leases that are unknown or expired, are ignored.
func (f *Frontier) Complete(ctx context.Context, leaseID string, urls []string) error {
	doneNs := f.now().UnixNano()
	return f.writeTx(ctx, "complete lease "+leaseID, func(tx *sql.Tx, _ *func()) error {
		lid, ok, err := leaseLID(ctx, tx, leaseID)
		if err != nil || !ok {
			return err
		}
		if len(urls) == 0 {
			_, err := endLease(ctx, tx, lid, completeLeaseSQL, doneNs)
			return err
		}
		us, err := leaseURLs(ctx, tx, lid, urls)
		if err != nil {
			return err
		}
		for _, u := range us {
			if _, err := tx.ExecContext(ctx, `UPDATE urls SET state = 2, lease = NULL, done_ns = ? WHERE id = ?`, doneNs, u.id); err != nil {
				return fmt.Errorf("mark URL done: %w", err)
			}
			if err := settle(ctx, tx, lid, u.host); err != nil {
				return err
			}
		}
		return nil
	})
}

// Release returns URLs of a lease (no urls: all of it) to the queue at
// once. Unknown leases and URLs are ignored.
func (f *Frontier) Release(ctx context.Context, leaseID string, urls []string) error {
	return f.writeTx(ctx, "release lease "+leaseID, func(tx *sql.Tx, _ *func()) error {
		lid, ok, err := leaseLID(ctx, tx, leaseID)
		if err != nil || !ok {
			return err
		}
		if len(urls) == 0 {
			_, err := endLease(ctx, tx, lid, requeueLeaseSQL)
			return err
		}
		us, err := leaseURLs(ctx, tx, lid, urls)
		if err != nil {
			return err
		}
		for _, u := range us {
			if _, err := tx.ExecContext(ctx, requeueSQL, u.id); err != nil {
				return fmt.Errorf("requeue URL: %w", err)
			}
			if err := settle(ctx, tx, lid, u.host); err != nil {
				return err
			}
		}
		return nil
	})
}

// ExpireLeases returns the URLs of every lease whose deadline is before
// now to the queue, and says how many URLs it returned.
func (f *Frontier) ExpireLeases(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := f.writeTx(ctx, "expire leases", func(tx *sql.Tx, _ *func()) error {
		var err error
		n, err = expireLeases(ctx, tx, now.UnixNano())
		return err
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		f.log.Info("frontier: expired leases requeued", "urls", n)
	}
	return n, nil
}

func expireLeases(ctx context.Context, tx *sql.Tx, nowNs int64) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT lid FROM leases WHERE deadline_ns < ?`, nowNs)
	if err != nil {
		return 0, fmt.Errorf("find expired leases: %w", err)
	}
	var lids []int64
	for rows.Next() {
		var lid int64
		if err := rows.Scan(&lid); err != nil {
			rows.Close()
			return 0, fmt.Errorf("find expired leases: %w", err)
		}
		lids = append(lids, lid)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, fmt.Errorf("find expired leases: %w", err)
	}
	rows.Close()
	total := 0
	for _, lid := range lids {
		n, err := endLease(ctx, tx, lid, requeueLeaseSQL)
		if err != nil {
			return 0, fmt.Errorf("expire lease: %w", err)
		}
		total += n
	}
	return total, nil
}

// MarkDone marks a job's URL as fetched outside any lease (ingest of a
// capture). A URL the frontier never saw is recorded as seen and done, so
// it is not crawled again. alreadyDone reports that it was done before. If
// the URL is in someone's lease, it leaves that lease.
func (f *Frontier) MarkDone(ctx context.Context, jobID, rawURL string) (alreadyDone bool, err error) {
	n, err := schemas.NormalizeURL(rawURL)
	if err != nil {
		return false, fmt.Errorf("mark done: %w", err)
	}
	key := schemas.URLKey(n)
	host := hostOfNormalized(n)
	doneNs := f.now().UnixNano()
	err = f.writeTx(ctx, "mark done "+n, func(tx *sql.Tx, onCommit *func()) error {
		alreadyDone = false
		j, err := loadJob(ctx, tx, jobID)
		if err != nil {
			return err
		}
		var (
			id, hid int64
			state   int
			lease   sql.NullInt64
		)
		err = tx.QueryRowContext(ctx, `SELECT id, host, state, lease FROM urls WHERE job = ? AND key = ?`, j.jid, key[:]).
			Scan(&id, &hid, &state, &lease)
		if errors.Is(err, sql.ErrNoRows) {
			pending := make(map[string]int64)
			hid, err := f.hostID(ctx, tx, host, pending)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO urls(job, key, url, host, depth, priority, state, done_ns)
				VALUES(?, ?, ?, ?, 0, 0, 2, ?)`, j.jid, key[:], n, hid, doneNs); err != nil {
				return fmt.Errorf("record done URL: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET admitted = admitted + 1 WHERE jid = ?`, j.jid); err != nil {
				return fmt.Errorf("count admitted URL: %w", err)
			}
			pairs := make(map[[2]int64]bool)
			if err := f.noteJobHost(ctx, tx, j.jid, hid, pairs); err != nil {
				return err
			}
			*onCommit = f.commitCaches(pending, pairs)
			return nil
		}
		if err != nil {
			return fmt.Errorf("look up URL: %w", err)
		}
		if state == stateDone {
			alreadyDone = true
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE urls SET state = 2, lease = NULL, done_ns = ? WHERE id = ?`, doneNs, id); err != nil {
			return fmt.Errorf("mark URL done: %w", err)
		}
		if state == stateLeased && lease.Valid {
			return settle(ctx, tx, lease.Int64, hid)
		}
		return nil
	})
	return alreadyDone, err
}

// ScheduleRecrawl queues again every URL of the job that was done at least
// interval before now, and says how many it queued.
func (f *Frontier) ScheduleRecrawl(ctx context.Context, jobID string, interval time.Duration, now time.Time) (int, error) {
	if interval <= 0 {
		return 0, fmt.Errorf("schedule recrawl of job %q: interval %v must be positive", jobID, interval)
	}
	var n int64
	err := f.writeTx(ctx, "schedule recrawl of job "+jobID, func(tx *sql.Tx, _ *func()) error {
		j, err := loadJob(ctx, tx, jobID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE urls SET state = ?, not_before = 0 WHERE job = ? AND state = 2 AND done_ns <= ?`,
			waitingState(j.state), j.jid, now.Add(-interval).UnixNano())
		if err != nil {
			return fmt.Errorf("requeue done URLs: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
