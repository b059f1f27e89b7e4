package frontier

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swardnet/sward/internal/testutil"
)

// The crash tests re-run this test binary as a child that works on a
// frontier and prints what it committed, kill it with SIGKILL mid-way, and
// check that the database opens cleanly and holds everything reported.

const (
	crashEnvMode = "SWARD_FRONTIER_CRASH_CHILD"
	crashEnvDB   = "SWARD_FRONTIER_CRASH_DB"
	crashBatch   = 500
)

var crashPolicy = HostPolicy{MaxConcurrency: 1000}

func crashBatchCands(i int) []Candidate {
	cands := make([]Candidate, crashBatch)
	for k := range cands {
		cands[k] = Candidate{JobID: "j", URL: fmt.Sprintf("http://h%d.example/b%d/u%d", k%50, i, k)}
	}
	return cands
}

// TestCrashChild is the child's body; it only runs when the parent sets
// crashEnvMode.
func TestCrashChild(t *testing.T) {
	mode := os.Getenv(crashEnvMode)
	if mode == "" {
		t.Skip("helper process of the crash tests")
	}
	ctx := context.Background()
	f, err := Open(ctx, os.Getenv(crashEnvDB), Config{DefaultHostPolicy: crashPolicy, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	switch mode {
	case "add":
		for i := 0; i < 10000; i++ {
			n, err := f.Add(ctx, crashBatchCands(i))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(out, "added %d %d\n", i, n)
			out.Flush()
		}
	case "complete":
		for i := 0; i < 100000; i++ {
			l, err := f.Lease(ctx, "child", 20, time.Now(), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Items) == 0 {
				time.Sleep(time.Millisecond)
				continue
			}
			if err := f.Complete(ctx, l.ID, nil); err != nil {
				t.Fatal(err)
			}
			for _, it := range l.Items {
				fmt.Fprintf(out, "done %s\n", it.URL)
			}
			out.Flush()
		}
	default:
		t.Fatalf("unknown child mode %q", mode)
	}
}

// runAndKill starts the child in mode, hands each line it prints to line,
// and once line returns true kills it with SIGKILL after a random pause of
// up to maxPause, so that the kill lands at varying points of the child's
// next transaction.
func runAndKill(t *testing.T, mode, db string, maxPause time.Duration, line func(string) bool) {
	t.Helper()
	testutil.KillChild(t, "TestCrashChild", []string{crashEnvMode + "=" + mode, crashEnvDB + "=" + db}, maxPause, line)
}

func reopenAfterCrash(t *testing.T, db string) *Frontier {
	t.Helper()
	f := openTest(t, db, Config{DefaultHostPolicy: crashPolicy})
	var res string
	if err := f.db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check after crash = %q, %v", res, err)
	}
	checkInvariants(t, f)
	return f
}

func TestCrashDuringAdd(t *testing.T) {
	db := filepath.Join(t.TempDir(), "frontier.db")
	f := openTest(t, db)
	putJob(t, f, "j", 0)
	f.Close()

	last := -1
	runAndKill(t, "add", db, 50*time.Millisecond, func(s string) bool {
		var i, n int
		if _, err := fmt.Sscanf(s, "added %d %d", &i, &n); err == nil {
			if n != crashBatch {
				t.Errorf("child batch %d admitted %d", i, n)
			}
			last = i
		}
		return last >= 8
	})

	g := reopenAfterCrash(t, db)
	st := mustStats(t, g, "j")
	// Batches are transactions: the store holds whole batches only, and at
	// least every one the child reported.
	if st.Queued%crashBatch != 0 || st.Queued < int64(last+1)*crashBatch {
		t.Fatalf("after crash %d URLs queued; child reported %d batches of %d", st.Queued, last+1, crashBatch)
	}
	for i := 0; i <= last; i++ {
		if n := mustAdd(t, g, crashBatchCands(i)...); n != 0 {
			t.Fatalf("batch %d: %d URLs were lost in the crash", i, n)
		}
	}
	t.Logf("child reported %d batches, %d recorded, before SIGKILL", last+1, st.Queued/crashBatch)
}

func TestCrashDuringComplete(t *testing.T) {
	db := filepath.Join(t.TempDir(), "frontier.db")
	f := openTest(t, db, Config{DefaultHostPolicy: crashPolicy})
	putJob(t, f, "j", 0)
	const batches = 4
	for i := 0; i < batches; i++ {
		mustAdd(t, f, crashBatchCands(i)...)
	}
	f.Close()

	var done []string
	runAndKill(t, "complete", db, 10*time.Millisecond, func(s string) bool {
		if u, ok := strings.CutPrefix(s, "done "); ok {
			done = append(done, u)
		}
		return len(done) >= 400
	})

	g := reopenAfterCrash(t, db)
	ctx := context.Background()
	for _, u := range done {
		already, err := g.MarkDone(ctx, "j", u)
		if err != nil || !already {
			t.Fatalf("%s reported done before the crash: MarkDone = %v, %v", u, already, err)
		}
	}
	// Leases the child held when it died expire and their URLs come back.
	if _, err := g.ExpireLeases(ctx, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	st := mustStats(t, g, "j")
	if st.Leased != 0 || st.Queued+st.Done != batches*crashBatch || st.Done < int64(len(done)) {
		t.Fatalf("after crash Stats = %+v; child reported %d done of %d", st, len(done), batches*crashBatch)
	}
	checkInvariants(t, g)
	t.Logf("child completed %d URLs (%d recorded) before SIGKILL", len(done), st.Done)
}
