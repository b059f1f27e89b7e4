package network

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/schemas"
)

// star is a hub host with leaves that bootstrap to it, all subscribed to
// captures, with gossip paths proven by probe messages.
type star struct {
	hosts []*Host
	subs  []<-chan *schemas.Capture
}

func newStar(t *testing.T, n int) *star {
	t.Helper()
	hub := newTestHost(t, testConfig())
	s := &star{hosts: []*Host{hub}}
	for i := 1; i < n; i++ {
		cfg := testConfig()
		cfg.Bootstrap = hub.Addrs()
		cfg.Capabilities = []string{"node", fmt.Sprintf("leaf-%d", i)}
		s.hosts = append(s.hosts, newTestHost(t, cfg))
	}
	for _, h := range s.hosts {
		ch, err := h.SubscribeCaptures(t.Context())
		if err != nil {
			t.Fatalf("subscribing: %v", err)
		}
		s.subs = append(s.subs, ch)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := hub.WaitTopicPeers(ctx, schemas.TopicCaptures, n-1); err != nil {
		t.Fatal(err)
	}
	// Probe until a leaf's capture reaches every subscriber: then the hub's
	// mesh includes all leaves.
	for i := 0; ; i++ {
		if i == 50 {
			t.Fatal("gossip mesh did not form")
		}
		url := fmt.Sprintf("http://127.0.0.1/probe/%d", i)
		must(t, s.hosts[n-1].PublishCapture(t.Context(), newCapture(t, s.hosts[n-1].Key(), url)))
		all := true
		for _, ch := range s.subs {
			if collect(ch, 300*time.Millisecond)[url] == 0 {
				all = false
			}
		}
		if all {
			break
		}
	}
	// Drain late copies of earlier probes.
	for _, ch := range s.subs {
		collect(ch, 200*time.Millisecond)
	}
	return s
}

// attacker is a plain gossipsub peer that does not run sward's checks, with
// a larger message limit than sward allows.
type attacker struct {
	host  host.Host
	topic *pubsub.Topic
}

func newAttacker(t *testing.T, target *Host) *attacker {
	t.Helper()
	lh, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lh.Close() })
	ps, err := pubsub.NewGossipSub(t.Context(), lh, pubsub.WithMaxMessageSize(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(schemas.TopicCaptures)
	if err != nil {
		t.Fatal(err)
	}
	if err := lh.Connect(t.Context(), *mustAddrInfo(t, target.Addrs()[0])); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "attacker to see the target's subscription", func() bool {
		return len(topic.ListPeers()) > 0
	})
	return &attacker{host: lh, topic: topic}
}

func (a *attacker) key() crypto.PrivKey { return a.host.Peerstore().PrivKey(a.host.ID()) }

func (a *attacker) publish(t *testing.T, data []byte) {
	t.Helper()
	if err := a.topic.Publish(t.Context(), data); err != nil {
		t.Fatalf("attacker publish: %v", err)
	}
}

func TestGossipDeliversSignedCaptureOnce(t *testing.T) {
	t.Parallel()
	s := newStar(t, 3)
	want := map[string]int{}
	for i, from := range s.hosts {
		url := fmt.Sprintf("http://127.0.0.1/page/%d", i)
		must(t, from.PublishCapture(t.Context(), newCapture(t, from.Key(), url)))
		want[url] = 1
	}
	for j, ch := range s.subs {
		got := collectUntil(ch, want, 5*time.Second)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("host %d received %v, want every capture exactly once: %v", j, got, want)
		}
	}
}

func TestPresenceListsLivePeers(t *testing.T) {
	t.Parallel()
	s := newStar(t, 3)
	hub := s.hosts[0]
	testutil.Eventually(t, 5*time.Second, "hub to see both leaves announce", func() bool {
		return len(hub.Peers()) == 2
	})
	for _, p := range hub.Peers() {
		if !p.Has("node") || p.Software != DefaultVersion || len(p.Addrs) == 0 {
			t.Fatalf("presence of %s incomplete: %+v", p.ID, p)
		}
		if p.ID == hub.ID() {
			t.Fatal("host lists itself")
		}
	}
	gone := s.hosts[2].ID()
	must(t, s.hosts[2].Close())
	testutil.Eventually(t, 5*time.Second, "departed leaf to expire", func() bool {
		for _, p := range hub.Peers() {
			if p.ID == gone {
				return false
			}
		}
		return len(hub.Peers()) == 1
	})
}

