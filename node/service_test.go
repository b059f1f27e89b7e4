package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/schemas"
)

// fakeNet is a coordinator and gossip layer made of function fields.
type fakeNet struct {
	id  peer.ID
	key crypto.PrivKey

	mu        sync.Mutex
	leases    []*schemas.LeaseResponse // handed out in order, then empty
	requests  []schemas.LeaseRequest
	published []*schemas.Capture
	onPublish func(*schemas.Capture)
	// answer, when set, answers every request in place of leases, as the
	// coordinator it is sent to; asked records those coordinators in the
	// order of requests.
	answer func(coord peer.ID, req *schemas.LeaseRequest) *schemas.LeaseResponse
	asked  []peer.ID
}

func newFakeNet(t *testing.T) *fakeNet {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeNet{id: id, key: key}
}

func (f *fakeNet) ID() peer.ID         { return f.id }
func (f *fakeNet) Key() crypto.PrivKey { return f.key }

func (f *fakeNet) RequestLease(_ context.Context, coord peer.ID, req *schemas.LeaseRequest) (*schemas.LeaseResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, *req)
	f.asked = append(f.asked, coord)
	if f.answer != nil {
		return f.answer(coord, req), nil
	}
	if req.Op == schemas.LeaseAcquire && len(f.leases) > 0 {
		l := f.leases[0]
		f.leases = f.leases[1:]
		return l, nil
	}
	return &schemas.LeaseResponse{Version: schemas.WireVersion, RetryAfter: schemas.Duration(20 * time.Millisecond),
		Ledger: &schemas.LedgerEntry{Reputation: 0.75, Points: 12}}, nil
}

func (f *fakeNet) PublishCapture(_ context.Context, c *schemas.Capture) error {
	f.mu.Lock()
	f.published = append(f.published, c)
	fn := f.onPublish
	f.mu.Unlock()
	if fn != nil {
		fn(c)
	}
	return nil
}

func (f *fakeNet) ops(op string) []schemas.LeaseRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []schemas.LeaseRequest
	for _, r := range f.requests {
		if r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// acquires counts the lease requests sent to coord.
func (f *fakeNet) acquires(coord peer.ID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for i, r := range f.requests {
		if r.Op == schemas.LeaseAcquire && f.asked[i] == coord {
			n++
		}
	}
	return n
}

// fakeSign marks a capture as signed by the node's key.
func fakeSign(key crypto.PrivKey, c *schemas.Capture) error {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return err
	}
	c.NodePeerID = id.String()
	c.Signature = []byte("signed")
	return nil
}

