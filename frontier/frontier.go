// Package frontier is sward's durable crawl frontier: per-job seen-sets,
// the URL queue, network-wide host budgets, leases and job specs in one
// SQLite database (WAL), with group-committed write transactions. The
// coordinator leases from it and marks what it ingested; the same database
// also holds the coordinator's verification state, which the coordinator
// writes through Update (docs/frontier.md).
//
// It imports schemas and the SQLite driver only: never coordinator, node,
// network, storage or pipeline (internal/importgraph enforces it).
package frontier

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// Errors the frontier returns; test with errors.Is.
var (
	// ErrUnknownJob means the job id was never stored with PutJob.
	ErrUnknownJob = errors.New("unknown job")
	// ErrUnknownLease means the lease id is unknown, finished or expired.
	ErrUnknownLease = errors.New("unknown or expired lease")
	// ErrClosed means the frontier was closed.
	ErrClosed = errors.New("frontier is closed")
)

// URL states in the urls table.
const (
	stateQueued = 0 // waiting for a lease
	stateLeased = 1 // in a live lease
	stateDone   = 2 // fetched (or finished by ingest)
	stateHeld   = 3 // waiting, but its job is not running
)

// HostPolicy is a politeness budget for one host, network-wide: at most
// MaxConcurrency leases hold the host's URLs at once, and fetch starts are
// at least MinDelay apart.
type HostPolicy struct {
	MinDelay       time.Duration
	MaxConcurrency int
}

// Bounds of a HostPolicy; they keep lease arithmetic far from overflow.
const (
	maxPolicyDelay       = 24 * time.Hour
	maxPolicyConcurrency = 1024
)

func (p HostPolicy) validate() error {
	if p.MinDelay < 0 || p.MinDelay > maxPolicyDelay {
		return fmt.Errorf("min delay %v is not between 0 and %v", p.MinDelay, maxPolicyDelay)
	}
	if p.MaxConcurrency < 0 || p.MaxConcurrency > maxPolicyConcurrency {
		return fmt.Errorf("max concurrency %d is not between 0 and %d", p.MaxConcurrency, maxPolicyConcurrency)
	}
	return nil
}

// stricter merges two policies keeping the stricter value of each field; a
// zero field means "unset".
func (p HostPolicy) stricter(q HostPolicy) HostPolicy {
	r := p
	if q.MinDelay > r.MinDelay {
		r.MinDelay = q.MinDelay
	}
	if q.MaxConcurrency > 0 && (r.MaxConcurrency == 0 || q.MaxConcurrency < r.MaxConcurrency) {
		r.MaxConcurrency = q.MaxConcurrency
	}
	return r
}

// Candidate is a URL offered to the frontier: a seed, a sitemap entry or an
// outlink from an ingested capture.
type Candidate struct {
	JobID string
	URL   string
	Depth int
	// Priority orders a host's URLs (higher first); see Priority.
	Priority float64
	// NotBefore keeps the URL from being leased earlier.
	NotBefore time.Time
}

// Priority is the default priority of a URL found at depth whose sitemap
// lastmod (zero if unknown) is given: shallow pages first, and among them
// recently modified ones. A page without a lastmod counts as modified 30
// days ago, so a sitemap entry that says it changed an hour ago comes
// before it and one that has not changed for years after it. It lies in
// (0, 1.5].
func Priority(depth int, lastmod, now time.Time) float64 {
	if depth < 0 {
		depth = 0
	}
	age := 30.0 // days, when unknown
	if !lastmod.IsZero() {
		age = max(now.Sub(lastmod).Hours()/24, 0)
	}
	return 1/float64(1+depth) + 0.5/(1+age/30)
}

// Config tunes a Frontier. The zero value is completed by Default.
type Config struct {
	// DefaultHostPolicy is the policy of hosts that have none stored; a
	// stored policy can only make a host stricter than this. Default: one
	// lease at a time and 1s between fetches. A policy with MaxConcurrency
	// 0 gets 1.
	DefaultHostPolicy HostPolicy
	// Synchronous is SyncFull (the default) or SyncNormal.
	Synchronous string
	// CacheMiB sets SQLite's page cache size (default 64 MiB, enough for
	// the hot indexes of about a million URLs; beyond that, Add slows down
	// as index pages are read back from the OS page cache).
	CacheMiB int
	// Now is the clock for the frontier's own timestamps (default
	// time.Now; tests set it).
	Now func() time.Time
	// Logger receives the frontier's logs (default slog.Default()).
	Logger *slog.Logger
}

