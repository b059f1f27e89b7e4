package frontier

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openTest opens a frontier at path (a temp file for "") with cfg, or a
// zero Config; tests log nowhere and run SyncNormal unless cfg says.
func openTest(t testing.TB, path string, cfg ...Config) *Frontier {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "frontier.db")
	}
	var c Config
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if c.Logger == nil {
		c.Logger = quietLogger()
	}
	if c.Synchronous == "" {
		c.Synchronous = SyncNormal
	}
	f, err := Open(context.Background(), path, c)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func putJob(t testing.TB, f *Frontier, id string, maxPages int) {
	t.Helper()
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: id, Dataset: id,
		Seeds: []string{"http://example.com/"}, MaxDepth: 3, MaxPages: maxPages}
	if err := f.PutJob(context.Background(), id, spec, JobRunning); err != nil {
		t.Fatalf("PutJob(%s): %v", id, err)
	}
}

func mustAdd(t testing.TB, f *Frontier, cands ...Candidate) int {
	t.Helper()
	n, err := f.Add(context.Background(), cands)
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	return n
}

func mustStats(t testing.TB, f *Frontier, job string) Stats {
	t.Helper()
	st, err := f.Stats(context.Background(), job)
	if err != nil {
		t.Fatalf("Stats(%q): %v", job, err)
	}
	return st
}

func mustLease(t testing.TB, f *Frontier, node string, max int, now time.Time, ttl time.Duration) *Lease {
	t.Helper()
	l, err := f.Lease(context.Background(), node, max, now, ttl)
	if err != nil {
		t.Fatalf("Lease(%s): %v", node, err)
	}
	return l
}

func leaseURLSet(l *Lease) map[string]bool {
	m := make(map[string]bool)
	for _, it := range l.Items {
		m[it.URL] = true
	}
	return m
}

// checkInvariants verifies the bookkeeping that the scheduler relies on.
func checkInvariants(t testing.TB, f *Frontier) {
	t.Helper()
	ctx := context.Background()
	checks := []struct{ name, query string }{
		{"host active counts match lease slots",
			`SELECT count(*) FROM hosts h WHERE h.active != (SELECT count(*) FROM lease_hosts lh WHERE lh.host = h.hid)`},
		{"lease slot remaining matches leased URLs",
			`SELECT count(*) FROM lease_hosts lh WHERE lh.remaining != (SELECT count(*) FROM urls u WHERE u.lease = lh.lease AND u.host = lh.host) OR lh.remaining <= 0`},
		{"leased URLs have a live lease",
			`SELECT count(*) FROM urls u WHERE (u.state = 1) != (u.lease IS NOT NULL) OR (u.lease IS NOT NULL AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.lid = u.lease))`},
		{"leases have URLs",
			`SELECT count(*) FROM leases l WHERE NOT EXISTS (SELECT 1 FROM lease_hosts lh WHERE lh.lease = l.lid)`},
		{"queued URLs belong to running jobs, held ones to others",
			`SELECT count(*) FROM urls u JOIN jobs j ON j.jid = u.job WHERE (u.state = 0 AND j.state != 'running') OR (u.state = 3 AND j.state = 'running')`},
		{"host queued counts match queued URLs",
			`SELECT count(*) FROM hosts h WHERE h.queued != (SELECT count(*) FROM urls u WHERE u.host = h.hid AND u.state = 0)`},
		{"job hosts match URLs",
			`SELECT (SELECT count(*) FROM job_hosts) != (SELECT count(*) FROM (SELECT DISTINCT job, host FROM urls))`},
		{"admitted counts match",
			`SELECT count(*) FROM jobs j WHERE j.admitted != (SELECT count(*) FROM urls u WHERE u.job = j.jid)`},
	}
	for _, c := range checks {
		var bad int
		if err := f.db.QueryRowContext(ctx, c.query).Scan(&bad); err != nil {
			t.Fatalf("invariant %q: %v", c.name, err)
		}
		if bad != 0 {
			t.Errorf("invariant %q broken in %d rows", c.name, bad)
		}
	}
}

func TestAddDeduplicatesSpellings(t *testing.T) {
	f := openTest(t, "")
	putJob(t, f, "j1", 0)
	putJob(t, f, "j2", 0)
	spellings := []string{
		"http://example.com/a?x=1",
		"HTTP://Example.COM:80/a?x=1#frag",
		"http://example.com/b/../a?x=1&utm_source=feed",
		"http://example.com/%61?x=1&gclid=zzz",
		"http://example.com./a?&x=1",
	}
	var cands []Candidate
	for _, s := range spellings {
		cands = append(cands, Candidate{JobID: "j1", URL: s})
	}
	if n := mustAdd(t, f, cands...); n != 1 {
		t.Fatalf("first Add admitted %d of %d spellings, want 1", n, len(cands))
	}
	if n := mustAdd(t, f, cands...); n != 0 {
		t.Fatalf("second Add admitted %d, want 0", n)
	}
	// The seen-set is per job.
	if n := mustAdd(t, f, Candidate{JobID: "j2", URL: spellings[1]}); n != 1 {
		t.Fatalf("Add to another job admitted %d, want 1", n)
	}
	// Bad URLs are skipped, not fatal.
	if n := mustAdd(t, f, Candidate{JobID: "j1", URL: "ftp://example.com/"}, Candidate{JobID: "j1", URL: "http://example.com/new"}); n != 1 {
		t.Fatalf("Add with a bad URL admitted %d, want 1", n)
	}
	if st := mustStats(t, f, "j1"); st.Queued != 2 || st.Hosts != 1 {
		t.Fatalf("Stats(j1) = %+v, want 2 queued on 1 host", st)
	}
	if st := mustStats(t, f, ""); st.Queued != 3 {
		t.Fatalf("Stats() = %+v, want 3 queued", st)
	}
	checkInvariants(t, f)
}

