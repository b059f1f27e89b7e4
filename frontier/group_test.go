package frontier

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestWriteTxGroupCommit: writes that queue behind a running transaction
// are committed together in one transaction, and a write that fails is
// undone alone: the others in its batch commit, see each other's rows and
// run their commit hooks; the failed one's rows and hook are gone.
func TestWriteTxGroupCommit(t *testing.T) {
	f := openTest(t, "")
	ctx := context.Background()
	const n = 40
	var (
		mu        sync.Mutex
		committed = map[int]bool{}
		errs      = make([]error, n)
		wg        sync.WaitGroup
	)
	queued := func() int {
		f.qmu.Lock()
		defer f.qmu.Unlock()
		return len(f.queue)
	}
	holding := make(chan struct{})
	applied := 0 // writes that succeeded so far; the functions run one at a time
	write := func(i int) error {
		return f.writeTx(ctx, fmt.Sprintf("write %d", i), func(tx *sql.Tx, onCommit *func()) error {
			if i == 0 {
				// The first transaction holds the lock until every other
				// write is queued behind it.
				close(holding)
				for deadline := time.Now().Add(10 * time.Second); queued() < n-1; {
					if time.Now().After(deadline) {
						return errors.New("writes did not queue")
					}
					time.Sleep(time.Millisecond)
				}
			}
			// Every write before this one that did not fail is visible:
			// the functions run one after the other in the transaction.
			var c int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM hosts WHERE name LIKE 'h%.example'`).Scan(&c); err != nil || c != applied {
				return fmt.Errorf("sees %d earlier rows, want %d (%v)", c, applied, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO hosts(name) VALUES(?)`, fmt.Sprintf("h%d.example", i)); err != nil {
				return err
			}
			if i%4 == 3 {
				return errors.New("boom")
			}
			applied++
			*onCommit = func() {
				mu.Lock()
				committed[i] = true
				mu.Unlock()
			}
			return nil
		})
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs[0] = write(0)
	}()
	<-holding
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = write(i)
		}()
	}
	wg.Wait()

	f.mu.Lock()
	commits := f.commits
	f.mu.Unlock()
	if commits != 2 {
		t.Errorf("%d commits for %d writes, want 2 (the first alone, then the rest together)", commits, n)
	}
	for i := 0; i < n; i++ {
		var c int
		if err := f.rdb.QueryRowContext(ctx, `SELECT count(*) FROM hosts WHERE name = ?`, fmt.Sprintf("h%d.example", i)).Scan(&c); err != nil {
			t.Fatal(err)
		}
		failed := i%4 == 3
		switch {
		case failed && (errs[i] == nil || c != 0 || committed[i]):
			t.Errorf("write %d should have failed alone: err %v, rows %d, hook run %v", i, errs[i], c, committed[i])
		case !failed && (errs[i] != nil || c != 1 || !committed[i]):
			t.Errorf("write %d should have committed: err %v, rows %d, hook run %v", i, errs[i], c, committed[i])
		}
	}
}

// TestWriteTxCancelledWhileQueued: a write whose context ends while it
// waits for the lock fails with the context's error and writes nothing.
func TestWriteTxCancelledWhileQueued(t *testing.T) {
	f := openTest(t, "")
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		_ = f.writeTx(context.Background(), "hold", func(*sql.Tx, *func()) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- f.writeTx(ctx, "late", func(tx *sql.Tx, _ *func()) error {
			_, err := tx.Exec(`INSERT INTO hosts(name) VALUES('late.example')`)
			return err
		})
	}()
	for {
		f.qmu.Lock()
		n := len(f.queue)
		f.qmu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	close(release)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled write: %v, want context.Canceled", err)
	}
	var c int
	if err := f.rdb.QueryRow(`SELECT count(*) FROM hosts WHERE name = 'late.example'`).Scan(&c); err != nil || c != 0 {
		t.Errorf("cancelled write left %d rows (%v)", c, err)
	}
}
