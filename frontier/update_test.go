package frontier

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestConfigDefaultValidate: the zero Config opens with the documented
// defaults, and settings the frontier cannot run with are refused.
func TestConfigDefaultValidate(t *testing.T) {
	var c Config
	c.Default()
	if c.DefaultHostPolicy != (HostPolicy{MinDelay: time.Second, MaxConcurrency: 1}) || c.Synchronous != SyncFull ||
		c.CacheMiB != 64 || c.Now == nil || c.Logger == nil {
		t.Errorf("defaults %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	keep := Config{DefaultHostPolicy: HostPolicy{MinDelay: 0, MaxConcurrency: 2}}
	keep.Default()
	if keep.DefaultHostPolicy != (HostPolicy{MaxConcurrency: 2}) {
		t.Errorf("a set policy was changed to %+v", keep.DefaultHostPolicy)
	}
	bad := []Config{
		{Synchronous: "OFF"},
		{CacheMiB: -1},
		{DefaultHostPolicy: HostPolicy{MinDelay: -time.Second, MaxConcurrency: 1}},
		{DefaultHostPolicy: HostPolicy{MaxConcurrency: maxPolicyConcurrency + 1}},
	}
	for _, b := range bad {
		b.Default()
		if err := b.Validate(); err == nil {
			t.Errorf("%+v validated", b)
		}
	}
}

// TestUpdate: an update's writes are committed and readable with Query;
// a failing update undoes only its own writes; concurrent updates are
// serial and each sees the ones before it; after Close it is ErrClosed.
func TestUpdate(t *testing.T) {
	ctx := context.Background()
	f := openTest(t, "")
	if err := f.Update(ctx, "create", func(tx *sql.Tx) error {
		_, err := tx.Exec(`CREATE TABLE IF NOT EXISTS t_counter (n INTEGER NOT NULL)`)
		if err == nil {
			_, err = tx.Exec(`INSERT INTO t_counter(n) VALUES(0)`)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			errs <- f.Update(ctx, "increment", func(tx *sql.Tx) error {
				if _, err := tx.Exec(`UPDATE t_counter SET n = n + 1`); err != nil {
					return err
				}
				if i%4 == 0 {
					return boom // undone: its increment is rolled back
				}
				return nil
			})
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if errors.Is(err, boom) {
			failed++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := f.QueryRow(ctx, `SELECT n FROM t_counter`).Scan(&n); err != nil || n != 30 || failed != 10 {
		t.Fatalf("counter %d (%v), %d failed; want 30 and 10", n, err, failed)
	}
	rows, err := f.Query(ctx, `SELECT n FROM t_counter`)
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	f.Close()
	if err := f.Update(ctx, "after close", func(*sql.Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v, want ErrClosed", err)
	}
	if _, err := f.Prepare(ctx, `SELECT 1`); !errors.Is(err, ErrClosed) {
		t.Errorf("Prepare after Close: %v, want ErrClosed", err)
	}
}

// TestUpdateLazySyncMode: with SyncFull, a transaction of lazy updates
// only runs NORMAL (no fsync of its own) and the next other write runs
// FULL again, so it makes the lazy one durable; a statement from Prepare
// runs inside an update.
func TestUpdateLazySyncMode(t *testing.T) {
	ctx := context.Background()
	f := openTest(t, "", Config{Synchronous: SyncFull})
	mode := func(update func(context.Context, string, func(*sql.Tx) error) error) int {
		t.Helper()
		var m int
		if err := update(ctx, "read mode", func(tx *sql.Tx) error {
			// Not a prepared statement: SQLite reads this pragma's value
			// when it compiles the statement.
			return tx.QueryRow(`PRAGMA synchronous`).Scan(&m)
		}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := mode(f.UpdateLazy); m != 1 {
		t.Errorf("lazy update ran synchronous=%d, want NORMAL (1)", m)
	}
	if m := mode(f.Update); m != 2 {
		t.Errorf("update after a lazy one ran synchronous=%d, want FULL (2)", m)
	}
	if m := mode(f.UpdateLazy); m != 1 {
		t.Errorf("second lazy update ran synchronous=%d, want NORMAL (1)", m)
	}
	if _, err := f.Add(ctx, nil); err != nil {
		t.Fatal(err)
	}
	putJob(t, f, "j", 0)
	if m := mode(f.Update); m != 2 {
		t.Errorf("update after PutJob ran synchronous=%d, want FULL (2)", m)
	}
	st, err := f.Prepare(ctx, `SELECT count(*) FROM jobs`)
	if err != nil {
		t.Fatal(err)
	}
	var jobs int
	if err := f.UpdateLazy(ctx, "count jobs", func(tx *sql.Tx) error {
		return tx.StmtContext(ctx, st).QueryRow().Scan(&jobs)
	}); err != nil || jobs != 1 {
		t.Errorf("prepared statement in an update: %d jobs (%v), want 1", jobs, err)
	}

	normal := openTest(t, "", Config{Synchronous: SyncNormal})
	var m int
	if err := normal.UpdateLazy(ctx, "read mode", func(tx *sql.Tx) error {
		return tx.QueryRow(`PRAGMA synchronous`).Scan(&m)
	}); err != nil || m != 1 {
		t.Errorf("lazy update of a SyncNormal frontier: mode %d (%v), want 1", m, err)
	}
}