// Default fills zero fields. A zero DefaultHostPolicy becomes one lease at
// a time and 1s between fetches; to lease without delay, set MinDelay 0
// with MaxConcurrency 1 or more.
func (c *Config) Default() {
	if c.DefaultHostPolicy == (HostPolicy{}) {
		c.DefaultHostPolicy = HostPolicy{MinDelay: time.Second, MaxConcurrency: 1}
	}
	if c.DefaultHostPolicy.MaxConcurrency == 0 {
		c.DefaultHostPolicy.MaxConcurrency = 1
	}
	if c.Synchronous == "" {
		c.Synchronous = SyncFull
	}
	if c.CacheMiB == 0 {
		c.CacheMiB = 64
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports settings the frontier cannot open with.
func (c Config) Validate() error {
	if err := c.DefaultHostPolicy.validate(); err != nil {
		return fmt.Errorf("frontier: default host policy: %w", err)
	}
	if c.Synchronous != SyncFull && c.Synchronous != SyncNormal {
		return fmt.Errorf("frontier: synchronous mode %q is not %q or %q", c.Synchronous, SyncFull, SyncNormal)
	}
	if c.CacheMiB < 1 {
		return fmt.Errorf("frontier: page cache of %d MiB is too small; give at least 1", c.CacheMiB)
	}
	return nil
}

// Frontier is the durable crawl frontier in one SQLite database: per-job seen-sets, the URL queue, host budgets, leases and job
// specs. Every method is safe for concurrent use; every change is one
// transaction, so a crash loses nothing that a method reported as done.
type Frontier struct {
	db     *sql.DB // writes, one connection
	rdb    *sql.DB // reads that need no write lock
	policy HostPolicy
	// syncFull: every commit fsyncs (SyncFull), except those of lazy
	// updates only (UpdateLazy).
	syncFull bool
	// relaxed: the write connection runs NORMAL for a lazy batch (f.mu).
	relaxed bool
	now     func() time.Time
	log     *slog.Logger

	// qmu guards queue, the writeTx calls waiting for the next
	// transaction (group commit).
	qmu   sync.Mutex
	queue []*txReq

	// mu serialises write transactions and guards the caches, which only
	// ever hold committed rows.
	mu      sync.Mutex
	closed  bool
	commits int64 // committed write transactions
	// jobHooks are called after a job's spec or state changed.
	jobHooks []func()
	hosts    map[string]int64 // host name -> hid
	// jobHosts holds the (jid, hid) pairs stored in job_hosts.
	jobHosts map[[2]int64]bool
}

// Open opens, creating or migrating, the frontier database at path. Zero
// fields of cfg get their defaults (Config.Default).
func Open(ctx context.Context, path string, cfg Config) (*Frontier, error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open frontier: %w", err)
	}
	db, rdb, err := openStore(ctx, path, cfg.Synchronous, cfg.CacheMiB)
	if err != nil {
		return nil, err
	}
	return &Frontier{
		db:       db,
		rdb:      rdb,
		policy:   cfg.DefaultHostPolicy,
		syncFull: cfg.Synchronous == SyncFull,
		now:      cfg.Now,
		log:      cfg.Logger,
		hosts:    make(map[string]int64),
		jobHosts: make(map[[2]int64]bool),
	}, nil
}

// Close closes the database. Methods called afterwards return ErrClosed.
func (f *Frontier) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	rerr := f.rdb.Close()
	if err := f.db.Close(); err != nil {
		return fmt.Errorf("close frontier: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("close frontier: %w", rerr)
	}
	return nil
}

// writeTx runs fn in a write transaction and reports whether it
// committed. After a successful commit, it runs onCommit (if fn set one)
// under f.mu, so caches only learn committed rows.
//
// Write transactions are group-committed: calls that arrive while another
// transaction is running wait, and the next of them to get f.mu runs all
// waiting functions in one transaction, each inside its own savepoint, so
// one function's error undoes only its own writes, and the batch pays for
// one commit (one fsync) instead of one each. Each function still sees the
// writes of the ones before it, exactly as if they had run one after the
// other. With one ingest worker per busy core and leases, marks and
// enqueues arriving together, this is what lets the frontier keep up with
// many nodes.
func (f *Frontier) writeTx(ctx context.Context, what string, fn func(tx *sql.Tx, onCommit *func()) error) error {
	return f.write(ctx, what, false, fn)
}

// write is writeTx; lazy marks an UpdateLazy.
func (f *Frontier) write(ctx context.Context, what string, lazy bool, fn func(tx *sql.Tx, onCommit *func()) error) error {
	req := &txReq{ctx: ctx, what: what, lazy: lazy, fn: fn, done: make(chan struct{})}
	f.qmu.Lock()
	f.queue = append(f.queue, req)
	f.qmu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-req.done:
		// A transaction that ran while this call waited for f.mu took it.
		return req.err
	default:
	}
	f.qmu.Lock()
	batch := f.queue
	f.queue = nil
	f.qmu.Unlock()
	f.runBatch(batch)
	return req.err
}

