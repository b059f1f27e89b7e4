package network

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/schemas"
)

// echoCoordinator hands out one item per requested URL and records callers.
type echoCoordinator struct {
	mu    sync.Mutex
	calls map[peer.ID]int
	block chan struct{} // when set, HandleLease waits on it
}

func (e *echoCoordinator) HandleLease(ctx context.Context, from peer.ID, req *schemas.LeaseRequest) *schemas.LeaseResponse {
	e.mu.Lock()
	if e.calls == nil {
		e.calls = map[peer.ID]int{}
	}
	e.calls[from]++
	e.mu.Unlock()
	if e.block != nil {
		select {
		case <-e.block:
		case <-ctx.Done():
			return &schemas.LeaseResponse{Error: "timeout"}
		}
	}
	switch req.Op {
	case schemas.LeaseAcquire:
		resp := &schemas.LeaseResponse{LeaseID: "lease-" + from.String()[:8], Deadline: time.Now().Add(time.Minute).UTC()}
		for i := 0; i < req.Max; i++ {
			resp.Items = append(resp.Items, schemas.LeaseItem{JobID: "job-1", URL: fmt.Sprintf("http://127.0.0.1/%d", i)})
		}
		resp.Budgets = map[string]schemas.HostBudget{"127.0.0.1": {MinDelay: schemas.Duration(time.Second), MaxConcurrency: 2}}
		return resp
	case schemas.LeaseComplete:
		return &schemas.LeaseResponse{LeaseID: req.LeaseID}
	}
	return &schemas.LeaseResponse{Error: "unsupported op " + req.Op}
}

// leasePair is a coordinator serving leases and a node that trusts it.
func leasePair(t *testing.T, handler LeaseHandler, tweak func(*Config)) (coord, node *Host) {
	t.Helper()
	ccfg := testConfig()
	ccfg.PresenceInterval = -1
	if tweak != nil {
		tweak(&ccfg)
	}
	coord = newTestHost(t, ccfg)
	coord.ServeLeases(handler)
	ncfg := testConfig()
	ncfg.PresenceInterval = -1
	ncfg.Bootstrap = coord.Addrs()
	node = newTestHost(t, ncfg)
	if !node.IsTrusted(coord.ID()) {
		t.Fatal("node does not trust its bootstrap coordinator")
	}
	testutil.Eventually(t, 5*time.Second, "node to connect", func() bool {
		return node.Libp2p().Network().Connectedness(coord.ID()) == network.Connected
	})
	return coord, node
}

func TestLeaseRoundTrip(t *testing.T) {
	h := &echoCoordinator{}
	coord, node := leasePair(t, h, nil)
	resp, err := node.RequestLease(t.Context(), coord.ID(), &schemas.LeaseRequest{Op: schemas.LeaseAcquire, Max: 3})
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	if resp.Error != "" || len(resp.Items) != 3 || resp.Version != schemas.WireVersion || resp.Budgets["127.0.0.1"].MaxConcurrency != 2 {
		t.Fatalf("unexpected acquire response %+v", resp)
	}
	done, err := node.RequestLease(t.Context(), coord.ID(), &schemas.LeaseRequest{Op: schemas.LeaseComplete, LeaseID: resp.LeaseID, URLs: []string{resp.Items[0].URL}})
	if err != nil || done.Error != "" || done.LeaseID != resp.LeaseID {
		t.Fatalf("complete: %+v, %v", done, err)
	}
	bad, err := node.RequestLease(t.Context(), coord.ID(), &schemas.LeaseRequest{Op: "steal", Max: 1})
	if err != nil {
		t.Fatalf("invalid op: transport error %v", err)
	}
	if !strings.Contains(bad.Error, "unknown op") {
		t.Fatalf("invalid op answered %+v, want an error response", bad)
	}
	if h.calls[node.ID()] != 2 {
		t.Fatalf("handler called %d times, want 2 (invalid requests never reach it)", h.calls[node.ID()])
	}
	testutil.Eventually(t, 2*time.Second, "lease streams to finish", func() bool { return coord.ActiveLeaseStreams() == 0 })
}

