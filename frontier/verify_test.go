package frontier

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestVerifyFetchesKeepHostBudgets checks that re-fetches for
// verification count against a host's budget: riding in a lease they
// push the host's next lease back by one slot each; on their own they
// need the host idle and hold it for their slots.
func TestVerifyFetchesKeepHostBudgets(t *testing.T) {
	ctx := context.Background()
	f := openTest(t, "", Config{DefaultHostPolicy: HostPolicy{MinDelay: time.Second, MaxConcurrency: 1}})
	putJob(t, f, "j", 0)
	for i := 0; i < 4; i++ {
		mustAdd(t, f, Candidate{JobID: "j", URL: fmt.Sprintf("http://a.example/%d", i)})
	}
	mustAdd(t, f, Candidate{JobID: "j", URL: "http://b.example/1"})

	l := mustLease(t, f, "n1", 3, t0, 10*time.Second)
	if len(l.Items) != 3 {
		t.Fatalf("lease has %d items, want 3", len(l.Items))
	}
	host := ""
	for h := range l.Budgets {
		host = h
	}
	// The leased host is busy: it cannot be reserved.
	if _, ok, err := f.ReserveHost(ctx, host, t0, 1); err != nil || ok {
		t.Fatalf("ReserveHost of a leased host: ok=%v err=%v", ok, err)
	}
	// Two verification fetches ride along: the schedule grows from 3 to 5 slots.
	if ok, err := f.ExtendLeaseHost(ctx, l.ID, host, 2, time.Second); err != nil || !ok {
		t.Fatalf("ExtendLeaseHost: ok=%v err=%v", ok, err)
	}
	if ok, err := f.ExtendLeaseHost(ctx, l.ID, "c.example", 1, time.Second); err != nil || ok {
		t.Fatalf("ExtendLeaseHost of a host the lease does not hold: ok=%v err=%v", ok, err)
	}
	if ok, err := f.ExtendLeaseHost(ctx, "no-such-lease", host, 1, time.Second); err != nil || ok {
		t.Fatalf("ExtendLeaseHost of an unknown lease: ok=%v err=%v", ok, err)
	}
	if err := f.Complete(ctx, l.ID, nil); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, f)
	for _, at := range []time.Duration{3 * time.Second, 4*time.Second + 999*time.Millisecond} {
		if _, ok, _ := f.ReserveHost(ctx, host, t0.Add(at), 1); ok {
			t.Fatalf("host reserved at +%v, inside the extended schedule (5 slots)", at)
		}
		if l2 := mustLease(t, f, "n2", 10, t0.Add(at), 10*time.Second); len(l2.Budgets) > 0 {
			if _, ok := l2.Budgets[host]; ok {
				t.Fatalf("host leased at +%v, inside the extended schedule", at)
			}
			if err := f.Release(ctx, l2.ID, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	// At +5s the host is idle: one reserved fetch holds it for one slot.
	gap, ok, err := f.ReserveHost(ctx, host, t0.Add(5*time.Second), 1)
	if err != nil || !ok || gap != time.Second {
		t.Fatalf("ReserveHost at +5s: gap=%v ok=%v err=%v", gap, ok, err)
	}
	if l3 := mustLease(t, f, "n2", 10, t0.Add(5500*time.Millisecond), 10*time.Second); l3.Budgets[host] != (HostPolicy{}) {
		t.Fatal("host leased during its reserved slot")
	}
	if _, ok, _ := f.ReserveHost(ctx, "unknown.example", t0, 1); ok {
		t.Fatal("a host the frontier never saw was reserved")
	}
	checkInvariants(t, f)
}

func TestReleaseNode(t *testing.T) {
	ctx := context.Background()
	f := openTest(t, "", Config{DefaultHostPolicy: HostPolicy{MinDelay: 0, MaxConcurrency: 1}})
	putJob(t, f, "j", 0)
	mustAdd(t, f, Candidate{JobID: "j", URL: "http://a.example/1"}, Candidate{JobID: "j", URL: "http://b.example/1"})
	la := mustLease(t, f, "liar", 1, t0, time.Minute)
	lb := mustLease(t, f, "honest", 1, t0, time.Minute)
	if len(la.Items) != 1 || len(lb.Items) != 1 {
		t.Fatalf("leases have %d and %d items", len(la.Items), len(lb.Items))
	}
	n, err := f.ReleaseNode(ctx, "liar")
	if err != nil || n != 1 {
		t.Fatalf("ReleaseNode = %d, %v; want 1", n, err)
	}
	if st := mustStats(t, f, "j"); st.Queued != 1 || st.Leased != 1 {
		t.Fatalf("stats after ReleaseNode: %+v", st)
	}
	if err := f.Renew(ctx, la.ID, t0, time.Minute); err == nil {
		t.Fatal("the released node's lease can still be renewed")
	}
	if n, err := f.ReleaseNode(ctx, "liar"); err != nil || n != 0 {
		t.Fatalf("second ReleaseNode = %d, %v", n, err)
	}
	checkInvariants(t, f)
}