// txReq is one writeTx call waiting for a transaction.
type txReq struct {
	ctx  context.Context
	what string
	lazy bool // UpdateLazy: its durability may wait for the next commit
	fn   func(tx *sql.Tx, onCommit *func()) error
	err  error
	done chan struct{}
}

// runBatch runs the requests in one transaction (see writeTx) and finishes
// every one of them. When the transaction itself fails (a savepoint cannot
// be released or rolled back, which happens when SQLite had to abandon the
// whole transaction), the request at fault gets the error and the others
// are run again in a fresh transaction. f.mu is held.
func (f *Frontier) runBatch(batch []*txReq) {
	finish := func(rs []*txReq, err error) {
		for _, r := range rs {
			if err != nil {
				r.err = fmt.Errorf("%s: %w", r.what, err)
			}
			close(r.done)
		}
	}
	for attempt := 1; len(batch) > 0; attempt++ {
		if f.closed {
			finish(batch, ErrClosed)
			return
		}
		rest, err := f.tryBatch(batch)
		if err == nil {
			return
		}
		if len(rest) == 0 || attempt == maxBatchAttempts {
			finish(rest, err)
			return
		}
		f.log.Warn("frontier: write transaction lost; running its other writes again", logkey.Err, err)
		batch = rest
	}
}

// maxBatchAttempts bounds how often the writes of a lost transaction are
// run again before they fail with its error.
const maxBatchAttempts = 3

// tryBatch runs batch in one transaction. It finishes the requests it
// decides (their function failed, or the commit succeeded or failed). When
// the transaction cannot start, or is lost midway, it returns the error
// and the requests to run again.
func (f *Frontier) tryBatch(batch []*txReq) ([]*txReq, error) {
	if err := f.syncFor(batch); err != nil {
		return batch, err
	}
	tx, err := f.db.BeginTx(context.Background(), nil)
	if err != nil {
		return batch, fmt.Errorf("begin: %w", err)
	}
	type applied struct {
		r     *txReq
		after func()
	}
	var ok []applied
	// lost rolls the transaction back and returns what must run again: the
	// requests applied so far (their writes are gone) plus extra.
	lost := func(cause error, extra ...*txReq) ([]*txReq, error) {
		tx.Rollback()
		rest := make([]*txReq, 0, len(ok)+len(extra))
		for _, a := range ok {
			rest = append(rest, a.r)
		}
		return append(rest, extra...), cause
	}
	savepoints := len(batch) > 1
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = fmt.Errorf("%s: %w", r.what, context.Cause(r.ctx))
			close(r.done)
			continue
		}
		if savepoints {
			if _, err := tx.Exec(`SAVEPOINT w`); err != nil {
				return lost(fmt.Errorf("savepoint: %w", err), batch[i:]...)
			}
		}
		var after func()
		if err := r.fn(tx, &after); err != nil {
			r.err = fmt.Errorf("%s: %w", r.what, err)
			close(r.done)
			if !savepoints {
				tx.Rollback()
				return nil, nil
			}
			if _, rerr := tx.Exec(`ROLLBACK TO w; RELEASE w`); rerr != nil {
				return lost(fmt.Errorf("rollback to savepoint: %w", rerr), batch[i+1:]...)
			}
			continue
		}
		if savepoints {
			if _, err := tx.Exec(`RELEASE w`); err != nil {
				// This request's writes are lost with the transaction.
				return lost(fmt.Errorf("release savepoint: %w", err), batch[i:]...)
			}
		}
		ok = append(ok, applied{r, after})
	}
	if len(ok) == 0 {
		tx.Rollback()
		return nil, nil
	}
	if err := tx.Commit(); err != nil {
		for _, a := range ok {
			a.r.err = fmt.Errorf("%s: commit: %w", a.r.what, err)
			close(a.r.done)
		}
		return nil, nil
	}
	f.commits++
	for _, a := range ok {
		if a.after != nil {
			a.after()
		}
		close(a.r.done)
	}
	return nil, nil
}