func TestLeaseConcurrentRequests(t *testing.T) {
	coord, node := leasePair(t, &echoCoordinator{}, nil)
	other := newTestHost(t, func() Config {
		c := testConfig()
		c.PresenceInterval = -1
		c.Trusted = []string{coord.ID().String()}
		return c
	}())
	if _, err := other.Connect(t.Context(), coord.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		n := node
		if i%2 == 1 {
			n = other
		}
		wg.Add(1)
		go func(max int) {
			defer wg.Done()
			resp, err := n.RequestLease(t.Context(), coord.ID(), &schemas.LeaseRequest{Op: schemas.LeaseAcquire, Max: max})
			if err != nil {
				errs <- err
				return
			}
			if len(resp.Items) != max || !strings.HasSuffix(resp.LeaseID, n.ID().String()[:8]) {
				errs <- fmt.Errorf("request for %d got %d items, lease %q", max, len(resp.Items), resp.LeaseID)
			}
		}(1 + i%5)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	testutil.Eventually(t, 2*time.Second, "lease streams to finish", func() bool { return coord.ActiveLeaseStreams() == 0 })
}

func TestLeaseRefusesUntrustedCoordinator(t *testing.T) {
	coord, _ := leasePair(t, &echoCoordinator{}, nil)
	cfg := testConfig()
	cfg.Trusted = []string{newTestHost(t, testConfig()).ID().String()}
	stranger := newTestHost(t, cfg)
	if _, err := stranger.Connect(t.Context(), coord.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	_, err := stranger.RequestLease(t.Context(), coord.ID(), &schemas.LeaseRequest{Op: schemas.LeaseAcquire, Max: 1})
	if !errors.Is(err, ErrUntrusted) {
		t.Fatalf("got %v, want ErrUntrusted", err)
	}
}

// rawLeaseStream opens a lease stream without the client's checks.
func rawLeaseStream(t *testing.T, node, coord *Host) (network.Stream, *bufio.Reader) {
	t.Helper()
	s, err := node.Libp2p().NewStream(t.Context(), coord.ID(), leaseProtocolID)
	if err != nil {
		t.Fatalf("opening stream: %v", err)
	}
	t.Cleanup(func() { _ = s.Reset() })
	return s, bufio.NewReader(s)
}

func readResponse(t *testing.T, r *bufio.Reader) *schemas.LeaseResponse {
	t.Helper()
	frame, err := ReadFrame(r, schemas.MaxMessageSize)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	var resp schemas.LeaseResponse
	if err := json.Unmarshal(frame, &resp); err != nil {
		t.Fatalf("decoding response %q: %v", frame, err)
	}
	return &resp
}

func TestLeaseMalformedFrames(t *testing.T) {
	coord, node := leasePair(t, &echoCoordinator{}, nil)
	tests := []struct {
		name      string
		raw       []byte
		wantError string
		// open: the stream still serves a valid request afterwards.
		open bool
	}{
		{"not json", frameOf("{nope"), "bad request", true},
		{"wrong version", frameOf(`{"v":7,"op":"acquire","max":1}`), "version 7", true},
		{"zero max", frameOf(`{"v":1,"op":"acquire","max":0}`), "max 0", true},
		{"renew without lease", frameOf(`{"v":1,"op":"renew"}`), "needs a lease id", true},
		{"empty frame", frameOf(""), "bad request", true},
		{"length beyond limit", binary.AppendUvarint(nil, schemas.MaxMessageSize+1), "bad frame", false},
		{"overlong length", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "bad frame", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r := rawLeaseStream(t, node, coord)
			if _, err := s.Write(tt.raw); err != nil {
				t.Fatal(err)
			}
			resp := readResponse(t, r)
			if !strings.Contains(resp.Error, tt.wantError) || resp.Version != schemas.WireVersion {
				t.Fatalf("got %+v, want error containing %q", resp, tt.wantError)
			}
			if !tt.open {
				if _, err := ReadFrame(r, schemas.MaxMessageSize); err == nil {
					t.Fatal("stream stayed open after its framing was lost")
				}
				return
			}
			if _, err := s.Write(frameOf(`{"v":1,"op":"acquire","max":2}`)); err != nil {
				t.Fatal(err)
			}
			if resp := readResponse(t, r); resp.Error != "" || len(resp.Items) != 2 {
				t.Fatalf("valid request after a bad one: %+v", resp)
			}
		})
	}
	testutil.Eventually(t, 3*time.Second, "lease streams to finish", func() bool { return coord.ActiveLeaseStreams() == 0 })
}

func frameOf(s string) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(s))), s...)
}

