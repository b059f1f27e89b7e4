package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/network"
	"github.com/swardnet/sward/schemas"
)

// *network.Jobs is what a node lists announcements from.
var _ Announcements = (*network.Jobs)(nil)

// staticAnnouncements serves a list the test changes at will.
type staticAnnouncements struct {
	mu   sync.Mutex
	list []*schemas.JobAnnouncement
}

func (s *staticAnnouncements) Announcements() []*schemas.JobAnnouncement {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*schemas.JobAnnouncement(nil), s.list...)
}

func (s *staticAnnouncements) set(list ...*schemas.JobAnnouncement) {
	s.mu.Lock()
	s.list = list
	s.mu.Unlock()
}

// quietLog keeps the network hosts' logs out of the test output.
func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testPeer(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func ann(id peer.ID, pending int64, state string) *schemas.JobAnnouncement {
	return &schemas.JobAnnouncement{
		Version: schemas.JobAnnouncementVersion, Coordinator: id.String(), Seq: 1, SentAt: time.Now(),
		Jobs: []schemas.AnnouncedJob{{ID: "j", Dataset: "d", State: state, Pending: pending, SpecHash: strings.Repeat("0", 64)}},
	}
}

func TestCoordinatorsRoundRobinAmongThoseWithWork(t *testing.T) {
	a, b, idle, paused := testPeer(t), testPeer(t), testPeer(t), testPeer(t)
	src := &staticAnnouncements{}
	src.set(ann(a, 3, schemas.AnnouncedRunning), ann(b, 1, schemas.AnnouncedRunning),
		ann(idle, 0, schemas.AnnouncedRunning), ann(paused, 9, schemas.AnnouncedPaused))
	c := newCoordinators("", src, 30*time.Second)
	now := time.Now()
	count := map[peer.ID]int{}
	for range 10 {
		id, ok := c.pick(now)
		if !ok {
			t.Fatal("no coordinator picked while two announce work")
		}
		count[id]++
	}
	if count[a] != 5 || count[b] != 5 || len(count) != 2 {
		t.Fatalf("picks %v, want 5 each for the two coordinators with running work", count)
	}

	// One that answers with no work is set aside until its retry time.
	c.idle(a, now.Add(time.Second))
	for range 3 {
		if id, _ := c.pick(now); id != b {
			t.Fatalf("picked %s while %s is set aside", id, a)
		}
	}
	if id, _ := c.pick(now.Add(2 * time.Second)); id != a && id != b {
		t.Fatalf("picked %s after the retry time", id)
	}

	// Failures set it aside for longer each time, capped.
	w1 := c.failed(b, now)
	w2 := c.failed(b, now)
	if w1 != time.Second || w2 != 2*time.Second {
		t.Fatalf("backoff %s then %s, want 1s then 2s", w1, w2)
	}
	for range 20 {
		c.failed(b, now)
	}
	if w := c.failed(b, now); w != 30*time.Second {
		t.Fatalf("backoff %s, want the 30s cap", w)
	}
	c.ok(b)
	if id, ok := c.pick(now.Add(2 * time.Second)); !ok || (id != a && id != b) {
		t.Fatalf("after success: %s %v", id, ok)
	}

	// A coordinator that stops announcing is dropped, and forgotten.
	src.set(ann(b, 1, schemas.AnnouncedRunning))
	for range 3 {
		if id, _ := c.pick(now.Add(3 * time.Second)); id != b {
			t.Fatalf("picked %s, which no longer announces", id)
		}
	}
	c.mu.Lock()
	_, remembered := c.until[a]
	c.mu.Unlock()
	if remembered {
		t.Fatal("a vanished coordinator is still remembered")
	}
	src.set()
	if id, ok := c.pick(now); ok {
		t.Fatalf("picked %s with no announcements", id)
	}
}

func TestCoordinatorsFixedIgnoresAnnouncements(t *testing.T) {
	fixed, other := testPeer(t), testPeer(t)
	src := &staticAnnouncements{}
	src.set(ann(other, 5, schemas.AnnouncedRunning))
	c := newCoordinators(fixed, src, time.Minute)
	if id, ok := c.pick(time.Now()); !ok || id != fixed || c.discovering() {
		t.Fatalf("pick = %s %v, want the configured coordinator", id, ok)
	}
}

func TestServiceValidateAcceptsDiscoveryWithoutCoordinator(t *testing.T) {
	cfg := ServiceConfig{Announcements: &staticAnnouncements{}}
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("discovery without a fixed coordinator refused: %v", err)
	}
}