// HostKey returns the host name the frontier keys budgets by for a URL:
// the host of its normalised form, with the port when not the default.
func HostKey(rawURL string) (string, error) {
	n, err := schemas.NormalizeURL(rawURL)
	if err != nil {
		return "", err
	}
	return hostOfNormalized(n), nil
}

// hostOfNormalized cuts the host[:port] out of a NormalizeURL result.
func hostOfNormalized(n string) string {
	rest := n[len("http://"):]
	if n[4] == 's' {
		rest = n[len("https://"):]
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' || rest[i] == '?' {
			return rest[:i]
		}
	}
	return rest
}

// normalizeHostKey turns a host argument ("Example.com:8080") into the form
// HostKey returns.
func normalizeHostKey(host string) (string, error) {
	if host == "" || strings.ContainsAny(host, "/?#@\\ ") {
		return "", fmt.Errorf("host %q: %w", host, schemas.ErrBadURL)
	}
	return HostKey("http://" + host + "/")
}

// hostID returns the id of a host row, creating it; pending collects ids
// created in this transaction for the cache.
func (f *Frontier) hostID(ctx context.Context, tx *sql.Tx, name string, pending map[string]int64) (int64, error) {
	if id, ok := f.hosts[name]; ok {
		return id, nil
	}
	if id, ok := pending[name]; ok {
		return id, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO hosts(name) VALUES(?) ON CONFLICT(name) DO NOTHING`, name); err != nil {
		return 0, fmt.Errorf("insert host %s: %w", name, err)
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `SELECT hid FROM hosts WHERE name = ?`, name).Scan(&id); err != nil {
		return 0, fmt.Errorf("look up host %s: %w", name, err)
	}
	pending[name] = id
	return id, nil
}

// noteJobHost records that job jid has a URL on host hid; pending collects
// pairs stored in this transaction for the cache.
func (f *Frontier) noteJobHost(ctx context.Context, tx *sql.Tx, jid, hid int64, pending map[[2]int64]bool) error {
	k := [2]int64{jid, hid}
	if f.jobHosts[k] || pending[k] {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO job_hosts(job, host) VALUES(?, ?) ON CONFLICT DO NOTHING`, jid, hid); err != nil {
		return fmt.Errorf("record host of job: %w", err)
	}
	pending[k] = true
	return nil
}

// commitCaches returns the onCommit hook that moves a transaction's new
// hosts and job-host pairs into the caches.
func (f *Frontier) commitCaches(hosts map[string]int64, jobHosts map[[2]int64]bool) func() {
	return func() {
		for name, id := range hosts {
			f.hosts[name] = id
		}
		for k := range jobHosts {
			f.jobHosts[k] = true
		}
	}
}

// jobInfo is what a write transaction needs to know about a job.
type jobInfo struct {
	jid      int64
	state    string
	maxPages int64
	admitted int64
}

func loadJob(ctx context.Context, tx *sql.Tx, id string) (jobInfo, error) {
	var j jobInfo
	err := tx.QueryRowContext(ctx, `SELECT jid, state, max_pages, admitted FROM jobs WHERE id = ?`, id).
		Scan(&j.jid, &j.state, &j.maxPages, &j.admitted)
	if errors.Is(err, sql.ErrNoRows) {
		return j, fmt.Errorf("job %q: %w", id, ErrUnknownJob)
	}
	if err != nil {
		return j, fmt.Errorf("load job %q: %w", id, err)
	}
	return j, nil
}

