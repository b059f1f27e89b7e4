package curator

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
)

// schemaSQL is the curator's store, version 1. Items keep their JSON body
// plus the columns the queue filters on; decisions keep their signed wire
// bytes so they can be re-verified or re-gossiped, and items the signed
// announcement they came with, so a late curator can be sent both verbatim
// (sync.go).
const schemaSQL = `
CREATE TABLE IF NOT EXISTS items(
	id TEXT PRIMARY KEY,
	kind TEXT NOT NULL,
	dataset TEXT NOT NULL,
	domain TEXT NOT NULL,
	url TEXT NOT NULL,
	text TEXT NOT NULL,
	reasons TEXT NOT NULL,
	scores TEXT NOT NULL,
	body TEXT NOT NULL,
	gold_author TEXT NOT NULL,
	gold TEXT NOT NULL,
	state TEXT NOT NULL,
	votes INTEGER NOT NULL DEFAULT 0,
	enqueued_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS items_queue ON items(state, kind, votes);
CREATE INDEX IF NOT EXISTS items_domain ON items(domain);
CREATE TABLE IF NOT EXISTS decisions(
	curator TEXT NOT NULL,
	nonce TEXT NOT NULL,
	item_id TEXT NOT NULL,
	action TEXT NOT NULL,
	adjudication INTEGER NOT NULL,
	ts INTEGER NOT NULL,
	raw BLOB NOT NULL,
	pending INTEGER NOT NULL DEFAULT 0,
	due_at INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY(curator, nonce)
);
CREATE INDEX IF NOT EXISTS decisions_item ON decisions(item_id, curator, ts);
CREATE INDEX IF NOT EXISTS decisions_pending ON decisions(pending, due_at);
CREATE TABLE IF NOT EXISTS mine(
	item_id TEXT PRIMARY KEY,
	action TEXT NOT NULL,
	nonce TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS history(
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	grp INTEGER NOT NULL,
	item_id TEXT NOT NULL,
	action TEXT NOT NULL,
	nonce TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settlements(
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	item_id TEXT NOT NULL UNIQUE,
	body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rules(
	domain TEXT NOT NULL,
	rule_version INTEGER NOT NULL,
	author TEXT NOT NULL,
	nonce TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	raw BLOB NOT NULL,
	assigned INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY(domain, rule_version, author)
);
CREATE TABLE IF NOT EXISTS seen_items(
	source TEXT NOT NULL,
	nonce TEXT NOT NULL,
	PRIMARY KEY(source, nonce)
);
CREATE TABLE IF NOT EXISTS item_announcements(
	item_id TEXT PRIMARY KEY,
	raw BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS settings(
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
`

// schemaVersion is the store's PRAGMA user_version. Version 2 added
// rules.assigned: the version this process gave a rule when it accepted
// it (curator trust: authors do not choose versions).
const schemaVersion = 2

// openDB opens the SQLite store in WAL mode with one connection: the
// curator serialises its writes anyway, and one connection keeps SQLite's
// locking out of the picture.
func openDB(ctx context.Context, path string) (*sql.DB, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening curator store %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schemaSQL); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating curator store %s: %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("upgrading curator store %s: %w (move the file away to start afresh)", path, err)
	}
	return db, nil
}

// migrate upgrades a version 1 store: rules get assigned versions in the
// order version 1 ranked them.
func migrate(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	if v >= schemaVersion {
		return nil
	}
	var has int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('rules') WHERE name = 'assigned'`).Scan(&has); err != nil {
		return err
	}
	if has == 0 {
		if _, err := db.ExecContext(ctx, `ALTER TABLE rules ADD COLUMN assigned INTEGER NOT NULL DEFAULT 0`); err != nil {
			return err
		}
	}
	// Number each domain's rules in the order version 1 ranked them
	// (claimed version, then time, then author), so the rule in force
	// stays the same across the upgrade.
	if _, err := db.ExecContext(ctx, `UPDATE rules SET assigned = (SELECT COUNT(*) FROM rules s WHERE s.domain = rules.domain AND
		(s.rule_version < rules.rule_version OR (s.rule_version = rules.rule_version AND
		 (s.created_at < rules.created_at OR (s.created_at = rules.created_at AND s.author <= rules.author))))) WHERE assigned = 0`); err != nil {
		return err
	}
	_, err := db.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion))
	return err
}

// setting reads a settings value ("" when unset).
func (c *Curator) setting(ctx context.Context, key string) (string, error) {
	var v string
	err := c.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if err == sql.ErrNoRows {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading setting %s: %w", key, err)
	}
	return v, nil
}

func (c *Curator) setSetting(ctx context.Context, key, value string) error {
	if _, err := c.db.ExecContext(ctx, `INSERT INTO settings(key, value) VALUES(?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("saving setting %s: %w", key, err)
	}
	return nil
}
