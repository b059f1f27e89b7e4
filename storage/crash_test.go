package storage

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// TestCrashChild is the victim of TestCrashSafety: it adds documents,
// publishes versions and retracts published documents until it is
// killed, logging each acknowledged id and each acknowledged retraction.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("SWARD_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestCrashSafety")
	}
	round := os.Getenv("SWARD_CRASH_ROUND")
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.OpenDataset(ctx, "crash", crashOpts)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := os.OpenFile(filepath.Join(dir, "acked"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for b := 0; ; b++ {
		docs := testDocs(fmt.Sprintf("r%s-b%d", round, b), 40)
		if err := w.Add(ctx, docs...); err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		for _, d := range docs {
			sb.WriteString(d.ID + "\n")
		}
		if _, err := ack.WriteString(sb.String()); err != nil {
			t.Fatal(err)
		}
		if err := ack.Sync(); err != nil {
			t.Fatal(err)
		}
		if b%3 == 2 {
			if _, _, err := w.Publish(ctx, VersionMeta{}); err != nil {
				t.Fatal(err)
			}
			appendLine(t, filepath.Join(dir, "published"), "v")
			// Retract three documents of the batch just published.
			prev := testDocs(fmt.Sprintf("r%s-b%d", round, b-1), 3)
			ids := []string{prev[0].ID, prev[1].ID, prev[2].ID}
			// Noted before: a kill after Remove and before the
			// acknowledgement leaves them retracted but unacknowledged.
			for _, id := range ids {
				appendLine(t, filepath.Join(dir, "retracting"), id)
			}
			if _, err := w.Remove(ctx, ids...); err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				appendLine(t, filepath.Join(dir, "retracted"), id)
			}
		}
	}
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func appendLine(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Fatal(err)
	}
}

var crashOpts = DatasetOptions{RowGroupBytes: 24 << 10, ShardBytes: 40 << 10, BatchBytes: 6 << 10}

// TestCrashSafety kills a writer with SIGKILL at random moments, repeatedly,
// and checks after each kill that the store is consistent: every
// acknowledged document is published or pending, nothing is published
// twice, and every recorded version's shards are complete.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	published := 0
	for round := 0; round < 6; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SWARD_CRASH_DIR="+dir, fmt.Sprintf("SWARD_CRASH_ROUND=%d", round))
		// Wait until the child has made progress (acknowledged documents on
		// even rounds, published a version on odd ones), then kill it at a
		// random moment of what it does next.
		marker := filepath.Join(dir, "acked")
		if round%2 == 1 {
			marker = filepath.Join(dir, "published")
		}
		before := fileSize(marker)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for fileSize(marker) == before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(rnd.IntN(400)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		published = checkCrashStore(t, dir, round)
	}
	if published == 0 {
		t.Fatal("no version was ever published; the kills came too early to test anything")
	}
}

// checkCrashStore verifies the invariants and returns the published rows.
func checkCrashStore(t *testing.T, dir string, round int) int {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(dir, "store"))
	if err != nil {
		t.Fatalf("round %d: reopening store: %v", round, err)
	}
	defer s.Close()
	w, err := s.OpenDataset(ctx, "crash", crashOpts)
	if err != nil {
		t.Fatalf("round %d: reopening dataset: %v", round, err)
	}
	inStore := map[string]int{}
	for k := range w.pending {
		inStore[k[1:]]++
	}
	retr, err := s.retractions(ctx, "crash")
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	rows := 0
	if head, err := s.Head(ctx, "crash"); err == nil {
		vs, err := s.Versions(ctx, "crash")
		if err != nil || len(vs) == 0 || vs[len(vs)-1].CID != head.String() {
			t.Fatalf("round %d: history %+v does not end at head %s (%v)", round, vs, head, err)
		}
		for _, v := range vs {
			checkVersionComplete(t, s, cid.MustParse(v.CID))
		}
		m, err := s.Manifest(ctx, head)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range readDocs(t, s, head, m.Shards) {
			inStore[d.ID]++
			rows++
		}
	}
	for id, n := range inStore {
		if n > 1 {
			t.Fatalf("round %d: document %s is stored %d times", round, id, n)
		}
	}
	// An acknowledged retraction is done or still to do; a retraction in
	// progress may have taken effect or not.
	retracted := map[string]bool{}
	if data, err := os.ReadFile(filepath.Join(dir, "retracting")); err == nil {
		for _, id := range strings.Fields(string(data)) {
			retracted[id] = true // perhaps retracted, acknowledged or not
		}
	}
	if data, err := os.ReadFile(filepath.Join(dir, "retracted")); err == nil {
		for _, id := range strings.Fields(string(data)) {
			retracted[id] = true
			if inStore[id] > 0 && !retr.drop["d"+id] {
				t.Fatalf("round %d: retracted document %s is still published", round, id)
			}
		}
	}
	f, err := os.Open(filepath.Join(dir, "acked"))
	if err != nil {
		return rows // killed before the first acknowledgement
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	acked := 0
	for sc.Scan() {
		id := sc.Text()
		if id == "" {
			continue
		}
		acked++
		if inStore[id] == 0 && !retracted[id] && !retr.drop["d"+id] {
			t.Fatalf("round %d: acknowledged document %s is neither published nor pending", round, id)
		}
	}
	t.Logf("round %d: %d acknowledged, %d published, %d pending", round, acked, rows, w.Pending())
	return rows
}

// checkVersionComplete reads every file of a version and checks sizes and
// hashes against its manifest.
func checkVersionComplete(t *testing.T, s *Store, root cid.Cid) {
	t.Helper()
	ctx := context.Background()
	m, err := s.Manifest(ctx, root)
	if err != nil {
		t.Fatalf("version %s: %v", root, err)
	}
	for _, sh := range allShards(m) {
		r, err := s.OpenFile(ctx, root, sh.Path)
		if err != nil {
			t.Fatalf("version %s: shard %s: %v", root, sh.Path, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, r)
		if err != nil {
			t.Fatalf("version %s: shard %s unreadable: %v", root, sh.Path, err)
		}
		if n != sh.Bytes || hex.EncodeToString(h.Sum(nil)) != sh.SHA256 {
			t.Fatalf("version %s: shard %s is partial or corrupt (%d bytes, want %d)", root, sh.Path, n, sh.Bytes)
		}
	}
}