func testFetcher(t *testing.T) *Fetcher {
	t.Helper()
	cfg := Config{AllowPrivate: true, MinHostDelay: time.Millisecond, DataDir: t.TempDir()}
	cfg.Default()
	f, err := NewFetcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func TestServiceFetchesSignsPublishesAndCompletes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<html><body><p>page %s</p><a href=\"/next\">next</a></body></html>", r.URL.Path)
	}))
	defer srv.Close()
	net := newFakeNet(t)
	lease := &schemas.LeaseResponse{Version: schemas.WireVersion, LeaseID: "L1", Deadline: time.Now().Add(time.Minute)}
	for i := range 3 {
		lease.Items = append(lease.Items, schemas.LeaseItem{JobID: "j", URL: fmt.Sprintf("%s/p%d", srv.URL, i)})
	}
	net.leases = []*schemas.LeaseResponse{lease}
	fetcher := testFetcher(t)
	svc, err := NewService(ServiceConfig{Coordinator: net.id}, net, fakeSign, fetcher)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx) }()
	testutil.Eventually(t, 15*time.Second, "the lease to complete", func() bool { return len(net.ops(schemas.LeaseComplete)) > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	net.mu.Lock()
	published := append([]*schemas.Capture(nil), net.published...)
	net.mu.Unlock()
	if len(published) != 3 {
		t.Fatalf("published %d captures, want 3", len(published))
	}
	for _, c := range published {
		if c.NodePeerID != net.id.String() || len(c.Signature) == 0 {
			t.Errorf("capture of %s not signed by the node", c.URL)
		}
		if c.Status != 200 || len(c.Outlinks) != 1 || c.JobID != "j" {
			t.Errorf("capture of %s: status %d outlinks %v job %q", c.URL, c.Status, c.Outlinks, c.JobID)
		}
	}
	completes := net.ops(schemas.LeaseComplete)
	if len(completes) != 1 || completes[0].LeaseID != "L1" || len(completes[0].URLs) != 3 {
		t.Errorf("complete frames %+v, want one for L1 with 3 URLs", completes)
	}
	if rel := net.ops(schemas.LeaseRelease); len(rel) != 0 {
		t.Errorf("released %+v after a full lease", rel)
	}
	if got := fetcher.Meter().Snapshot(1); got.Ledger.Reputation != 0.75 {
		t.Errorf("dashboard ledger reputation %v, want the coordinator's 0.75", got.Ledger.Reputation)
	}
}

func TestServiceReleasesUnfinishedURLsOnShutdown(t *testing.T) {
	// Two hosts, so per-host politeness does not serialise the fetches.
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond) // let the slow fetch start first
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<p>fast</p>")
	}))
	defer fast.Close()
	net := newFakeNet(t)
	net.leases = []*schemas.LeaseResponse{{
		Version: schemas.WireVersion, LeaseID: "L2", Deadline: time.Now().Add(time.Minute),
		Items: []schemas.LeaseItem{{JobID: "j", URL: fast.URL + "/fast"}, {JobID: "j", URL: slow.URL + "/slow"}},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	net.onPublish = func(c *schemas.Capture) {
		if c.URL == fast.URL+"/fast" {
			cancel() // the operator stops the node while /slow is in flight
		}
	}
	svc, err := NewService(ServiceConfig{Coordinator: net.id}, net, fakeSign, testFetcher(t))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := svc.Serve(ctx); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %s; an in-flight fetch must not hold it up", d)
	}
	rel := net.ops(schemas.LeaseRelease)
	if len(rel) != 1 || len(rel[0].URLs) != 1 || rel[0].URLs[0] != slow.URL+"/slow" {
		t.Fatalf("release frames %+v, want /slow handed back", rel)
	}
	comp := net.ops(schemas.LeaseComplete)
	if len(comp) != 1 || len(comp[0].URLs) != 1 || comp[0].URLs[0] != fast.URL+"/fast" {
		t.Fatalf("complete frames %+v, want /fast completed", comp)
	}
}

func TestServiceConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ServiceConfig
		ok   bool
	}{
		{"no coordinator", ServiceConfig{LeaseSize: 1, Leases: 1}, false},
		{"lease too big", ServiceConfig{Coordinator: "x", LeaseSize: 5000, Leases: 1}, false},
		{"too many leases", ServiceConfig{Coordinator: "x", LeaseSize: 16, Leases: 100}, false},
		{"negative max backoff", ServiceConfig{Coordinator: "x", LeaseSize: 16, Leases: 4, MaxBackoff: -time.Second}, false},
		{"negative idle wait", ServiceConfig{Coordinator: "x", LeaseSize: 16, Leases: 4, IdleWait: -time.Second}, false},
		{"fine", ServiceConfig{Coordinator: "x", LeaseSize: 16, Leases: 4}, true},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
	}
}

func TestFitInlineCutsAtRuneBoundary(t *testing.T) {
	body := []byte("ab\u00e9\u00e9") // a b é é: é is two bytes
	c := &schemas.Capture{Body: body, BodySize: int64(len(body)), BodySHA256: schemas.SHA256Hex(body)}
	fitInline(c, 3) // byte 3 is inside the first é
	if string(c.Body) != "ab" || !c.Truncated || c.BodySize != 2 || c.BodySHA256 != schemas.SHA256Hex([]byte("ab")) {
		t.Fatalf("got body %q truncated %v size %d", c.Body, c.Truncated, c.BodySize)
	}
	small := &schemas.Capture{Body: []byte("ok"), BodySize: 2}
	fitInline(small, 10)
	if small.Truncated || string(small.Body) != "ok" {
		t.Fatalf("a small body was changed: %+v", small)
	}
}