func TestAddUnknownJobAddsNothing(t *testing.T) {
	f := openTest(t, "")
	putJob(t, f, "j1", 0)
	_, err := f.Add(context.Background(), []Candidate{
		{JobID: "j1", URL: "http://example.com/1"},
		{JobID: "nope", URL: "http://example.com/2"},
	})
	if !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("Add with unknown job: %v, want ErrUnknownJob", err)
	}
	if st := mustStats(t, f, "j1"); st.Queued != 0 {
		t.Fatalf("a failed Add left %d URLs", st.Queued)
	}
	if _, err := f.Stats(context.Background(), "nope"); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("Stats(unknown) = %v, want ErrUnknownJob", err)
	}
}

func TestAddRespectsMaxPages(t *testing.T) {
	tests := []struct {
		name     string
		maxPages int
		batches  []int
		want     []int
	}{
		{"unlimited", 0, []int{10, 10}, []int{10, 10}},
		{"cut within a batch", 5, []int{10}, []int{5}},
		{"cut across batches", 7, []int{4, 4, 4}, []int{4, 3, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := openTest(t, "")
			putJob(t, f, "j", tt.maxPages)
			next := 0
			for i, size := range tt.batches {
				var cands []Candidate
				for k := 0; k < size; k++ {
					cands = append(cands, Candidate{JobID: "j", URL: fmt.Sprintf("http://example.com/%d", next)})
					next++
				}
				// Duplicates never count against the budget.
				cands = append(cands, Candidate{JobID: "j", URL: "http://example.com/0"})
				if got := mustAdd(t, f, cands...); got != tt.want[i] {
					t.Fatalf("batch %d admitted %d, want %d", i, got, tt.want[i])
				}
			}
			rec, err := f.GetJob(context.Background(), "j")
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, w := range tt.want {
				total += w
			}
			if rec.Admitted != int64(total) {
				t.Fatalf("Admitted = %d, want %d", rec.Admitted, total)
			}
			checkInvariants(t, f)
		})
	}
}

func TestLeaseOrderAndHostLimits(t *testing.T) {
	f := openTest(t, "", Config{DefaultHostPolicy: HostPolicy{MinDelay: time.Second, MaxConcurrency: 1}})
	putJob(t, f, "j", 0)
	var cands []Candidate
	for i := 0; i < 30; i++ {
		cands = append(cands, Candidate{JobID: "j", URL: fmt.Sprintf("http://a.example/%d", i), Depth: i % 3, Priority: Priority(i%3, time.Time{}, t0)})
	}
	cands = append(cands, Candidate{JobID: "j", URL: "http://b.example/1"}, Candidate{JobID: "j", URL: "http://b.example/2", Priority: 5})
	mustAdd(t, f, cands...)

	l := mustLease(t, f, "n1", 100, t0, 10*time.Second)
	var a, b []LeaseItem
	for _, it := range l.Items {
		switch h, _ := HostKey(it.URL); h {
		case "a.example":
			a = append(a, it)
		case "b.example":
			b = append(b, it)
		}
	}
	// ceil(10s / 1s) URLs of a host per lease.
	if len(a) != 10 || len(b) != 2 {
		t.Fatalf("lease has %d URLs of a.example and %d of b.example, want 10 and 2", len(a), len(b))
	}
	for _, it := range a {
		if it.Depth != 0 {
			t.Errorf("leased %s at depth %d before the depth-0 URLs", it.URL, it.Depth)
		}
	}
	if b[0].URL != "http://b.example/2" {
		t.Errorf("b.example URLs leased in order %v, want the priority-5 one first", b)
	}
	wantBudget := HostPolicy{MinDelay: time.Second, MaxConcurrency: 1}
	if l.Budgets["a.example"] != wantBudget || l.Budgets["b.example"] != wantBudget || len(l.Budgets) != 2 {
		t.Fatalf("budgets = %v", l.Budgets)
	}
	if !l.Deadline.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("deadline = %v", l.Deadline)
	}
	// Both hosts are held by n1's lease: n2 gets nothing.
	l2 := mustLease(t, f, "n2", 100, t0.Add(time.Second), 10*time.Second)
	if len(l2.Items) != 0 || l2.ID != "" {
		t.Fatalf("second lease got %d items while every host was held", len(l2.Items))
	}
	// Finishing the lease frees a.example only after its fetch schedule
	// (10 fetches 1s apart) is over.
	if err := f.Complete(context.Background(), l.ID, nil); err != nil {
		t.Fatal(err)
	}
	l3 := mustLease(t, f, "n2", 100, t0.Add(5*time.Second), 10*time.Second)
	if len(l3.Items) != 0 {
		t.Fatalf("lease at +5s got %d items before a.example's schedule ended", len(l3.Items))
	}
	if l3.RetryAfter != 5*time.Second {
		t.Fatalf("RetryAfter = %v, want 5s", l3.RetryAfter)
	}
	l4 := mustLease(t, f, "n2", 100, t0.Add(10*time.Second), 10*time.Second)
	if len(l4.Items) != 10 {
		t.Fatalf("lease at +10s got %d items, want 10", len(l4.Items))
	}
	checkInvariants(t, f)
}

func TestLeaseValidation(t *testing.T) {
	f := openTest(t, "")
	for _, tc := range []struct {
		node string
		max  int
		ttl  time.Duration
	}{{"", 1, time.Second}, {"n", 0, time.Second}, {"n", 1, 0}} {
		if _, err := f.Lease(context.Background(), tc.node, tc.max, t0, tc.ttl); err == nil {
			t.Errorf("Lease(%q, %d, %v) succeeded", tc.node, tc.max, tc.ttl)
		}
	}
}

