package frontier

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/swardnet/sward/schemas"
)

// Job states. Only a running job's URLs are leased; the others keep their
// queue (paused, done) or stop admitting URLs (cancelled).
const (
	JobRunning   = "running"
	JobPaused    = "paused"
	JobCancelled = "cancelled"
	JobDone      = "done"
)

func validJobState(s string) bool {
	switch s {
	case JobRunning, JobPaused, JobCancelled, JobDone:
		return true
	}
	return false
}

// JobRecord is a stored job.
type JobRecord struct {
	ID    string
	Spec  *schemas.JobSpec
	State string
	// Admitted counts URLs ever admitted to the job's frontier; it stops
	// at Spec.MaxPages when that is set.
	Admitted int64
	Created  time.Time
	Updated  time.Time
}

// PutJob stores a job's spec and state, creating the job or replacing its
// spec. Changing the state has the effects of SetJobState.
func (f *Frontier) PutJob(ctx context.Context, id string, spec *schemas.JobSpec, state string) error {
	if id == "" {
		return errors.New("put job: empty job id")
	}
	if spec == nil {
		return fmt.Errorf("put job %q: nil spec", id)
	}
	if !validJobState(state) {
		return fmt.Errorf("put job %q: unknown state %q", id, state)
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("put job %q: encode spec: %w", id, err)
	}
	nowNs := f.now().UnixNano()
	return f.writeTx(ctx, "put job "+id, func(tx *sql.Tx, onCommit *func()) error {
		*onCommit = f.jobsChanged
		var jid int64
		err := tx.QueryRowContext(ctx, `INSERT INTO jobs(id, spec, state, max_pages, created_ns, updated_ns) VALUES(?, ?, ?, ?, ?, ?)
			ON CONFLICT(id) DO UPDATE SET spec = excluded.spec, max_pages = excluded.max_pages, updated_ns = excluded.updated_ns
			RETURNING jid`, id, string(data), state, spec.MaxPages, nowNs, nowNs).Scan(&jid)
		if err != nil {
			return fmt.Errorf("write job: %w", err)
		}
		return setJobState(ctx, tx, jid, state, nowNs)
	})
}

// setJobState records a job's state and moves its waiting URLs between the
// queue and the held set to match. Leased URLs stay with their lease; when
// they come back they follow the job's state then.
func setJobState(ctx context.Context, tx *sql.Tx, jid int64, state string, nowNs int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, updated_ns = ? WHERE jid = ?`, state, nowNs, jid); err != nil {
		return fmt.Errorf("write job state: %w", err)
	}
	from, to := stateQueued, stateHeld
	if state == JobRunning {
		from, to = stateHeld, stateQueued
	}
	if _, err := tx.ExecContext(ctx, `UPDATE urls SET state = ? WHERE job = ? AND state = ?`, to, jid, from); err != nil {
		return fmt.Errorf("move waiting URLs: %w", err)
	}
	return nil
}

// SetJobState changes a job's state (JobRunning, JobPaused, JobCancelled or
// JobDone).
func (f *Frontier) SetJobState(ctx context.Context, id, state string) error {
	if !validJobState(state) {
		return fmt.Errorf("set job %q state: unknown state %q", id, state)
	}
	nowNs := f.now().UnixNano()
	return f.writeTx(ctx, "set job "+id+" state", func(tx *sql.Tx, onCommit *func()) error {
		*onCommit = f.jobsChanged
		j, err := loadJob(ctx, tx, id)
		if err != nil {
			return err
		}
		return setJobState(ctx, tx, j.jid, state, nowNs)
	})
}

// SetJobStateIf changes job id's state to to only when it is from, and
// reports whether it did. The test and the write are one write
// transaction, so a writer that read the state earlier cannot undo
// another's change: the coordinator reopens only a job that is still
// done, and marks done only one still running.
func (f *Frontier) SetJobStateIf(ctx context.Context, id, from, to string) (bool, error) {
	if !validJobState(from) || !validJobState(to) {
		return false, fmt.Errorf("set job %q state from %q to %q: unknown state", id, from, to)
	}
	nowNs := f.now().UnixNano()
	var changed bool
	err := f.writeTx(ctx, "set job "+id+" state from "+from, func(tx *sql.Tx, onCommit *func()) error {
		// fn may run again in a fresh transaction.
		changed = false
		j, err := loadJob(ctx, tx, id)
		if err != nil || j.state != from {
			return err
		}
		if err := setJobState(ctx, tx, j.jid, to, nowNs); err != nil {
			return err
		}
		*onCommit = f.jobsChanged
		changed = true
		return nil
	})
	return changed && err == nil, err
}

// OnJobsChanged registers fn to be called after every committed change of
// a job's spec or state (a submit, pause, resume or cancel), for example
// to announce the jobs at once. fn runs under the frontier's write lock:
// it must return quickly and not call the frontier.
func (f *Frontier) OnJobsChanged(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobHooks = append(f.jobHooks, fn)
}

// jobsChanged runs the OnJobsChanged hooks; f.mu is held.
func (f *Frontier) jobsChanged() {
	for _, fn := range f.jobHooks {
		fn()
	}
}

// GetJob loads one job; an unknown id gives ErrUnknownJob.
func (f *Frontier) GetJob(ctx context.Context, id string) (*JobRecord, error) {
	row := f.rdb.QueryRowContext(ctx, `SELECT id, spec, state, admitted, created_ns, updated_ns FROM jobs WHERE id = ?`, id)
	r, err := scanJob(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get job %q: %w", id, ErrUnknownJob)
	}
	if err != nil {
		return nil, fmt.Errorf("get job %q: %w", id, err)
	}
	return r, nil
}

// ListJobs loads every job, oldest first.
func (f *Frontier) ListJobs(ctx context.Context) ([]*JobRecord, error) {
	rows, err := f.rdb.QueryContext(ctx, `SELECT id, spec, state, admitted, created_ns, updated_ns FROM jobs ORDER BY jid`)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var out []*JobRecord
	for rows.Next() {
		r, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return out, nil
}

type rowScanner interface{ Scan(dest ...any) error }

func scanJob(s rowScanner) (*JobRecord, error) {
	var (
		r                JobRecord
		spec             string
		created, updated int64
	)
	if err := s.Scan(&r.ID, &spec, &r.State, &r.Admitted, &created, &updated); err != nil {
		return nil, err
	}
	r.Spec = new(schemas.JobSpec)
	if err := json.Unmarshal([]byte(spec), r.Spec); err != nil {
		return nil, fmt.Errorf("decode spec of job %q: %w", r.ID, err)
	}
	r.Created = time.Unix(0, created)
	r.Updated = time.Unix(0, updated)
	return &r, nil
}