// memBlobs records what the service stores.
type memBlobs struct{ got []byte }

func (m *memBlobs) AddFile(_ context.Context, r io.Reader) (cid.Cid, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return cid.Undef, err
	}
	m.got = b
	h, err := mh.Sum(b, mh.SHA2_256, -1)
	if err != nil {
		return cid.Undef, err
	}
	return cid.NewCidV1(cid.Raw, h), nil
}

func TestPlaceBodyMovesLargeBodiesToBlobs(t *testing.T) {
	big := []byte(strings.Repeat("x", 40))
	svc := &Service{cfg: ServiceConfig{MaxInlineBody: 16}}
	blobs := &memBlobs{}
	svc.SetBlobs(blobs)
	c := &schemas.Capture{Body: big, BodySize: int64(len(big)), BodySHA256: schemas.SHA256Hex(big)}
	svc.placeBody(context.Background(), c)
	if c.Body != nil || c.BodyCID == "" || c.Truncated || c.BodySHA256 != schemas.SHA256Hex(big) || c.BodySize != 40 {
		t.Fatalf("large body not moved whole to blobs: %+v", c)
	}
	if string(blobs.got) != string(big) {
		t.Errorf("blobs got %q", blobs.got)
	}
	small := &schemas.Capture{Body: []byte("short")}
	svc.placeBody(context.Background(), small)
	if small.BodyCID != "" || string(small.Body) != "short" {
		t.Errorf("a small body was moved: %+v", small)
	}
}

// TestServiceWaitsWhenRateLimited: a coordinator that refuses a lease
// request with a wait (its lease rate limit) is asked again after about
// that wait, without a warning and without a growing backoff (the demo's
// nodes logged hundreds of warnings and backed off for seconds).
func TestServiceWaitsWhenRateLimited(t *testing.T) {
	net := newFakeNet(t)
	for range 6 {
		net.leases = append(net.leases, &schemas.LeaseResponse{Version: schemas.WireVersion,
			Error: "rate limited: too many lease requests; retry later", RetryAfter: schemas.Duration(50 * time.Millisecond)})
	}
	var logs testutil.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc, err := NewService(ServiceConfig{Coordinator: net.id, Leases: 1, Logger: log}, net, fakeSign, testFetcher(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx) }()
	// Six refusals at 50-75 ms each, then the empty answers: with the
	// failure backoff (1 s, doubling) the seventh request would come
	// after a minute.
	testutil.Eventually(t, 5*time.Second, "seven lease requests", func() bool { return len(net.ops(schemas.LeaseAcquire)) >= 7 })
	elapsed := time.Since(start)
	cancel()
	<-done
	if elapsed > 3*time.Second {
		t.Errorf("seven requests took %s: the node backed off past the coordinator's wait", elapsed)
	}
	if strings.Contains(logs.String(), "lease request failed") {
		t.Errorf("a rate-limited lease request was logged as a failure:\n%s", logs.String())
	}
}

// runService serves svc until the returned stop is called (or the test
// ends), and checks that Serve stopped cleanly.
func runService(t *testing.T, svc *Service) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

const rateLimited = "rate limited: too many lease requests; retry later"