// TestHostBudgetAcrossNodes simulates two nodes asking for work in a loop
// under a fake clock. Each node fetches a lease's URLs of a host one by one,
// MinDelay apart as its budget says, and completes the lease after the last
// fetch. Network-wide, fetch starts on a host must be at least MinDelay
// apart and a host's leases must never overlap.
func TestHostBudgetAcrossNodes(t *testing.T) {
	const minDelay = 100 * time.Millisecond
	f := openTest(t, "", Config{DefaultHostPolicy: HostPolicy{MinDelay: minDelay, MaxConcurrency: 1}})
	putJob(t, f, "j", 0)
	hosts := []string{"a.example", "b.example", "c.example:8080"}
	var cands []Candidate
	for _, h := range hosts {
		for i := 0; i < 25; i++ {
			cands = append(cands, Candidate{JobID: "j", URL: fmt.Sprintf("http://%s/%d", h, i)})
		}
	}
	mustAdd(t, f, cands...)
	if err := f.SetHostPolicy(context.Background(), "b.example", HostPolicy{MinDelay: 250 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{"a.example": minDelay, "b.example": 250 * time.Millisecond, "c.example:8080": minDelay}

	type span struct{ from, to time.Time }
	type active struct {
		l   *Lease
		end time.Time
	}
	fetches := map[string][]time.Time{}
	spans := map[string][]span{}
	running := map[string]*active{}
	now := t0
	done := 0
	for step := 0; done < len(cands) && step < 10000; step++ {
		for _, node := range []string{"n1", "n2"} {
			if a := running[node]; a != nil && !now.Before(a.end) {
				if err := f.Complete(context.Background(), a.l.ID, nil); err != nil {
					t.Fatal(err)
				}
				done += len(a.l.Items)
				running[node] = nil
			}
			if running[node] != nil {
				continue
			}
			l := mustLease(t, f, node, 20, now, time.Second)
			if len(l.Items) == 0 {
				continue
			}
			perHost := map[string]int{}
			end := now
			for _, it := range l.Items {
				h, _ := HostKey(it.URL)
				b := l.Budgets[h]
				if b.MinDelay != want[h] || b.MaxConcurrency != 1 {
					t.Fatalf("budget for %s = %+v, want %v", h, b, want[h])
				}
				at := now.Add(time.Duration(perHost[h]) * b.MinDelay)
				perHost[h]++
				fetches[h] = append(fetches[h], at)
				if fin := at.Add(10 * time.Millisecond); fin.After(end) {
					end = fin
				}
			}
			for h := range perHost {
				spans[h] = append(spans[h], span{now, end})
			}
			running[node] = &active{l: l, end: end}
		}
		now = now.Add(10 * time.Millisecond)
	}
	if done != len(cands) {
		t.Fatalf("fetched %d of %d URLs", done, len(cands))
	}
	for h, ts := range fetches {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		for i := 1; i < len(ts); i++ {
			if gap := ts[i].Sub(ts[i-1]); gap < want[h] {
				t.Fatalf("host %s fetched %v apart at %v, budget %v", h, gap, ts[i].Sub(t0), want[h])
			}
		}
		ss := spans[h]
		sort.Slice(ss, func(i, j int) bool { return ss[i].from.Before(ss[j].from) })
		for i := 1; i < len(ss); i++ {
			if ss[i].from.Before(ss[i-1].to) {
				t.Fatalf("host %s has overlapping leases %v-%v and %v-%v", h, ss[i-1].from.Sub(t0), ss[i-1].to.Sub(t0), ss[i].from.Sub(t0), ss[i].to.Sub(t0))
			}
		}
	}
	if st := mustStats(t, f, "j"); st.Done != int64(len(cands)) || st.Queued != 0 || st.Leased != 0 || st.Hosts != 3 {
		t.Fatalf("Stats = %+v", st)
	}
	checkInvariants(t, f)
}

func TestHostConcurrencyShares(t *testing.T) {
	f := openTest(t, "", Config{DefaultHostPolicy: HostPolicy{MinDelay: 100 * time.Millisecond, MaxConcurrency: 4}})
	putJob(t, f, "j", 0)
	var cands []Candidate
	for i := 0; i < 100; i++ {
		cands = append(cands, Candidate{JobID: "j", URL: fmt.Sprintf("http://a.example/%d", i)})
	}
	mustAdd(t, f, cands...)
	if err := f.SetHostPolicy(context.Background(), "a.example", HostPolicy{MaxConcurrency: 2}); err != nil {
		t.Fatal(err)
	}
	// Two slots; each lease gets ceil(1s / (100ms*2)) = 5 URLs and a budget
	// of one fetch per 200ms; the second slot opens one MinDelay later.
	l1 := mustLease(t, f, "n1", 50, t0, time.Second)
	l2 := mustLease(t, f, "n2", 50, t0, time.Second)
	l3 := mustLease(t, f, "n2", 50, t0.Add(100*time.Millisecond), time.Second)
	l4 := mustLease(t, f, "n3", 50, t0.Add(200*time.Millisecond), time.Second)
	if len(l1.Items) != 5 || len(l2.Items) != 0 || len(l3.Items) != 5 || len(l4.Items) != 0 {
		t.Fatalf("lease sizes %d %d %d %d, want 5 0 5 0", len(l1.Items), len(l2.Items), len(l3.Items), len(l4.Items))
	}
	if b := l1.Budgets["a.example"]; b != (HostPolicy{MinDelay: 200 * time.Millisecond, MaxConcurrency: 1}) {
		t.Fatalf("budget = %+v", b)
	}
	for u := range leaseURLSet(l1) {
		if leaseURLSet(l3)[u] {
			t.Fatalf("%s leased twice", u)
		}
	}
	checkInvariants(t, f)
}

func TestSetHostPolicyOnlyTightens(t *testing.T) {
	f := openTest(t, "", Config{DefaultHostPolicy: HostPolicy{MinDelay: time.Second, MaxConcurrency: 3}})
	ctx := context.Background()
	steps := []struct {
		set  HostPolicy
		want HostPolicy // effective
	}{
		{HostPolicy{MinDelay: 2 * time.Second}, HostPolicy{2 * time.Second, 3}},
		{HostPolicy{MinDelay: 500 * time.Millisecond, MaxConcurrency: 2}, HostPolicy{2 * time.Second, 2}},
		{HostPolicy{MaxConcurrency: 5}, HostPolicy{2 * time.Second, 2}},
		{HostPolicy{MinDelay: 3 * time.Second, MaxConcurrency: 1}, HostPolicy{3 * time.Second, 1}},
	}
	for i, s := range steps {
		if err := f.SetHostPolicy(ctx, "Example.COM", s.set); err != nil {
			t.Fatal(err)
		}
		var p HostPolicy
		var d int64
		if err := f.db.QueryRow(`SELECT min_delay, max_conc FROM hosts WHERE name = 'example.com'`).Scan(&d, &p.MaxConcurrency); err != nil {
			t.Fatal(err)
		}
		p.MinDelay = time.Duration(d)
		if got := f.policy.stricter(p); got != s.want {
			t.Fatalf("step %d: effective policy %+v, want %+v", i, got, s.want)
		}
	}
	for _, bad := range []string{"", "a/b", "x@y", "bad host"} {
		if err := f.SetHostPolicy(ctx, bad, HostPolicy{}); err == nil {
			t.Errorf("SetHostPolicy(%q) succeeded", bad)
		}
	}
	for _, bad := range []HostPolicy{{MinDelay: -1}, {MaxConcurrency: -1}, {MinDelay: 25 * time.Hour}, {MaxConcurrency: 5000}} {
		if err := f.SetHostPolicy(ctx, "example.com", bad); err == nil {
			t.Errorf("policy %+v accepted", bad)
		}
	}
}

func TestBackoff(t *testing.T) {
	f := openTest(t, "", Config{DefaultHostPolicy: HostPolicy{MinDelay: time.Millisecond, MaxConcurrency: 1}})
	putJob(t, f, "j", 0)
	mustAdd(t, f, Candidate{JobID: "j", URL: "http://a.example/1"}, Candidate{JobID: "j", URL: "http://b.example/1"})
	if err := f.Backoff(context.Background(), "a.example", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// An earlier backoff does not shorten a later one.
	if err := f.Backoff(context.Background(), "a.example", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	l := mustLease(t, f, "n", 10, t0.Add(30*time.Second), time.Minute)
	if len(l.Items) != 1 || l.Items[0].URL != "http://b.example/1" {
		t.Fatalf("lease during backoff = %+v", l.Items)
	}
	l = mustLease(t, f, "n", 10, t0.Add(40*time.Second), time.Minute)
	if len(l.Items) != 0 || l.RetryAfter != 20*time.Second {
		t.Fatalf("lease during backoff: %d items, RetryAfter %v; want 0 and 20s", len(l.Items), l.RetryAfter)
	}
	l = mustLease(t, f, "n", 10, t0.Add(time.Minute), time.Minute)
	if len(l.Items) != 1 || l.Items[0].URL != "http://a.example/1" {
		t.Fatalf("lease after backoff = %+v", l.Items)
	}
}

func TestLeaseExpiryAndRenew(t *testing.T) {
	f := openTest(t, "", Config{DefaultHostPolicy: HostPolicy{MaxConcurrency: 1}})
	ctx := context.Background()
	putJob(t, f, "j", 0)
	for i := 0; i < 4; i++ {
		mustAdd(t, f, Candidate{JobID: "j", URL: fmt.Sprintf("http://h%d.example/", i)})
	}
	l1 := mustLease(t, f, "n1", 2, t0, time.Minute)
	l2 := mustLease(t, f, "n2", 2, t0, time.Minute)
	if len(l1.Items) != 2 || len(l2.Items) != 2 {
		t.Fatalf("lease sizes %d, %d", len(l1.Items), len(l2.Items))
	}
	if err := f.Renew(ctx, l2.ID, t0.Add(50*time.Second), time.Minute); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	n, err := f.ExpireLeases(ctx, t0.Add(61*time.Second))
	if err != nil || n != 2 {
		t.Fatalf("ExpireLeases = %d, %v; want 2 (l1 only)", n, err)
	}
	if err := f.Renew(ctx, l1.ID, t0.Add(61*time.Second), time.Minute); !errors.Is(err, ErrUnknownLease) {
		t.Fatalf("Renew of expired lease: %v, want ErrUnknownLease", err)
	}
	// Completing an expired lease is a no-op; its URLs are queued again.
	if err := f.Complete(ctx, l1.ID, nil); err != nil {
		t.Fatalf("Complete of expired lease: %v", err)
	}
	if st := mustStats(t, f, "j"); st.Queued != 2 || st.Leased != 2 {
		t.Fatalf("after expiry Stats = %+v", st)
	}
	l3 := mustLease(t, f, "n3", 10, t0.Add(62*time.Second), time.Minute)
	if got, want := leaseURLSet(l3), leaseURLSet(l1); len(got) != 2 || !got[l1.Items[0].URL] || !got[l1.Items[1].URL] {
		t.Fatalf("re-leased %v, want %v", got, want)
	}
	// A renewed lease still expires at its new deadline, inside Lease too.
	l4 := mustLease(t, f, "n4", 10, t0.Add(111*time.Second), time.Minute)
	if len(l4.Items) != 2 || !leaseURLSet(l4)[l2.Items[0].URL] {
		t.Fatalf("lease after l2's renewed deadline got %v", l4.Items)
	}
	checkInvariants(t, f)
}

func TestCompleteReleaseMarkDone(t *testing.T) {
	f := openTest(t, "", Config{DefaultHostPolicy: HostPolicy{MaxConcurrency: 1}, Now: func() time.Time { return t0 }})
	ctx := context.Background()
	putJob(t, f, "j", 0)
	for i := 0; i < 5; i++ {
		mustAdd(t, f, Candidate{JobID: "j", URL: fmt.Sprintf("http://a.example/%d", i)})
	}
	l := mustLease(t, f, "n1", 10, t0, time.Minute)
	if len(l.Items) != 5 {
		t.Fatalf("lease has %d items", len(l.Items))
	}
	// Complete some, by another spelling, twice, plus unknown URLs.
	done := []string{"HTTP://A.example/0#x", "http://a.example/1", "http://a.example/1", "http://unknown.example/", "::bad::"}
	for i := 0; i < 2; i++ {
		if err := f.Complete(ctx, l.ID, done); err != nil {
			t.Fatalf("Complete: %v", err)
		}
	}
	if err := f.Release(ctx, l.ID, []string{"http://a.example/2"}); err != nil {
		t.Fatal(err)
	}
	if st := mustStats(t, f, "j"); st.Done != 2 || st.Leased != 2 || st.Queued != 1 {
		t.Fatalf("Stats = %+v, want 2 done, 2 leased, 1 queued", st)
	}
	// Ingest finishes a URL that is still in the lease.
	if already, err := f.MarkDone(ctx, "j", "http://a.example/3"); err != nil || already {
		t.Fatalf("MarkDone(leased) = %v, %v", already, err)
	}
	if already, err := f.MarkDone(ctx, "j", "http://a.example/0"); err != nil || !already {
		t.Fatalf("MarkDone(done) = %v, %v; want already done", already, err)
	}
	// A URL the frontier never saw becomes seen and done.
	if already, err := f.MarkDone(ctx, "j", "http://a.example/redirect-target"); err != nil || already {
		t.Fatalf("MarkDone(new) = %v, %v", already, err)
	}
	if n := mustAdd(t, f, Candidate{JobID: "j", URL: "http://a.example/redirect-target"}); n != 0 {
		t.Fatal("a URL finished by ingest was admitted again")
	}
	if _, err := f.MarkDone(ctx, "nope", "http://a.example/3"); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("MarkDone(unknown job) = %v", err)
	}
	if _, err := f.MarkDone(ctx, "j", "gopher://x/"); !errors.Is(err, schemas.ErrBadURL) {
		t.Fatalf("MarkDone(bad URL) = %v", err)
	}
	checkInvariants(t, f)
	// Releasing the rest ends the lease.
	if err := f.Release(ctx, l.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Renew(ctx, l.ID, t0, time.Minute); !errors.Is(err, ErrUnknownLease) {
		t.Fatalf("Renew of finished lease: %v", err)
	}
	if st := mustStats(t, f, "j"); st.Done != 4 || st.Leased != 0 || st.Queued != 2 {
		t.Fatalf("Stats = %+v, want 4 done, 2 queued", st)
	}
	for _, id := range []string{"", "no-such-lease"} {
		if err := f.Complete(ctx, id, nil); err != nil {
			t.Errorf("Complete(%q) = %v", id, err)
		}
		if err := f.Release(ctx, id, nil); err != nil {
			t.Errorf("Release(%q) = %v", id, err)
		}
	}
	checkInvariants(t, f)
}

func TestJobStates(t *testing.T) {
	f := openTest(t, "", Config{DefaultHostPolicy: HostPolicy{MaxConcurrency: 10}})
	ctx := context.Background()
	putJob(t, f, "a", 0)
	putJob(t, f, "b", 0)
	mustAdd(t, f, Candidate{JobID: "a", URL: "http://x.example/a1"}, Candidate{JobID: "a", URL: "http://x.example/a2"},
		Candidate{JobID: "b", URL: "http://x.example/b1"})
	if err := f.SetJobState(ctx, "a", JobPaused); err != nil {
		t.Fatal(err)
	}
	l := mustLease(t, f, "n", 10, t0, time.Minute)
	if len(l.Items) != 1 || l.Items[0].JobID != "b" {
		t.Fatalf("lease while a is paused = %+v", l.Items)
	}
	// Paused jobs still admit URLs (held), and Stats counts them as queued.
	mustAdd(t, f, Candidate{JobID: "a", URL: "http://x.example/a3"})
	if st := mustStats(t, f, "a"); st.Queued != 3 {
		t.Fatalf("Stats(a) = %+v", st)
	}
	if err := f.SetJobState(ctx, "a", JobRunning); err != nil {
		t.Fatal(err)
	}
	l2 := mustLease(t, f, "n2", 10, t0, time.Minute)
	if len(l2.Items) != 3 {
		t.Fatalf("lease after resume got %d items", len(l2.Items))
	}
	// Cancelling while leased: returned URLs are held, not re-leased, and
	// new candidates are refused.
	if err := f.SetJobState(ctx, "a", JobCancelled); err != nil {
		t.Fatal(err)
	}
	if err := f.Release(ctx, l2.ID, nil); err != nil {
		t.Fatal(err)
	}
	if n := mustAdd(t, f, Candidate{JobID: "a", URL: "http://x.example/a4"}); n != 0 {
		t.Fatalf("cancelled job admitted %d URLs", n)
	}
	if l3 := mustLease(t, f, "n3", 10, t0, time.Minute); len(l3.Items) != 0 {
		t.Fatalf("cancelled job's URLs leased: %+v", l3.Items)
	}
	if err := f.SetJobState(ctx, "a", "bogus"); err == nil {
		t.Fatal("bogus state accepted")
	}
	if err := f.SetJobState(ctx, "zzz", JobPaused); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("SetJobState(unknown) = %v", err)
	}
	checkInvariants(t, f)

	jobs, err := f.ListJobs(ctx)
	if err != nil || len(jobs) != 2 || jobs[0].ID != "a" || jobs[0].State != JobCancelled || jobs[1].State != JobRunning {
		t.Fatalf("ListJobs = %+v, %v", jobs, err)
	}
	if jobs[0].Spec.Name != "a" || jobs[0].Admitted != 3 {
		t.Fatalf("job a = %+v", jobs[0])
	}
	if _, err := f.GetJob(ctx, "zzz"); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("GetJob(unknown) = %v", err)
	}
	for _, bad := range []struct {
		id    string
		spec  *schemas.JobSpec
		state string
	}{{"", &schemas.JobSpec{}, JobRunning}, {"x", nil, JobRunning}, {"x", &schemas.JobSpec{}, "nope"}} {
		if err := f.PutJob(ctx, bad.id, bad.spec, bad.state); err == nil {
			t.Errorf("PutJob(%q, %v, %q) succeeded", bad.id, bad.spec, bad.state)
		}
	}
}

// TestSetJobStateIf: the state changes only from the state named, with
// the effects of SetJobState (a done job's waiting URLs are held, and
// leased again once it runs); from any other state nothing changes, and
// an unknown job or state is an error.
func TestSetJobStateIf(t *testing.T) {
	f := openTest(t, "", Config{DefaultHostPolicy: HostPolicy{MaxConcurrency: 10}})
	ctx := context.Background()
	putJob(t, f, "a", 0)
	mustAdd(t, f, Candidate{JobID: "a", URL: "http://x.example/1"}, Candidate{JobID: "a", URL: "http://x.example/2"})
	state := func() string {
		t.Helper()
		j, err := f.GetJob(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		return j.State
	}
	for _, step := range []struct {
		from, to string
		changed  bool
		want     string
		leased   int
	}{
		{JobDone, JobRunning, false, JobRunning, -1},
		{JobRunning, JobDone, true, JobDone, 0},
		{JobRunning, JobDone, false, JobDone, 0},
		{JobPaused, JobRunning, false, JobDone, 0},
		{JobDone, JobRunning, true, JobRunning, 2},
	} {
		changed, err := f.SetJobStateIf(ctx, "a", step.from, step.to)
		if err != nil || changed != step.changed {
			t.Fatalf("SetJobStateIf(%s -> %s) = %v, %v; want %v", step.from, step.to, changed, err, step.changed)
		}
		if got := state(); got != step.want {
			t.Fatalf("after SetJobStateIf(%s -> %s): state %s, want %s", step.from, step.to, got, step.want)
		}
		checkInvariants(t, f)
		if step.leased >= 0 {
			if l := mustLease(t, f, "n", 10, t0, time.Minute); len(l.Items) != step.leased {
				t.Fatalf("after SetJobStateIf(%s -> %s): %d URLs leased, want %d", step.from, step.to, len(l.Items), step.leased)
			}
		}
	}
	if _, err := f.SetJobStateIf(ctx, "zzz", JobDone, JobRunning); !errors.Is(err, ErrUnknownJob) {
		t.Errorf("SetJobStateIf(unknown job) = %v, want ErrUnknownJob", err)
	}
	if changed, err := f.SetJobStateIf(ctx, "a", JobRunning, "bogus"); err == nil || changed {
		t.Errorf("SetJobStateIf to a bogus state = %v, %v; want an error", changed, err)
	}
	if got := state(); got != JobRunning {
		t.Errorf("state %s after the refused calls, want running", got)
	}
}

func TestScheduleRecrawl(t *testing.T) {
	clock := t0
	f := openTest(t, "", Config{DefaultHostPolicy: HostPolicy{MaxConcurrency: 10}, Now: func() time.Time { return clock }})
	ctx := context.Background()
	putJob(t, f, "j", 0)
	mustAdd(t, f, Candidate{JobID: "j", URL: "http://x.example/1"}, Candidate{JobID: "j", URL: "http://x.example/2"})
	if _, err := f.MarkDone(ctx, "j", "http://x.example/1"); err != nil {
		t.Fatal(err)
	}
	clock = t0.Add(time.Hour)
	if _, err := f.MarkDone(ctx, "j", "http://x.example/2"); err != nil {
		t.Fatal(err)
	}
	n, err := f.ScheduleRecrawl(ctx, "j", 90*time.Minute, t0.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("ScheduleRecrawl = %d, %v; want 1", n, err)
	}
	l := mustLease(t, f, "n", 10, t0.Add(2*time.Hour), time.Minute)
	if len(l.Items) != 1 || l.Items[0].URL != "http://x.example/1" {
		t.Fatalf("recrawl lease = %+v", l.Items)
	}
	if n, err := f.ScheduleRecrawl(ctx, "j", 90*time.Minute, t0.Add(3*time.Hour)); err != nil || n != 1 {
		t.Fatalf("second ScheduleRecrawl = %d, %v; want 1", n, err)
	}
	if _, err := f.ScheduleRecrawl(ctx, "j", 0, t0); err == nil {
		t.Fatal("zero interval accepted")
	}
	if _, err := f.ScheduleRecrawl(ctx, "nope", time.Hour, t0); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("ScheduleRecrawl(unknown) = %v", err)
	}
	checkInvariants(t, f)
}

func TestNotBefore(t *testing.T) {
	f := openTest(t, "", Config{DefaultHostPolicy: HostPolicy{MaxConcurrency: 10}})
	putJob(t, f, "j", 0)
	mustAdd(t, f, Candidate{JobID: "j", URL: "http://x.example/later", NotBefore: t0.Add(time.Hour)})
	if l := mustLease(t, f, "n", 10, t0, time.Minute); len(l.Items) != 0 {
		t.Fatalf("URL leased before NotBefore: %+v", l.Items)
	}
	if l := mustLease(t, f, "n", 10, t0.Add(time.Hour), time.Minute); len(l.Items) != 1 {
		t.Fatalf("URL not leased at NotBefore: %+v", l.Items)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "frontier.db")
	ctx := context.Background()
	f := openTest(t, path, Config{DefaultHostPolicy: HostPolicy{MinDelay: time.Second, MaxConcurrency: 1}})
	putJob(t, f, "j", 100)
	for i := 0; i < 20; i++ {
		mustAdd(t, f, Candidate{JobID: "j", URL: fmt.Sprintf("http://h%d.example/p", i%4) + fmt.Sprint(i)})
	}
	if err := f.SetHostPolicy(ctx, "h0.example", HostPolicy{MinDelay: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := f.Backoff(ctx, "h1.example", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	l := mustLease(t, f, "n1", 4, t0, time.Minute)
	if err := f.Complete(ctx, l.ID, []string{l.Items[0].URL}); err != nil {
		t.Fatal(err)
	}
	before := mustStats(t, f, "j")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stats(ctx, "j"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Stats after Close = %v", err)
	}
	if _, err := f.Add(ctx, []Candidate{{JobID: "j", URL: "http://x.example/"}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close = %v", err)
	}

	g := openTest(t, path, Config{DefaultHostPolicy: HostPolicy{MinDelay: time.Second, MaxConcurrency: 1}})
	if after := mustStats(t, g, "j"); after != before {
		t.Fatalf("Stats after reopen %+v, before %+v", after, before)
	}
	rec, err := g.GetJob(ctx, "j")
	if err != nil || rec.Spec.MaxPages != 100 || rec.State != JobRunning || rec.Admitted != 20 {
		t.Fatalf("job after reopen = %+v, %v", rec, err)
	}
	if n := mustAdd(t, g, Candidate{JobID: "j", URL: "http://h0.example/p0"}); n != 0 {
		t.Fatal("seen-set lost on reopen")
	}
	// The lease survives: it can be renewed and finished.
	if err := g.Renew(ctx, l.ID, t0.Add(30*time.Second), time.Minute); err != nil {
		t.Fatalf("Renew after reopen: %v", err)
	}
	if err := g.Complete(ctx, l.ID, nil); err != nil {
		t.Fatal(err)
	}
	// Host state survives: h1 is backing off, h0 needs 5s per fetch (and
	// has one URL left after the first lease took four).
	l2 := mustLease(t, g, "n2", 100, t0.Add(10*time.Minute), time.Minute)
	per := map[string]int{}
	for _, it := range l2.Items {
		h, _ := HostKey(it.URL)
		per[h]++
	}
	if per["h1.example"] != 0 || per["h0.example"] != 1 || per["h2.example"] != 5 || l2.Budgets["h0.example"].MinDelay != 5*time.Second {
		t.Fatalf("lease after reopen per host %v, budgets %v", per, l2.Budgets)
	}
	checkInvariants(t, g)
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, "", Config{}); err == nil {
		t.Error("empty path accepted")
	}
	dir := t.TempDir()
	if _, err := Open(ctx, filepath.Join(dir, "a.db"), Config{Synchronous: "OFF"}); err == nil {
		t.Error("synchronous=OFF accepted")
	}
	if _, err := Open(ctx, filepath.Join(dir, "b.db"), Config{DefaultHostPolicy: HostPolicy{MinDelay: -1}}); err == nil {
		t.Error("negative default policy accepted")
	}
	if _, err := Open(ctx, filepath.Join(dir, "b.db"), Config{CacheMiB: -1}); err == nil {
		t.Error("zero page cache accepted")
	}
	// A database from a newer build is refused, not misread.
	path := filepath.Join(dir, "c.db")
	f := openTest(t, path)
	if _, err := f.db.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if g, err := Open(ctx, path, Config{}); err == nil {
		g.Close()
		t.Fatal("newer schema accepted")
	}
}

// TestConcurrentAddLeaseComplete runs adders (each offering every URL in
// its own spelling) against nodes that lease and complete. No URL may be in
// two live leases at once, and every URL is completed exactly once.
func TestConcurrentAddLeaseComplete(t *testing.T) {
	f := openTest(t, "", Config{DefaultHostPolicy: HostPolicy{MaxConcurrency: 3}})
	putJob(t, f, "j", 0)
	const (
		urls   = 600
		adders = 4
		nodes  = 4
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var (
		mu        sync.Mutex
		inLease   = map[string]string{} // URL -> lease
		completed = map[string]int{}
		failures  []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	var addersWG, nodesWG sync.WaitGroup
	admitted := make([]int, adders)
	for a := 0; a < adders; a++ {
		addersWG.Add(1)
		go func() {
			defer addersWG.Done()
			for start := 0; start < urls; start += 25 {
				var cands []Candidate
				for i := start; i < start+25; i++ {
					u := fmt.Sprintf("http://h%d.example/p%d", i%7, i)
					if a%2 == 1 {
						u = fmt.Sprintf("HTTP://H%d.EXAMPLE:80/x/../p%d#a%d", i%7, i, a)
					}
					cands = append(cands, Candidate{JobID: "j", URL: u})
				}
				n, err := f.Add(ctx, cands)
				if err != nil {
					fail("Add: %v", err)
					return
				}
				admitted[a] += n
			}
		}()
	}
	addsDone := make(chan struct{})
	go func() { addersWG.Wait(); close(addsDone) }()
	for n := 0; n < nodes; n++ {
		nodesWG.Add(1)
		go func() {
			defer nodesWG.Done()
			node := fmt.Sprintf("n%d", n)
			for ctx.Err() == nil {
				l, err := f.Lease(ctx, node, 10, time.Now(), time.Minute)
				if err != nil {
					fail("Lease: %v", err)
					return
				}
				if len(l.Items) == 0 {
					select {
					case <-addsDone:
						st, err := f.Stats(ctx, "j")
						if err != nil {
							fail("Stats: %v", err)
							return
						}
						if st.Queued == 0 && st.Leased == 0 {
							return
						}
					default:
					}
					time.Sleep(time.Millisecond)
					continue
				}
				mu.Lock()
				for _, it := range l.Items {
					if other, ok := inLease[it.URL]; ok {
						failures = append(failures, fmt.Sprintf("%s in leases %s and %s", it.URL, other, l.ID))
					}
					inLease[it.URL] = l.ID
				}
				mu.Unlock()
				// Complete half by name, then the rest as "all".
				var first []string
				for i, it := range l.Items {
					if i%2 == 0 {
						first = append(first, it.URL)
					}
				}
				if err := f.Complete(ctx, l.ID, first); err != nil {
					fail("Complete: %v", err)
					return
				}
				if err := f.Complete(ctx, l.ID, nil); err != nil {
					fail("Complete: %v", err)
					return
				}
				mu.Lock()
				for _, it := range l.Items {
					delete(inLease, it.URL)
					completed[it.URL]++
				}
				mu.Unlock()
			}
		}()
	}
	nodesWG.Wait()
	<-addsDone
	if len(failures) > 0 {
		t.Fatalf("%d failures, first: %s", len(failures), failures[0])
	}
	total := 0
	for _, n := range admitted {
		total += n
	}
	if total != urls {
		t.Fatalf("adders admitted %d URLs in all, want %d", total, urls)
	}
	if len(completed) != urls {
		t.Fatalf("completed %d distinct URLs, want %d", len(completed), urls)
	}
	for u, n := range completed {
		if n != 1 {
			t.Fatalf("%s completed %d times", u, n)
		}
	}
	if st := mustStats(t, f, "j"); st.Done != urls || st.Queued != 0 || st.Leased != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	checkInvariants(t, f)
}

func TestCompleteURLOfTwoJobs(t *testing.T) {
	f := openTest(t, "", Config{DefaultHostPolicy: HostPolicy{MaxConcurrency: 1}})
	ctx := context.Background()
	putJob(t, f, "a", 0)
	putJob(t, f, "b", 0)
	mustAdd(t, f, Candidate{JobID: "a", URL: "http://x.example/p"}, Candidate{JobID: "b", URL: "http://x.example/p"})
	l := mustLease(t, f, "n", 10, t0, time.Minute)
	if len(l.Items) != 2 || l.Items[0].JobID == l.Items[1].JobID {
		t.Fatalf("lease = %+v, want the URL once per job", l.Items)
	}
	if err := f.Complete(ctx, l.ID, []string{"http://x.example/p"}); err != nil {
		t.Fatal(err)
	}
	for _, job := range []string{"a", "b"} {
		if st := mustStats(t, f, job); st.Done != 1 || st.Leased != 0 {
			t.Fatalf("Stats(%s) = %+v", job, st)
		}
	}
	checkInvariants(t, f)
}

func TestPriority(t *testing.T) {
	tests := []struct {
		name    string
		depth   int
		lastmod time.Time
		want    float64
	}{
		{"seed", 0, time.Time{}, 1.25},
		{"depth 1", 1, time.Time{}, 0.75},
		{"depth 3", 3, time.Time{}, 0.5},
		{"negative depth as seed", -2, time.Time{}, 1.25},
		{"modified now", 0, t0, 1.5},
		{"modified 30 days ago, as unknown", 0, t0.Add(-30 * 24 * time.Hour), 1.25},
		{"modified 330 days ago", 0, t0.Add(-330 * 24 * time.Hour), 1.0 + 0.5/12},
		{"lastmod in the future", 1, t0.Add(time.Hour), 1},
	}
	for _, tt := range tests {
		if got := Priority(tt.depth, tt.lastmod, t0); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: Priority = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestMigrateDropsContributionsJob: a schema-5 database loses the unused
// contributions_job index when it is opened and keeps contributions_key
// and its rows; a new database never has the index.
func TestMigrateDropsContributionsJob(t *testing.T) {
	ctx := context.Background()
	indexes := func(db *sql.DB) map[string]bool {
		t.Helper()
		rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contributions'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]bool{}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			got[name] = true
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return got
	}
	path := filepath.Join(t.TempDir(), "v5.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := append(append([]string(nil), migrations[:5]...), `PRAGMA user_version = 5`,
		`INSERT INTO contributions(peer, job, norm, url, depth, doc_id, decision, verified, at_ns, own_checks)
			VALUES('p', 'j', 'http://a.example/', 'http://a.example/', 0, 'd', 'accept', 0, 1, 0)`)
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if got := indexes(db); !got["contributions_job"] {
		t.Fatalf("schema 5 indexes %v, want contributions_job among them", got)
	}
	db.Close()

	f := openTest(t, path)
	var version, rows int
	if err := f.db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("schema version %d, %v; want %d", version, err, len(migrations))
	}
	if got := indexes(f.db); got["contributions_job"] || !got["contributions_key"] {
		t.Errorf("indexes after the migration %v, want contributions_key and not contributions_job", got)
	}
	if err := f.db.QueryRow(`SELECT count(*) FROM contributions`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("%d contributions after the migration (%v), want the 1 row", rows, err)
	}
	if got := indexes(openTest(t, "").db); got["contributions_job"] {
		t.Errorf("a new database has contributions_job: %v", got)
	}
}

// TestMigrateFromV1 opens a schema-1 database with URLs in it: migration 2
// must count each host's queued URLs, and Lease must then find them.
func TestMigrateFromV1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{
		migrations[0],
		`PRAGMA user_version = 1`,
		`INSERT INTO jobs(jid, id, spec, state, created_ns, updated_ns, admitted) VALUES(1, 'j', '{"name":"j"}', 'running', 0, 0, 3)`,
		`INSERT INTO hosts(hid, name) VALUES(1, 'a.example'), (2, 'b.example')`,
		`INSERT INTO job_hosts(job, host) VALUES(1, 1), (1, 2)`,
		`INSERT INTO urls(job, key, url, host, depth, priority, state) VALUES
			(1, x'01', 'http://a.example/1', 1, 0, 1, 0),
			(1, x'02', 'http://a.example/2', 1, 0, 1, 0),
			(1, x'03', 'http://b.example/1', 2, 0, 1, 2)`,
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	db.Close()

	f := openTest(t, path, Config{DefaultHostPolicy: HostPolicy{MaxConcurrency: 1}})
	var version int
	if err := f.db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("schema version %d, %v; want %d", version, err, len(migrations))
	}
	checkInvariants(t, f)
	l := mustLease(t, f, "n", 10, t0, time.Minute)
	if len(l.Items) != 2 {
		t.Fatalf("lease after migration = %+v", l.Items)
	}
	checkInvariants(t, f)

	// The lease query walks only hosts with queued URLs.
	rows, err := f.db.Query("EXPLAIN QUERY PLAN "+readyHostsSQL, 5, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if len(plan) == 0 || !strings.Contains(strings.Join(plan, ";"), "hosts_ready") {
		t.Fatalf("ready-host query plan %q does not use hosts_ready", plan)
	}
}