func TestLeaseStalledClientTimesOut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	coord, node := leasePair(t, &echoCoordinator{}, func(c *Config) { c.LeaseTimeout = timeout })
	tests := []struct {
		name string
		send []byte
	}{
		// A stream with nothing written never reaches the server (libp2p
		// negotiates the protocol lazily), so silence is tested after one
		// answered request.
		{"idle after a request", frameOf(`{"v":1,"op":"acquire","max":1}`)},
		{"half a length", []byte{0x85}},
		{"half a body", append(binary.AppendUvarint(nil, 100), "{\"v\":1"...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r := rawLeaseStream(t, node, coord)
			if len(tt.send) > 0 {
				if _, err := s.Write(tt.send); err != nil {
					t.Fatal(err)
				}
			}
			testutil.Eventually(t, 2*time.Second, "server to take the stream", func() bool { return coord.ActiveLeaseStreams() == 1 })
			start := time.Now()
			frame, err := ReadFrame(r, schemas.MaxMessageSize)
			if err == nil && strings.Contains(tt.name, "idle") {
				if !strings.Contains(string(frame), "items") {
					t.Fatalf("first request answered %q", frame)
				}
				start = time.Now()
				_, err = ReadFrame(r, schemas.MaxMessageSize)
			}
			if err == nil {
				t.Fatal("stalled stream got a response")
			}
			if waited := time.Since(start); waited > 5*timeout {
				t.Fatalf("server held a stalled stream for %s (timeout %s)", waited, timeout)
			}
			testutil.Eventually(t, 2*time.Second, "stalled stream's handler to exit", func() bool { return coord.ActiveLeaseStreams() == 0 })
		})
	}
}

func TestLeaseHandlerFailuresAnswered(t *testing.T) {
	tests := []struct {
		name    string
		handler LeaseHandlerFunc
		want    string
	}{
		{"panic", func(context.Context, peer.ID, *schemas.LeaseRequest) *schemas.LeaseResponse { panic("boom") }, "internal error"},
		{"nil response", func(context.Context, peer.ID, *schemas.LeaseRequest) *schemas.LeaseResponse { return nil }, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			coord, node := leasePair(t, tt.handler, nil)
			resp, err := node.RequestLease(t.Context(), coord.ID(), &schemas.LeaseRequest{Op: schemas.LeaseAcquire, Max: 1})
			if err != nil {
				t.Fatalf("transport error: %v", err)
			}
			if !strings.Contains(resp.Error, tt.want) {
				t.Fatalf("got %+v, want error %q", resp, tt.want)
			}
		})
	}
}

func TestLeaseBusyAndQuarantine(t *testing.T) {
	block := make(chan struct{})
	coord, node := leasePair(t, &echoCoordinator{block: block}, func(c *Config) { c.MaxLeaseStreams = 1 })
	first := make(chan error, 1)
	go func() {
		_, err := node.RequestLease(t.Context(), coord.ID(), &schemas.LeaseRequest{Op: schemas.LeaseAcquire, Max: 1})
		first <- err
	}()
	testutil.Eventually(t, 2*time.Second, "first request to occupy the only slot", func() bool { return coord.ActiveLeaseStreams() == 1 })
	busy, err := node.RequestLease(t.Context(), coord.ID(), &schemas.LeaseRequest{Op: schemas.LeaseAcquire, Max: 1})
	if err != nil || !strings.HasPrefix(busy.Error, "busy") || busy.RetryAfter <= 0 {
		t.Fatalf("second request: %+v, %v; want a busy answer with retry_after", busy, err)
	}
	close(block)
	if err := <-first; err != nil {
		t.Fatalf("first request: %v", err)
	}
	coord.Quarantine(node.ID())
	refused, err := node.RequestLease(t.Context(), coord.ID(), &schemas.LeaseRequest{Op: schemas.LeaseAcquire, Max: 1})
	if err != nil || !strings.Contains(refused.Error, "quarantined") {
		t.Fatalf("quarantined node: %+v, %v; want a refusal", refused, err)
	}
}

func TestRequestLeaseHonoursContext(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	coord, node := leasePair(t, &echoCoordinator{block: block}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := node.RequestLease(ctx, coord.ID(), &schemas.LeaseRequest{Op: schemas.LeaseAcquire, Max: 1})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("RequestLease ignored its context for %s", time.Since(start))
	}
}
