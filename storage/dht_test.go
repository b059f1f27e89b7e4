package storage

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// testDHTPrefix keeps the test DHT private, as network's discovery does
// with its own /sward prefix.
const testDHTPrefix = "/sward-test"

// newTestDHT starts a private Kademlia DHT on h and, when boot is given,
// connects to it and waits until it is in the routing table.
func newTestDHT(t *testing.T, h host.Host, mode dht.ModeOpt, boot *peer.AddrInfo) *dht.IpfsDHT {
	t.Helper()
	opts := []dht.Option{dht.Mode(mode), dht.ProtocolPrefix(testDHTPrefix)}
	if boot != nil {
		opts = append(opts, dht.BootstrapPeers(*boot))
	}
	kad, err := dht.New(h, opts...)
	if err != nil {
		t.Fatalf("starting DHT: %v", err)
	}
	t.Cleanup(func() { kad.Close() })
	if boot == nil {
		return kad
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, *boot); err != nil {
		t.Fatalf("connecting to the DHT bootstrap peer: %v", err)
	}
	for kad.RoutingTable().Size() == 0 {
		if ctx.Err() != nil {
			t.Fatal("the bootstrap peer never entered the routing table")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return kad
}

func addrInfo(h host.Host) peer.AddrInfo { return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()} }

// providersOf asks kad for the providers of c.
func providersOf(ctx context.Context, kad *dht.IpfsDHT, c cid.Cid) map[peer.ID]bool {
	out := map[peer.ID]bool{}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for ai := range kad.FindProvidersAsync(lctx, c, 0) {
		out[ai.ID] = true
	}
	return out
}

// TestDHTPullFindsPublisher: three hosts on loopback, a publisher, a peer
// that only runs the DHT, and pullers that know only that peer. The
// publisher's head is announced by Serve, a later version by Provide; each
// puller finds the publisher through provider records and pulls, the second
// reusing the first version's shards.
func TestDHTPullFindsPublisher(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := DatasetOptions{RowGroupBytes: 16 << 10, ShardBytes: 32 << 10}

	bootHost := newHost(t)
	newTestDHT(t, bootHost, dht.ModeServer, nil)
	boot := addrInfo(bootHost)

	pubHost := newHost(t)
	pubDHT := newTestDHT(t, pubHost, dht.ModeServer, &boot)
	s, v1 := publishedStore(t, 120, opts)
	srv, err := Serve(ctx, pubHost, s, ServeConfig{Routing: pubDHT})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	// pull makes a fresh puller that knows only the bootstrap peer.
	pull := func(t *testing.T, root cid.Cid, out string, stall time.Duration) (*PullResult, host.Host, error) {
		t.Helper()
		h := newHost(t)
		kad := newTestDHT(t, h, dht.ModeClient, &boot)
		res, err := PullVersion(ctx, h, root, out, PullOptions{Routing: kad, StallTimeout: stall})
		return res, h, err
	}

	out := filepath.Join(t.TempDir(), "web")
	t.Run("head announced by Serve", func(t *testing.T) {
		res, h, err := pull(t, v1, out, 30*time.Second)
		if err != nil {
			t.Fatalf("pull through the DHT: %v", err)
		}
		if res.Manifest.Rows != 120 || res.Fetched < res.Total || res.Reused != 0 {
			t.Fatalf("pull result rows=%d fetched=%d reused=%d total=%d", res.Manifest.Rows, res.Fetched, res.Reused, res.Total)
		}
		if len(h.Peerstore().Addrs(pubHost.ID())) == 0 {
			t.Fatal("the puller has no address for the publisher; where did the blocks come from?")
		}
		if err := VerifyDir(ctx, out, v1); err != nil {
			t.Fatal(err)
		}
		// Shard roots carry provider records too, so a puller that holds
		// the root (or wants one shard) still finds the publisher.
		probe := newTestDHT(t, newHost(t), dht.ModeClient, &boot)
		for _, sh := range allShards(res.Manifest) {
			c, err := cid.Decode(sh.CID)
			if err != nil {
				t.Fatal(err)
			}
			if !providersOf(ctx, probe, c)[pubHost.ID()] {
				t.Errorf("no provider record for shard %s (%s)", sh.Path, c)
			}
		}
	})

	t.Run("new version announced by Provide", func(t *testing.T) {
		v2, _ := publishDocs(t, s, "web", opts, testDocs("v2", 40))
		if err := srv.Provide(ctx, v2); err != nil {
			t.Fatalf("Provide: %v", err)
		}
		res, _, err := pull(t, v2, out, 30*time.Second)
		if err != nil {
			t.Fatalf("pull of the new version through the DHT: %v", err)
		}
		if res.Manifest.Rows != 160 || res.Reused == 0 || res.Fetched >= res.Total {
			t.Fatalf("pull result rows=%d fetched=%d reused=%d total=%d; want the first version's shards reused",
				res.Manifest.Rows, res.Fetched, res.Reused, res.Total)
		}
		if err := VerifyDir(ctx, out, v2); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unknown CID says what to do", func(t *testing.T) {
		unknown := rawCIDOf([]byte("a dataset nobody announced"))
		start := time.Now()
		_, _, err := pull(t, unknown, t.TempDir(), 1500*time.Millisecond)
		if !errors.Is(err, ErrNoProviders) {
			t.Fatalf("err = %v, want ErrNoProviders", err)
		}
		if want := "no providers for " + unknown.String(); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--from <multiaddr>") {
			t.Fatalf("err = %q; want it to contain %q and tell the user to pass --from", err, want)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Fatalf("failing took %s", d)
		}
	})
}

