//go:build unix

package coordinator

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/schemas"
)

// persistCrashEnv names the data directory of the child process of
// TestVerificationStateAfterKill.
const persistCrashEnv = "SWARD_PERSIST_CRASH_DIR"

// persistCrashRate is the child job's verification sample rate.
const persistCrashRate = 0.3

// TestPersistCrashChild is the child of TestVerificationStateAfterKill: a
// coordinator that ingests one node's captures as fast as it can and
// prints each URL whose Ingest returned. It only runs when the parent
// sets persistCrashEnv.
func TestPersistCrashChild(t *testing.T) {
	dir := os.Getenv(persistCrashEnv)
	if dir == "" {
		t.Skip("helper process of TestVerificationStateAfterKill")
	}
	ctx := context.Background()
	f, err := frontier.Open(ctx, filepath.Join(dir, "frontier.db"),
		frontier.Config{DefaultHostPolicy: frontier.HostPolicy{MaxConcurrency: 100}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	c, _, _ := newCoordinatorOn(t, dir, f, time.Hour)
	c.log = quietLogger()
	seeds := make([]string, 1000)
	for i := range seeds {
		seeds[i] = fmt.Sprintf("http://127.0.0.%d:9/report/%d", 1+i%20, i)
	}
	domains := make([]string, 20)
	for i := range domains {
		domains[i] = fmt.Sprintf("127.0.0.%d:9", 1+i)
	}
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "k", Dataset: "k", Seeds: seeds,
		Scope: schemas.Scope{Domains: domains}, MaxDepth: 0, VerifySampleRate: persistCrashRate, TDMPolicy: schemas.TDMSkip}
	if _, err := c.Submit(ctx, spec); err != nil {
		t.Fatal(err)
	}
	node := testPeer(t)
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "node %s\n", node)
	out.Flush()
	for i := 0; ; i++ {
		resp := c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 20})
		if resp.Error != "" {
			t.Fatal(resp.Error)
		}
		if len(resp.Items) == 0 {
			t.Fatal("the child ran out of URLs before it was killed")
		}
		for k, it := range resp.Items {
			if isCheckItem(c, node, it) {
				continue
			}
			if err := c.Ingest(ctx, htmlCapture("k", it.URL, node.String(), article(1000*i+k, "ad", "now"))); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(out, "done %s\n", it.URL)
			out.Flush()
		}
	}
}

// TestVerificationStateAfterKill kills a coordinator with SIGKILL in the
// middle of ingest and opens a new one on its data: every URL the frontier
// has as done, and every URL whose Ingest returned, has its node's
// contribution on record, and a check if the capture was sampled; the
// ledger credits the node with at least as many pages.
func TestVerificationStateAfterKill(t *testing.T) {
	if os.Getenv(persistCrashEnv) != "" {
		t.Skip("running as a child")
	}
	dir := t.TempDir()
	var (
		node     string
		reported []string
	)
	// Land the kill at varying points of the Ingest after the 60th.
	testutil.KillChild(t, "TestPersistCrashChild", []string{persistCrashEnv + "=" + dir}, 10*time.Millisecond, func(line string) bool {
		if v, ok := strings.CutPrefix(line, "node "); ok {
			node = v
			return false
		}
		if v, ok := strings.CutPrefix(line, "done "); ok {
			reported = append(reported, v)
		}
		return len(reported) == 60
	})

	env := openPersistEnv(t, dir)
	c := env.c
	var done []string
	rows, err := env.f.Query(context.Background(), `SELECT url FROM urls WHERE state = 2`) // done
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			t.Fatal(err)
		}
		done = append(done, u)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if len(done) < len(reported) {
		t.Fatalf("%d URLs done after the crash, %d reported done", len(done), len(reported))
	}
	st := snapshotState(c)
	checks := 0
	for _, u := range append(done, reported...) {
		n := mustNorm(t, u)
		ct, ok := st.Contribs[node+" k "+n]
		if !ok {
			t.Errorf("done URL %s has no contribution on record", u)
			continue
		}
		if !strings.Contains(ct, "doc="+DocumentID("k", n)+" ") {
			t.Errorf("contribution of %s: %s", u, ct)
		}
		if !strings.Contains(ct, "decision=reject") && c.verify.sampleDrawFor("k", n, node) < c.trust.sampleRate(node, persistCrashRate, true) {
			checks++
			if _, ok := st.Checks["k "+n]; !ok {
				t.Errorf("sampled URL %s has no check open", u)
			}
		}
	}
	if checks == 0 {
		t.Errorf("none of %d done URLs was sampled at rate %v", len(done), persistCrashRate)
	}
	if e := c.Ledger().Entry(node); e.Pages < int64(len(done)) || e.Bytes == 0 {
		t.Errorf("ledger of the node after the crash: %+v, want at least %d pages", e, len(done))
	}
	var integrity string
	if err := env.f.QueryRow(context.Background(), "PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check after the crash = %q, %v", integrity, err)
	}
}
