package frontier

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Synchronous modes accepted by WithSynchronous.
const (
	// SyncFull fsyncs the write-ahead log on every commit: a committed
	// transaction survives a power cut as well as a process crash. It is the
	// default because the frontier is the only record of discovered URLs and
	// leases; the cost is amortised by batching URLs into one transaction.
	SyncFull = "FULL"
	// SyncNormal fsyncs only at checkpoints: a process crash loses nothing, a
	// power cut may lose the last commits (never corrupts the database).
	SyncNormal = "NORMAL"
)

// migrations build the frontier schema; migration i (0-based) takes the
// database to version i+1, recorded in PRAGMA user_version. Append only.
var migrations = []string{
	// 1: jobs, hosts, urls (the queue and the seen-set in one table), the
	// hosts each job has URLs on, leases and the host slots they hold.
	`
CREATE TABLE jobs (
	jid        INTEGER PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	spec       TEXT NOT NULL,
	state      TEXT NOT NULL,
	max_pages  INTEGER NOT NULL DEFAULT 0,
	admitted   INTEGER NOT NULL DEFAULT 0,
	created_ns INTEGER NOT NULL,
	updated_ns INTEGER NOT NULL
);
CREATE TABLE hosts (
	hid         INTEGER PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	min_delay   INTEGER NOT NULL DEFAULT 0,
	max_conc    INTEGER NOT NULL DEFAULT 0,
	next_ns     INTEGER NOT NULL DEFAULT 0,
	backoff_ns  INTEGER NOT NULL DEFAULT 0,
	active      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX hosts_next ON hosts(next_ns);
CREATE TABLE urls (
	id         INTEGER PRIMARY KEY,
	job        INTEGER NOT NULL REFERENCES jobs(jid),
	key        BLOB NOT NULL,
	url        TEXT NOT NULL,
	host       INTEGER NOT NULL REFERENCES hosts(hid),
	depth      INTEGER NOT NULL,
	priority   REAL NOT NULL,
	state      INTEGER NOT NULL,
	not_before INTEGER NOT NULL DEFAULT 0,
	lease      INTEGER,
	done_ns    INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX urls_seen ON urls(job, key);
CREATE INDEX urls_queue ON urls(host, priority DESC, id) WHERE state = 0;
CREATE INDEX urls_lease ON urls(lease) WHERE lease IS NOT NULL;
CREATE INDEX urls_job ON urls(job, state);
CREATE TABLE job_hosts (
	job  INTEGER NOT NULL REFERENCES jobs(jid),
	host INTEGER NOT NULL REFERENCES hosts(hid),
	PRIMARY KEY (job, host)
) WITHOUT ROWID;
CREATE TABLE leases (
	lid         INTEGER PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	node        TEXT NOT NULL,
	deadline_ns INTEGER NOT NULL,
	created_ns  INTEGER NOT NULL
);
CREATE INDEX leases_deadline ON leases(deadline_ns);
CREATE TABLE lease_hosts (
	lease     INTEGER NOT NULL REFERENCES leases(lid),
	host      INTEGER NOT NULL REFERENCES hosts(hid),
	remaining INTEGER NOT NULL,
	end_ns    INTEGER NOT NULL,
	PRIMARY KEY (lease, host)
) WITHOUT ROWID;
`,
	// 2: hosts.queued counts each host's queued URLs, so that Lease only
	// looks at hosts with queued URLs and hosts that finished long ago cost
	// nothing. Triggers keep it on every state change; Add, the only code
	// that inserts queued URLs, adds its per-host counts once per batch
	// (a per-row insert trigger cost a quarter of Add's CPU).
	`
ALTER TABLE hosts ADD COLUMN queued INTEGER NOT NULL DEFAULT 0;
UPDATE hosts SET queued = (SELECT count(*) FROM urls WHERE urls.host = hosts.hid AND urls.state = 0);
CREATE INDEX hosts_ready ON hosts(next_ns) WHERE queued > 0;
CREATE TRIGGER urls_queue_leave AFTER UPDATE OF state ON urls WHEN old.state = 0 AND new.state != 0
BEGIN UPDATE hosts SET queued = queued - 1 WHERE hid = old.host; END;
CREATE TRIGGER urls_queue_enter AFTER UPDATE OF state ON urls WHEN old.state != 0 AND new.state = 0
BEGIN UPDATE hosts SET queued = queued + 1 WHERE hid = new.host; END;
CREATE TRIGGER urls_queue_delete AFTER DELETE ON urls WHEN old.state = 0
BEGIN UPDATE hosts SET queued = queued - 1 WHERE hid = old.host; END;
`,
	// 3: the coordinator's verification state (see coordinator/persist.go, which writes it with Update): the
	// sampling secret, the contribution ledger (quarantined peers are
	// marked in it), what each peer put into each job's next dataset
	// version, and the open verification checks with the answers of the
	// nodes that re-fetched them. Peers are libp2p peer IDs, jobs job IDs,
	// norm a normalised URL; fingerprints are MinHash signatures as
	// little-endian uint64s, dedup keys pipeline.DedupKey.Marshal.
	`
CREATE TABLE coord_meta (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE ledger (
	peer           TEXT PRIMARY KEY,
	pages          INTEGER NOT NULL,
	bytes          INTEGER NOT NULL,
	verified_pages INTEGER NOT NULL,
	verified_bytes INTEGER NOT NULL,
	failed         INTEGER NOT NULL,
	quarantined    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE contributions (
	id       INTEGER PRIMARY KEY,
	peer     TEXT NOT NULL,
	job      TEXT NOT NULL,
	norm     TEXT NOT NULL,
	url      TEXT NOT NULL,
	depth    INTEGER NOT NULL,
	doc_id   TEXT NOT NULL,
	decision TEXT NOT NULL,
	verified INTEGER NOT NULL,
	at_ns    INTEGER NOT NULL,
	dedup    BLOB
);
CREATE UNIQUE INDEX contributions_key ON contributions(peer, job, norm);
CREATE INDEX contributions_job ON contributions(job, at_ns);
CREATE TABLE checks (
	id          INTEGER PRIMARY KEY,
	job         TEXT NOT NULL,
	norm        TEXT NOT NULL,
	url         TEXT NOT NULL,
	host        TEXT NOT NULL,
	depth       INTEGER NOT NULL,
	orig        TEXT NOT NULL,
	orig_status INTEGER NOT NULL,
	orig_sig    BLOB,
	orig_bytes  INTEGER NOT NULL,
	created_ns  INTEGER NOT NULL
);
CREATE UNIQUE INDEX checks_key ON checks(job, norm);
CREATE TABLE check_answers (
	job    TEXT NOT NULL,
	norm   TEXT NOT NULL,
	node   TEXT NOT NULL,
	seq    INTEGER NOT NULL,
	usable INTEGER NOT NULL,
	status INTEGER NOT NULL,
	sig    BLOB,
	bytes  INTEGER NOT NULL
);
CREATE UNIQUE INDEX check_answers_key ON check_answers(job, norm, node);
`,
	// 4: of the original capture of a check and of each answer, the URL
	// the fetch was redirected to ("" when it was not) and whether it was
	// an error answer (a network error, throttling, a server error, a page
	// the node may not fetch): verification compares both, and a check
	// restored without them took an honest redirect for a lie and set every
	// honest error answer aside. NULL marks a row saved before schema 4.
	`
ALTER TABLE checks ADD COLUMN orig_final TEXT;
ALTER TABLE checks ADD COLUMN orig_failed INTEGER;
ALTER TABLE check_answers ADD COLUMN final TEXT;
ALTER TABLE check_answers ADD COLUMN failed INTEGER;
`,
	// 5: how many of its node's own captures had passed a check when a
	// contribution was recorded: the coordinator keeps it (and a
	// conviction takes its page out) until enough more have. NULL marks a
	// row saved before schema 5.
	`
ALTER TABLE contributions ADD COLUMN own_checks INTEGER;
`,
	// 6: contributions_job is dropped: no query reads contributions by
	// job (the coordinator upserts and deletes by peer, job and URL,
	// which contributions_key serves, and loads the whole table), so it
	// only cost every write of a contribution.
	`
DROP INDEX IF EXISTS contributions_job;
`,
}