// fakeRouting records provider announcements; the first failFirst fail,
// as a DHT with an empty routing table does.
type fakeRouting struct {
	mu        sync.Mutex
	failFirst int
	calls     int
	provided  map[cid.Cid]int
}

func (f *fakeRouting) Provide(_ context.Context, c cid.Cid, _ bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.failFirst {
		return errors.New("failed to find any peer in table")
	}
	f.provided[c]++
	return nil
}

func (f *fakeRouting) FindProvidersAsync(context.Context, cid.Cid, int) <-chan peer.AddrInfo {
	ch := make(chan peer.AddrInfo)
	close(ch)
	return ch
}

func (f *fakeRouting) has(keys []cid.Cid) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		if f.provided[k] == 0 {
			return false
		}
	}
	return true
}

// TestServeAnnouncesVersions: Serve announces each head under its root,
// directories and file roots, retrying while the routing refuses, and stops
// announcing when closed.
func TestServeAnnouncesVersions(t *testing.T) {
	tests := []struct {
		name      string
		failFirst int
	}{
		{"routing ready", 0},
		{"routing refuses at first", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, v1 := publishedStore(t, 60, DatasetOptions{RowGroupBytes: 16 << 10, ShardBytes: 32 << 10})
			m, err := s.Manifest(ctx, v1)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := versionKeys(ctx, s.DAGService(), v1)
			if err != nil {
				t.Fatal(err)
			}
			// root, data/, markdown/, chunks/, manifest.json, README.md and every shard
			if want := 6 + len(allShards(m)); len(keys) != want {
				t.Fatalf("version announced under %d keys, want %d: %v", len(keys), want, keys)
			}
			r := &fakeRouting{failFirst: tt.failFirst, provided: map[cid.Cid]int{}}
			srv, err := Serve(ctx, newHost(t), s, ServeConfig{Routing: r})
			if err != nil {
				t.Fatal(err)
			}
			for !r.has(keys) {
				if ctx.Err() != nil {
					srv.Close()
					t.Fatal("Serve never announced every key of the head")
				}
				time.Sleep(20 * time.Millisecond)
			}
			srv.Close()
			r.mu.Lock()
			calls := r.calls
			r.mu.Unlock()
			time.Sleep(100 * time.Millisecond)
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.calls != calls {
				t.Fatalf("%d announcements after Close", r.calls-calls)
			}
		})
	}
}

// TestServeAnnouncesNewHeads: a version published while the server runs is
// announced at once, without a call to Provide, and the old head is not
// announced again before the renewal.
func TestServeAnnouncesNewHeads(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, v1 := publishedStore(t, 30, DatasetOptions{})
	keys1, err := versionKeys(ctx, s.DAGService(), v1)
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeRouting{provided: map[cid.Cid]int{}}
	srv, err := Serve(ctx, newHost(t), s, ServeConfig{Routing: r})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	waitProvided := func(keys []cid.Cid, what string) {
		t.Helper()
		for !r.has(keys) {
			if ctx.Err() != nil {
				t.Fatalf("%s was never announced", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitProvided(keys1, "the head at start")

	v2, _ := publishDocs(t, s, "web", DatasetOptions{}, testDocs("q", 10))
	keys2, err := versionKeys(ctx, s.DAGService(), v2)
	if err != nil {
		t.Fatal(err)
	}
	waitProvided(keys2, "a version published while serving")
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.provided[v1]; n != 1 {
		t.Errorf("the first head was announced %d times, want once before the renewal", n)
	}
}
