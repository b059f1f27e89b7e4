package network

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/internal/testutil"
)

// mDNS multicasts beyond loopback, so tests never start it; they drive the
// notifee and the connector it feeds directly.
func TestMDNSNotifeeConnectsFoundPeers(t *testing.T) {
	h := newTestHost(t, testConfig())
	other := newTestHost(t, testConfig())
	quarantined := newTestHost(t, testConfig())
	h.Quarantine(quarantined.ID())

	found := make(chan peer.AddrInfo, 4)
	n := &mdnsNotifee{self: h.ID(), found: found, ctx: h.ctx}
	h.spawn(func() { h.connectFound(found) })

	info := func(x *Host) peer.AddrInfo {
		return peer.AddrInfo{ID: x.ID(), Addrs: x.Libp2p().Addrs()}
	}
	tests := []struct {
		name    string
		ai      peer.AddrInfo
		connect bool
	}{
		{"self is ignored", info(h), false},
		{"no addresses is ignored", peer.AddrInfo{ID: other.ID()}, false},
		{"quarantined peer is not dialled", info(quarantined), false},
		{"new peer is dialled", info(other), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n.HandlePeerFound(tt.ai)
			if tt.connect {
				testutil.Eventually(t, 5*time.Second, "connection to the found peer", func() bool {
					return h.Libp2p().Network().Connectedness(tt.ai.ID) == network.Connected
				})
				return
			}
			time.Sleep(100 * time.Millisecond)
			if tt.ai.ID != h.ID() && h.Libp2p().Network().Connectedness(tt.ai.ID) == network.Connected {
				t.Fatalf("connected to %s", tt.ai.ID)
			}
		})
	}

	// A full queue drops announcements instead of blocking mDNS.
	full := &mdnsNotifee{self: h.ID(), found: make(chan peer.AddrInfo), ctx: context.Background()}
	done := make(chan struct{})
	go func() { full.HandlePeerFound(info(other)); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("HandlePeerFound blocked on a full queue")
	}
}

func TestDHTDiscoversPeersBeyondBootstrap(t *testing.T) {
	tests := []struct {
		dht  bool
		want bool
	}{
		{dht: false, want: false},
		{dht: true, want: true},
	}
	for _, tt := range tests {
		name := "without DHT leaves stay apart"
		if tt.dht {
			name = "with DHT leaves find each other"
		}
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.DHT = tt.dht
			cfg.DiscoveryInterval = 300 * time.Millisecond
			cfg.PresenceInterval = -1
			hub := newTestHost(t, cfg)
			cfg.Bootstrap = hub.Addrs()
			a := newTestHost(t, cfg)
			b := newTestHost(t, cfg)
			connected := func() bool { return a.Libp2p().Network().Connectedness(b.ID()) == network.Connected }
			if tt.want {
				testutil.Eventually(t, 15*time.Second, "leaves to find each other through the DHT", connected)
				return
			}
			testutil.Eventually(t, 5*time.Second, "leaves to reach the hub", func() bool {
				return len(hub.ConnectedPeers()) == 2
			})
			time.Sleep(time.Second)
			if connected() {
				t.Fatal("leaves connected without any discovery")
			}
		})
	}
}