// openStore opens the SQLite database at path with the frontier's pragmas
// and applies pending migrations. It returns two pools: w, with one
// connection, for every write transaction (SQLite has one writer anyway, and
// one connection keeps them serial), and r, read-only, so that counting
// queries read a WAL snapshot without holding up leases.
func openStore(ctx context.Context, path, synchronous string, cacheMiB int) (w, r *sql.DB, err error) {
	if path == "" {
		return nil, nil, errors.New("open frontier: empty database path")
	}
	if synchronous != SyncFull && synchronous != SyncNormal {
		return nil, nil, fmt.Errorf("open frontier: synchronous mode %q is not %q or %q", synchronous, SyncFull, SyncNormal)
	}
	if cacheMiB < 1 {
		return nil, nil, fmt.Errorf("open frontier: page cache of %d MiB is too small", cacheMiB)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, nil, fmt.Errorf("open frontier: create directory %s: %w", dir, err)
		}
	}
	file := "file:" + (&url.URL{Path: path}).EscapedPath() + "?"

	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", synchronous)
	q.Set("_foreign_keys", "1")
	q.Set("_txlock", "immediate")
	// The page cache should hold the seen-set index (about 40 bytes per
	// URL): inserts into it are random, so a miss costs a read per URL.
	q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -cacheMiB*1024))
	// Checkpoint every 64 MiB of WAL instead of 4 MiB: a batch of random
	// index inserts dirties thousands of pages, and a page rewritten by
	// several commits between checkpoints is copied to the database once.
	q.Add("_pragma", "wal_autocheckpoint(16384)")
	q.Add("_pragma", "journal_size_limit(67108864)")
	w, err = sql.Open("sqlite", file+q.Encode())
	if err != nil {
		return nil, nil, fmt.Errorf("open frontier %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("open frontier %s: %w", path, err)
	}

	rq := url.Values{}
	rq.Set("_busy_timeout", "10000")
	rq.Set("_query_only", "1")
	rq.Add("_pragma", "cache_size(-8192)")
	r, err = sql.Open("sqlite", file+rq.Encode())
	if err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("open frontier %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(2)
	r.SetMaxIdleConns(2)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, nil, fmt.Errorf("open frontier %s for reading: %w", path, err)
	}
	return w, r, nil
}

// migrate brings the schema to the newest version, one transaction per
// migration, so a crash mid-migration leaves the previous version intact.
func migrate(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this build knows (%d); upgrade sward", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate to schema %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to schema %d: %w", v+1, err)
		}
		// PRAGMA takes no bound parameters; v+1 is an int we own.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("record schema %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit schema %d: %w", v+1, err)
		}
	}
	return nil
}
