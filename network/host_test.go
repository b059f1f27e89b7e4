package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/schemas"
)

func TestConfigValidate(t *testing.T) {
	_, id := genKey(t)
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"bootstrap with peer id", func(c *Config) { c.Bootstrap = []string{"/ip4/127.0.0.1/tcp/4001/p2p/" + id.String()} }, ""},
		{"bad listen addr", func(c *Config) { c.ListenAddrs = []string{"127.0.0.1:4001"} }, "listen address"},
		{"bootstrap without peer id", func(c *Config) { c.Bootstrap = []string{"/ip4/127.0.0.1/tcp/4001"} }, "/p2p/"},
		{"bad trusted id", func(c *Config) { c.Trusted = []string{"coordinator"} }, "trusted peer"},
		{"negative lease timeout", func(c *Config) { c.LeaseTimeout = -time.Second }, "lease timeout"},
		{"huge inline limit", func(c *Config) { c.InlineBodyLimit = 8 << 20 }, "inline body"},
		{"negative replay window", func(c *Config) { c.ReplayWindow = -1 }, "replay window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			c.Default()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
	var c Config
	c.Default()
	if len(c.ListenAddrs) != 1 || c.ListenAddrs[0] != DefaultListenAddr || c.PresenceTTL != 3*DefaultPresenceInterval {
		t.Fatalf("unexpected defaults %+v", c)
	}
	if _, err := New(context.Background(), Config{ListenAddrs: []string{"nonsense"}}); err == nil {
		t.Fatal("New accepted an invalid config")
	}
}

func TestAddrsAndConnect(t *testing.T) {
	a := newTestHost(t, testConfig())
	b := newTestHost(t, testConfig())
	for _, addr := range a.Addrs() {
		if !strings.HasSuffix(addr, "/p2p/"+a.ID().String()) || !strings.HasPrefix(addr, "/ip4/127.0.0.1/") {
			t.Fatalf("address %s is not a full loopback multiaddr", addr)
		}
	}
	id, err := b.Connect(t.Context(), a.Addrs()[0])
	if err != nil || id != a.ID() {
		t.Fatalf("Connect: %s, %v", id, err)
	}
	if _, err := b.Connect(t.Context(), "/ip4/127.0.0.1/tcp/1"); err == nil {
		t.Fatal("Connect accepted an address without /p2p/")
	}
	if len(a.Trusted()) != 0 || a.IsTrusted(b.ID()) {
		t.Fatal("a host without bootstrap or trusted peers trusts someone")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestBootstrapRetriesAndReconnects(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "coord.key")
	key, err := LoadOrCreateIdentity(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	coordID, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	ccfg := testConfig()
	ccfg.KeyFile = keyFile
	ccfg.ListenAddrs = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)}

	ncfg := testConfig()
	ncfg.Bootstrap = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, coordID)}
	node := newTestHost(t, ncfg)
	if !node.IsTrusted(coordID) {
		t.Fatal("bootstrap peer not trusted by default")
	}
	connected := func() bool { return node.Libp2p().Network().Connectedness(coordID) == network.Connected }

	time.Sleep(600 * time.Millisecond) // a few failed attempts first
	coord, err := New(context.Background(), ccfg)
	if err != nil {
		t.Fatalf("starting coordinator: %v", err)
	}
	start := time.Now()
	testutil.Eventually(t, 10*time.Second, "node to reach the late coordinator", connected)
	t.Logf("reached after %s", time.Since(start))
	must(t, coord.Close())
	testutil.Eventually(t, 5*time.Second, "node to notice the coordinator left", func() bool { return !connected() })

	coord2 := newTestHost(t, ccfg)
	if coord2.ID() != coordID {
		t.Fatal("restarted coordinator has a new identity")
	}
	start = time.Now()
	testutil.Eventually(t, 10*time.Second, "node to reconnect to the restarted coordinator", connected)
	t.Logf("reconnected after %s", time.Since(start))
}

func TestCloseStopsEverything(t *testing.T) {
	baseline := runtime.NumGoroutine()
	hub := newTestHost(t, testConfig())
	for i := 0; i < 3; i++ {
		cfg := testConfig()
		cfg.DHT = true
		cfg.Bootstrap = append(hub.Addrs(), "/ip4/127.0.0.1/tcp/1/p2p/"+hub.ID().String())
		h, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ch, err := h.SubscribeCaptures(ctx)
		if err != nil {
			t.Fatal(err)
		}
		h.ServeLeases(&echoCoordinator{})
		testutil.Eventually(t, 5*time.Second, "connection to hub", func() bool { return len(h.ConnectedPeers()) > 0 })
		must(t, h.Close())
		must(t, h.Close()) // idempotent
		select {
		case _, ok := <-ch:
			if ok {
				t.Fatal("subscription delivered after Close")
			}
		case <-time.After(2 * time.Second):
			t.Fatal("subscription channel not closed by Close")
		}
		cancel()
	}
	must(t, hub.Close())
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := hub.WaitTopicPeers(short, schemas.TopicCaptures, 1); !errors.Is(err, ErrClosed) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for peers on a closed host: %v", err)
	}
	if _, err := hub.SubscribeCaptures(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("subscribing on a closed host: got %v, want ErrClosed", err)
	}
	// libp2p keeps a few process-wide goroutines; what must not remain is
	// anything per host.
	testutil.Eventually(t, 5*time.Second, "goroutines to return to the baseline", func() bool {
		return runtime.NumGoroutine() <= baseline+10
	})
}