// TestServiceAsksOtherCoordinatorsWhileRateLimited: a discovered
// coordinator that refuses with a long wait is set aside for that wait,
// and the node takes work from another coordinator at once rather than
// sleeping the wait out.
func TestServiceAsksOtherCoordinatorsWhileRateLimited(t *testing.T) {
	site := goodSite(t)
	limiter, worker := testPeer(t), testPeer(t)
	if worker < limiter {
		// Coordinators are picked in ID order: the limiter is asked first.
		limiter, worker = worker, limiter
	}
	src := &staticAnnouncements{}
	src.set(ann(limiter, 5, schemas.AnnouncedRunning), ann(worker, 1, schemas.AnnouncedRunning))
	net := newFakeNet(t)
	given := false // guarded by net.mu, which answer runs under
	net.answer = func(coord peer.ID, req *schemas.LeaseRequest) *schemas.LeaseResponse {
		resp := &schemas.LeaseResponse{Version: schemas.WireVersion}
		switch {
		case req.Op != schemas.LeaseAcquire:
		case coord == limiter:
			resp.Error, resp.RetryAfter = rateLimited, schemas.Duration(time.Minute)
		case !given:
			given = true
			resp.LeaseID, resp.Deadline = "W1", time.Now().Add(time.Minute)
			resp.Items = []schemas.LeaseItem{{JobID: "j", URL: site.URL + "/work"}}
		default:
			resp.RetryAfter = schemas.Duration(20 * time.Millisecond)
		}
		return resp
	}
	// One lease loop, so that no second loop asks the worker while the
	// first one waits.
	svc, err := NewService(ServiceConfig{Announcements: src, Leases: 1, IdleWait: 50 * time.Millisecond, Logger: quietLog()},
		net, fakeSign, testFetcher(t))
	if err != nil {
		t.Fatal(err)
	}
	stop := runService(t, svc)
	// Promptly: well inside the limiter's minute (and the 30 s MaxBackoff).
	testutil.Eventually(t, 5*time.Second, "the other coordinator's lease to complete", func() bool {
		return len(net.ops(schemas.LeaseComplete)) == 1
	})
	stop()
	net.mu.Lock()
	first := net.asked[0]
	net.mu.Unlock()
	if first != limiter {
		t.Fatalf("the first request went to %s, not the rate-limiting %s: the test proves nothing", first, limiter)
	}
	if n := net.acquires(limiter); n != 1 {
		t.Errorf("the rate-limiting coordinator was asked %d times, want once: it asked for a minute's rest", n)
	}
}

// TestServiceCapsCoordinatorWait: however long a coordinator asks the
// node to wait, refusing it or having no work, the node asks it again after
// at most MaxBackoff, so a hostile coordinator cannot park the node.
func TestServiceCapsCoordinatorWait(t *testing.T) {
	for _, tc := range []struct {
		name     string
		discover bool
		refuse   string // the answer's Error
	}{
		{"fixed coordinator refusing", false, rateLimited},
		{"discovered coordinator refusing", true, rateLimited},
		{"fixed coordinator without work", false, ""},
		{"discovered coordinator without work", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			coord := testPeer(t)
			net := newFakeNet(t)
			net.answer = func(peer.ID, *schemas.LeaseRequest) *schemas.LeaseResponse {
				return &schemas.LeaseResponse{Version: schemas.WireVersion,
					Error: tc.refuse, RetryAfter: schemas.Duration(time.Hour)}
			}
			cfg := ServiceConfig{Coordinator: coord, Leases: 1, IdleWait: 20 * time.Millisecond,
				MaxBackoff: 100 * time.Millisecond, Logger: quietLog()}
			if tc.discover {
				src := &staticAnnouncements{}
				src.set(ann(coord, 1, schemas.AnnouncedRunning))
				cfg.Coordinator, cfg.Announcements = "", src
			}
			svc, err := NewService(cfg, net, fakeSign, testFetcher(t))
			if err != nil {
				t.Fatal(err)
			}
			runService(t, svc)
			// Three requests take about two MaxBackoffs; without the cap,
			// the second would come after an hour.
			testutil.Eventually(t, 5*time.Second, "three lease requests", func() bool {
				return net.acquires(coord) >= 3
			})
		})
	}
}

func TestRetryWaitJittersWithinTheCap(t *testing.T) {
	const limit = 30 * time.Second
	for _, tc := range []struct {
		name     string
		hint     time.Duration
		min, max time.Duration
	}{
		{"short hint", time.Second, time.Second, 1500 * time.Millisecond},
		{"hint near the cap", 25 * time.Second, 25 * time.Second, limit},
		{"hint at the cap", limit, limit, limit},
		{"hostile hint", 10 * 365 * 24 * time.Hour, limit, limit},
	} {
		for range 100 {
			if got := retryWait(tc.hint, limit); got < tc.min || got > tc.max {
				t.Fatalf("%s: retryWait(%s, %s) = %s, want within [%s, %s]", tc.name, tc.hint, limit, got, tc.min, tc.max)
			}
		}
	}
}