// leaseDesk is a coordinator's lease handler that hands out one lease of
// urls and then has no more work, recording every request.
type leaseDesk struct {
	mu    sync.Mutex
	urls  []string
	given bool
	ops   []string
	done  []string
}

func (d *leaseDesk) HandleLease(_ context.Context, _ peer.ID, req *schemas.LeaseRequest) *schemas.LeaseResponse {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ops = append(d.ops, req.Op)
	resp := &schemas.LeaseResponse{Version: schemas.WireVersion}
	switch req.Op {
	case schemas.LeaseAcquire:
		if d.given {
			resp.RetryAfter = schemas.Duration(50 * time.Millisecond)
			return resp
		}
		d.given = true
		resp.LeaseID = "L1"
		resp.Deadline = time.Now().Add(time.Minute)
		for _, u := range d.urls {
			resp.Items = append(resp.Items, schemas.LeaseItem{JobID: "j", URL: u})
		}
	case schemas.LeaseComplete:
		d.done = append(d.done, req.URLs...)
	}
	return resp
}

func (d *leaseDesk) snapshot() (ops, done []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.ops...), append([]string(nil), d.done...)
}

// coordinatorHost starts a libp2p host that serves desk and announces one
// job with pending work every 100ms.
func coordinatorHost(t *testing.T, desk *leaseDesk) *network.Host {
	t.Helper()
	h, err := network.New(t.Context(), network.Config{
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, PresenceInterval: -1, Logger: quietLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	h.ServeLeases(desk)
	jobs, err := h.JoinJobs(network.JobsConfig{TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			_ = jobs.Announce(ctx, []schemas.AnnouncedJob{{
				ID: "j", Dataset: "d", State: schemas.AnnouncedRunning, Pending: 1, SpecHash: strings.Repeat("a", 64),
			}})
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return h
}

func TestServiceFindsTrustedCoordinatorByAnnouncement(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<html><body><p>page %s</p></body></html>", r.URL.Path)
	}))
	defer site.Close()
	trustedDesk := &leaseDesk{urls: []string{site.URL + "/trusted/1", site.URL + "/trusted/2"}}
	untrustedDesk := &leaseDesk{urls: []string{site.URL + "/untrusted"}}
	trusted := coordinatorHost(t, trustedDesk)
	untrusted := coordinatorHost(t, untrustedDesk)

	// The node knows both coordinators' addresses but trusts only one.
	nodeHost, err := network.New(t.Context(), network.Config{
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, PresenceInterval: -1, Logger: quietLog(),
		Bootstrap: append(trusted.Addrs(), untrusted.Addrs()...),
		Trusted:   []string{trusted.ID().String()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nodeHost.Close() })
	jobs, err := nodeHost.JoinJobs(network.JobsConfig{TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(ServiceConfig{Announcements: jobs, IdleWait: 50 * time.Millisecond, Leases: 2},
		nodeHost, network.SignCapture, testFetcher(t))
	if err != nil {
		t.Fatalf("NewService without a coordinator: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- svc.Serve(ctx) }()

	testutil.Eventually(t, 20*time.Second, "the trusted coordinator's lease to complete", func() bool {
		_, done := trustedDesk.snapshot()
		return len(done) == 2
	})
	// Keep running a little: the node keeps asking the trusted coordinator
	// (which has no more work) and never the untrusted one.
	time.Sleep(500 * time.Millisecond)
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if ops, _ := untrustedDesk.snapshot(); len(ops) != 0 {
		t.Fatalf("the untrusted coordinator got requests %v", ops)
	}
	ops, done := trustedDesk.snapshot()
	if ops[0] != schemas.LeaseAcquire || !strings.Contains(strings.Join(done, " "), "/trusted/1") {
		t.Fatalf("trusted coordinator saw ops %v, completed %v", ops, done)
	}
	if len(nodeHost.Trusted()) != 1 || len(jobs.Announcements()) > 1 {
		t.Fatalf("node trusts %v and lists %d announcements", nodeHost.Trusted(), len(jobs.Announcements()))
	}
}