func TestGossipDropsBadMessages(t *testing.T) {
	t.Parallel()
	s := newStar(t, 3)
	hub, leaf := s.hosts[0], s.hosts[1]

	// A replay: an honest-looking peer sends its own valid capture twice.
	replayer := newAttacker(t, hub)
	c := newCapture(t, replayer.key(), "http://127.0.0.1/replay")
	data := encode(t, c)
	replayer.publish(t, data)
	replayer.publish(t, data)

	// Tampered messages from another peer.
	mallory := newAttacker(t, hub)
	tampered := newCapture(t, mallory.key(), "http://127.0.0.1/tampered-hash")
	tampered.Body = []byte("swapped body")
	mallory.publish(t, encode(t, tampered))
	badSig := newCapture(t, mallory.key(), "http://127.0.0.1/tampered-sig")
	badSig.Status = 500
	mallory.publish(t, encode(t, badSig))
	mallory.publish(t, encode(t, newCapture(t, leaf.Key(), "http://127.0.0.1/wrong-author")))
	mallory.publish(t, bytes.Repeat([]byte("x"), schemas.MaxMessageSize+1000))
	mallory.publish(t, bytes.Repeat([]byte("y"), 5<<20))

	// A good capture after all of it still arrives everywhere, and nothing
	// else does except the first copy of the replayed capture.
	good := "http://127.0.0.1/good-after-attack"
	must(t, leaf.PublishCapture(t.Context(), newCapture(t, leaf.Key(), good)))
	want := map[string]int{good: 1, c.URL: 1}
	for j, ch := range s.subs {
		got := collectUntil(ch, want, 5*time.Second)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("host %d received %v, want %v", j, got, want)
		}
	}
	testutil.Eventually(t, 5*time.Second, "hub to penalise the tampering peer", func() bool {
		return hub.Score(mallory.host.ID()) < 0
	})
	if sc := hub.Score(replayer.host.ID()); sc < 0 {
		t.Errorf("replaying peer scored %v; replays are ignored, not punished", sc)
	}
}

func TestGarbageFloodDoesNotDisturbDelivery(t *testing.T) {
	t.Parallel()
	s := newStar(t, 3)
	hub, leaf := s.hosts[0], s.hosts[2]
	flooder := newAttacker(t, hub)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	v2, err := json.Marshal(schemas.CaptureMessage{Version: 99, Capture: newCapture(t, flooder.key(), "http://127.0.0.1/v99")})
	must(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200 && ctx.Err() == nil; i++ {
			var data []byte
			switch i % 3 {
			case 0:
				data = []byte(fmt.Sprintf("garbage %d \x00\xff", i))
			case 1:
				data = v2
			default:
				data = []byte(fmt.Sprintf(`{"v":1,"capture":{"url":"http://127.0.0.1/%d"}}`, i))
			}
			_ = flooder.topic.Publish(ctx, data)
		}
	}()
	want := map[string]int{}
	for i := 0; i < 5; i++ {
		url := fmt.Sprintf("http://127.0.0.1/during-flood/%d", i)
		must(t, leaf.PublishCapture(t.Context(), newCapture(t, leaf.Key(), url)))
		want[url] = 1
		time.Sleep(20 * time.Millisecond)
	}
	<-done
	for j, ch := range s.subs {
		got := collectUntil(ch, want, 5*time.Second)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("host %d received %v during the flood, want %v", j, got, want)
		}
	}
	testutil.Eventually(t, 5*time.Second, "flooder to be graylisted", func() bool {
		return hub.Score(flooder.host.ID()) < graylistThreshold
	})
}

func TestQuarantinedPeerIsDropped(t *testing.T) {
	t.Parallel()
	s := newStar(t, 3)
	hub, bad, good := s.hosts[0], s.hosts[1], s.hosts[2]
	hub.Quarantine(bad.ID())
	if !hub.IsQuarantined(bad.ID()) || hub.IsQuarantined(good.ID()) {
		t.Fatal("IsQuarantined disagrees with Quarantine")
	}
	badURL := "http://127.0.0.1/from-quarantined"
	must(t, bad.PublishCapture(t.Context(), newCapture(t, bad.Key(), badURL)))
	goodURL := "http://127.0.0.1/from-good"
	must(t, good.PublishCapture(t.Context(), newCapture(t, good.Key(), goodURL)))
	got := waitCapture(t, s.subs[0], goodURL, 5*time.Second)
	for k, v := range collect(s.subs[0], 500*time.Millisecond) {
		got[k] += v
	}
	if got[badURL] != 0 {
		t.Fatalf("hub delivered a quarantined peer's capture: %v", got)
	}
	testutil.Eventually(t, 5*time.Second, "quarantined peer to be graylisted", func() bool {
		return hub.Score(bad.ID()) < graylistThreshold
	})
	hub.Unquarantine(bad.ID())
	if hub.IsQuarantined(bad.ID()) {
		t.Fatal("Unquarantine did not lift the quarantine")
	}
}

func TestPresenceAnnouncedWhenPeerJoins(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.PresenceInterval = time.Hour
	cfg.PresenceTTL = time.Hour
	cfg.Capabilities = []string{"coordinator"}
	hub := newTestHost(t, cfg)
	cfg.Bootstrap = hub.Addrs()
	cfg.Capabilities = []string{"node"}
	leaf := newTestHost(t, cfg)
	defer func() {
		if t.Failed() {
			t.Logf("hub sees %v; leaf sees %v", hub.Peers(), leaf.Peers())
		}
	}()
	testutil.Eventually(t, 10*time.Second, "both to see each other long before the hourly announcement", func() bool {
		hp, lp := hub.Peers(), leaf.Peers()
		return len(hp) == 1 && hp[0].ID == leaf.ID() && hp[0].Has("node") &&
			len(lp) == 1 && lp[0].ID == hub.ID() && lp[0].Has("coordinator")
	})
}