// waitingState is the state a waiting URL of a job in jobState gets.
func waitingState(jobState string) int {
	if jobState == JobRunning {
		return stateQueued
	}
	return stateHeld
}

// Add normalises the candidates and inserts, in one transaction, those not
// seen before for their job; it returns how many were new. The seen test
// and the insert are one atomic step on the (job, URLKey) unique index, so
// concurrent Adds of one URL admit it once. A candidate is not admitted when
// its URL does not normalise (logged at debug level), when its job is
// cancelled, or when its job has already admitted MaxPages URLs. A
// candidate of an unknown job fails the whole call with ErrUnknownJob.
func (f *Frontier) Add(ctx context.Context, cands []Candidate) (int, error) {
	if len(cands) == 0 {
		return 0, nil
	}
	type prepared struct {
		norm string
		host string
		key  [16]byte
		c    *Candidate
	}
	items := make([]prepared, 0, len(cands))
	for i := range cands {
		c := &cands[i]
		n, err := schemas.NormalizeURL(c.URL)
		if err != nil {
			f.log.Debug("frontier: candidate skipped", logkey.Job, c.JobID, logkey.URL, c.URL, logkey.Err, err)
			continue
		}
		items = append(items, prepared{norm: n, host: hostOfNormalized(n), key: schemas.URLKey(n), c: c})
	}
	added := 0
	err := f.writeTx(ctx, "add candidates", func(tx *sql.Tx, onCommit *func()) error {
		added = 0
		jobs := make(map[string]*jobInfo)
		for _, it := range items {
			if _, ok := jobs[it.c.JobID]; ok {
				continue
			}
			j, err := loadJob(ctx, tx, it.c.JobID)
			if err != nil {
				return err
			}
			jobs[it.c.JobID] = &j
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO urls(job, key, url, host, depth, priority, state, not_before)
			VALUES(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(job, key) DO NOTHING`)
		if err != nil {
			return fmt.Errorf("prepare insert: %w", err)
		}
		defer ins.Close()
		pending := make(map[string]int64)
		pendingPairs := make(map[[2]int64]bool)
		queued := make(map[int64]int64) // hid -> URLs queued by this batch
		for _, it := range items {
			j := jobs[it.c.JobID]
			if j.state == JobCancelled || (j.maxPages > 0 && j.admitted >= j.maxPages) {
				continue
			}
			hid, err := f.hostID(ctx, tx, it.host, pending)
			if err != nil {
				return err
			}
			var nb int64
			if !it.c.NotBefore.IsZero() {
				nb = it.c.NotBefore.UnixNano()
			}
			prio := it.c.Priority
			if math.IsNaN(prio) || math.IsInf(prio, 0) {
				prio = 0
			}
			state := waitingState(j.state)
			res, err := ins.ExecContext(ctx, j.jid, it.key[:], it.norm, hid, it.c.Depth, prio, state, nb)
			if err != nil {
				return fmt.Errorf("insert %s: %w", it.norm, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("insert %s: %w", it.norm, err)
			} else if n == 1 {
				j.admitted++
				added++
				if state == stateQueued {
					queued[hid]++
				}
				if err := f.noteJobHost(ctx, tx, j.jid, hid, pendingPairs); err != nil {
					return err
				}
			}
		}
		for hid, n := range queued {
			if _, err := tx.ExecContext(ctx, `UPDATE hosts SET queued = queued + ? WHERE hid = ?`, n, hid); err != nil {
				return fmt.Errorf("count queued URLs of host %d: %w", hid, err)
			}
		}
		for id, j := range jobs {
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET admitted = ? WHERE jid = ?`, j.admitted, j.jid); err != nil {
				return fmt.Errorf("count admitted URLs of job %q: %w", id, err)
			}
		}
		*onCommit = f.commitCaches(pending, pendingPairs)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

// SetHostPolicy stores a politeness policy for host (as HostKey returns
// it). The stored policy only ever gets stricter: it is merged, field by
// field, with the one already stored, and leases use the stricter of it and
// the default.
func (f *Frontier) SetHostPolicy(ctx context.Context, host string, p HostPolicy) error {
	name, err := normalizeHostKey(host)
	if err != nil {
		return fmt.Errorf("set host policy: %w", err)
	}
	if err := p.validate(); err != nil {
		return fmt.Errorf("set host policy for %s: %w", name, err)
	}
	return f.writeTx(ctx, "set host policy for "+name, func(tx *sql.Tx, onCommit *func()) error {
		pending := make(map[string]int64)
		hid, err := f.hostID(ctx, tx, name, pending)
		if err != nil {
			return err
		}
		var cur HostPolicy
		var delay int64
		if err := tx.QueryRowContext(ctx, `SELECT min_delay, max_conc FROM hosts WHERE hid = ?`, hid).Scan(&delay, &cur.MaxConcurrency); err != nil {
			return fmt.Errorf("read policy: %w", err)
		}
		cur.MinDelay = time.Duration(delay)
		m := cur.stricter(p)
		if _, err := tx.ExecContext(ctx, `UPDATE hosts SET min_delay = ?, max_conc = ? WHERE hid = ?`, int64(m.MinDelay), m.MaxConcurrency, hid); err != nil {
			return fmt.Errorf("write policy: %w", err)
		}
		*onCommit = f.commitCaches(pending, nil)
		return nil
	})
}

// Backoff stops every node from being leased host's URLs before until (a
// 429 or 503 with Retry-After seen by any node). Leases already handed out
// are not recalled; their holders back off on their own.
func (f *Frontier) Backoff(ctx context.Context, host string, until time.Time) error {
	name, err := normalizeHostKey(host)
	if err != nil {
		return fmt.Errorf("back off host: %w", err)
	}
	return f.writeTx(ctx, "back off "+name, func(tx *sql.Tx, onCommit *func()) error {
		pending := make(map[string]int64)
		hid, err := f.hostID(ctx, tx, name, pending)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE hosts SET backoff_ns = max(backoff_ns, ?) WHERE hid = ?`, until.UnixNano(), hid); err != nil {
			return fmt.Errorf("write backoff: %w", err)
		}
		*onCommit = f.commitCaches(pending, nil)
		return nil
	})
}

// Stats counts a job's URLs by state; jobID "" counts all jobs. Queued
// includes URLs held back because their job is paused.
type Stats struct {
	Queued, Leased, Done, Hosts int64
}

// Stats returns the frontier's counts for one job, or all jobs for "".
func (f *Frontier) Stats(ctx context.Context, jobID string) (Stats, error) {
	var st Stats
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return st, fmt.Errorf("frontier stats: %w", ErrClosed)
	}
	byState := `SELECT state, count(*) FROM urls GROUP BY state`
	hosts := `SELECT count(DISTINCT host) FROM job_hosts`
	var args []any
	if jobID != "" {
		var jid int64
		if err := f.rdb.QueryRowContext(ctx, `SELECT jid FROM jobs WHERE id = ?`, jobID).Scan(&jid); errors.Is(err, sql.ErrNoRows) {
			return st, fmt.Errorf("frontier stats: job %q: %w", jobID, ErrUnknownJob)
		} else if err != nil {
			return st, fmt.Errorf("frontier stats for job %q: %w", jobID, err)
		}
		byState = `SELECT state, count(*) FROM urls WHERE job = ? GROUP BY state`
		hosts = `SELECT count(*) FROM job_hosts WHERE job = ?`
		args = []any{jid}
	}
	counts, err := scanCounts(ctx, f.rdb, byState, args...)
	if err != nil {
		return st, fmt.Errorf("frontier stats: %w", err)
	}
	st.Queued = counts[stateQueued] + counts[stateHeld]
	st.Leased = counts[stateLeased]
	st.Done = counts[stateDone]
	if err := f.rdb.QueryRowContext(ctx, hosts, args...).Scan(&st.Hosts); err != nil {
		return st, fmt.Errorf("frontier stats: count hosts: %w", err)
	}
	return st, nil
}

// scanCounts reads (state, count) rows into a map.
func scanCounts(ctx context.Context, db *sql.DB, query string, args ...any) (map[int]int64, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := make(map[int]int64)
	for rows.Next() {
		var state int
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return nil, err
		}
		m[state] = n
	}
	return m, rows.Err()
}
