package curator

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/schemas"
)

// p2pHost starts a real libp2p host on loopback with gossipsub.
func p2pHost(t *testing.T, key crypto.PrivKey) (host.Host, *pubsub.PubSub) {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableRelay(), libp2p.NoTransports, libp2p.DefaultTransports)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	mt := &meshTracer{peers: map[peer.ID]bool{}}
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithMaxMessageSize(schemas.MaxMessageSize+64<<10), pubsub.WithRawTracer(mt))
	must(t, err)
	meshes.Store(ps, mt)
	t.Cleanup(func() { cancel(); h.Close() })
	return h, ps
}

func TestCuratorsOverGossipsub(t *testing.T) {
	ctx := context.Background()
	keyA, idA := newKey(t)
	keyB, idB := newKey(t)
	keyM, idM := newKey(t)
	hA, psA := p2pHost(t, keyA)
	hB, psB := p2pHost(t, keyB)
	hM, psM := p2pHost(t, keyM) // a forger relaying through B
	must(t, hB.Connect(ctx, peer.AddrInfo{ID: hA.ID(), Addrs: hA.Addrs()}))
	must(t, hM.Connect(ctx, peer.AddrInfo{ID: hB.ID(), Addrs: hB.Addrs()}))

	busA, err := JoinPubSub(psA)
	must(t, err)
	busB, err := JoinPubSub(psB)
	must(t, err)
	// The forger joins without a validator, so it publishes anything.
	topicM, err := psM.Join(schemas.TopicDecisions)
	must(t, err)
	subM, err := topicM.Subscribe()
	must(t, err)
	defer subM.Cancel()
	a := openTest(t, Config{Key: keyA, Bus: busA, Trusted: []string{idB, idM}})
	b := openTest(t, Config{Key: keyB, Bus: busB, ItemSources: []string{idA}, Trusted: []string{idB, idM}})
	t.Cleanup(func() { busA.Close(); busB.Close() })
	testutil.Eventually(t, curatorWait, "mesh", func() bool {
		return grafted(psA, hB.ID()) && grafted(psB, hA.ID()) && grafted(psB, hM.ID())
	})

	must(t, a.Enqueue(ctx, testItem("doc", KindReview)))
	testutil.Eventually(t, curatorWait, "item over gossipsub", func() bool {
		q, err := b.Queue(ctx, Filter{}, 0)
		return err == nil && len(q) == 1
	})
	// A forged accept in B's name, relayed through B's neighbour: the
	// validators drop it, so it counts nowhere.
	forged := signed(t, keyM, b.PeerID(), "doc", schemas.ActionAccept, "", time.Now())
	data, _ := json.Marshal(schemas.CurationMessage{Version: 1, Decision: forged})
	must(t, topicM.Publish(ctx, data))
	// A well-signed vote by the forger's own identity does go through.
	own := signed(t, keyM, idM, "doc", schemas.ActionAccept, "", time.Now())
	data, _ = json.Marshal(schemas.CurationMessage{Version: 1, Decision: own})
	must(t, topicM.Publish(ctx, data))
	testutil.Eventually(t, curatorWait, "honest vote from the third peer", func() bool { v, _ := a.View(ctx, "doc"); return v != nil && v.Votes == 1 })
	time.Sleep(200 * time.Millisecond)
	for _, x := range []*Curator{a, b} {
		if v, _ := x.View(ctx, "doc"); v.Votes != 1 || v.State != StateOpen {
			t.Fatalf("the forged vote counted: %d votes, state %s", v.Votes, v.State)
		}
	}

	decideAndFlush(t, b, Input{ItemID: "doc", Action: schemas.ActionAccept})
	for _, x := range []*Curator{a, b} {
		testutil.Eventually(t, curatorWait, "settled over gossipsub", func() bool {
			s, _, err := x.Settled(ctx, 0)
			return err == nil && len(s) == 1 && len(s[0].Voters) == 2
		})
		s, _, _ := x.Settled(ctx, 0)
		for _, v := range s[0].Voters {
			if v != idM && v != b.PeerID() {
				t.Errorf("unexpected voter %s", v)
			}
		}
	}
}

// meshes maps each test PubSub to the tracer that records its mesh on the
// decisions topic.
var meshes sync.Map

// grafted reports whether ps has p in its mesh for the decisions topic:
// only then does a message ps publishes reach p.
func grafted(ps *pubsub.PubSub, p peer.ID) bool {
	v, ok := meshes.Load(ps)
	if !ok {
		return false
	}
	mt := v.(*meshTracer)
	mt.mu.Lock()
	defer mt.mu.Unlock()
	return mt.peers[p]
}

// meshTracer records grafts and prunes on the decisions topic.
type meshTracer struct {
	mu    sync.Mutex
	peers map[peer.ID]bool
}

func (m *meshTracer) set(p peer.ID, topic string, in bool) {
	if topic != schemas.TopicDecisions {
		return
	}
	m.mu.Lock()
	m.peers[p] = in
	m.mu.Unlock()
}

func (m *meshTracer) Graft(p peer.ID, topic string)                        { m.set(p, topic, true) }
func (m *meshTracer) Prune(p peer.ID, topic string)                        { m.set(p, topic, false) }
func (m *meshTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (m *meshTracer) OnClosedOutboundStream(peer.ID)                       {}
func (m *meshTracer) Join(string)                                          {}
func (m *meshTracer) Leave(string)                                         {}
func (m *meshTracer) ValidateMessage(*pubsub.Message)                      {}
func (m *meshTracer) DeliverMessage(*pubsub.Message)                       {}
func (m *meshTracer) RejectMessage(*pubsub.Message, string)                {}
func (m *meshTracer) DuplicateMessage(*pubsub.Message)                     {}
func (m *meshTracer) ThrottlePeer(peer.ID)                                 {}
func (m *meshTracer) RecvRPC(*pubsub.RPC)                                  {}
func (m *meshTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (m *meshTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (m *meshTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (m *meshTracer) UndeliverableMessage(*pubsub.Message)                 {}
