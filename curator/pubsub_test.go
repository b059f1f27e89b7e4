package curator

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/swardnet/sward/schemas"
)

// p2pHost starts a real libp2p host on loopback with gossipsub.
func p2pHost(t *testing.T, key crypto.PrivKey) (host.Host, *pubsub.PubSub) {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableRelay(), libp2p.NoTransports, libp2p.DefaultTransports)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithMaxMessageSize(schemas.MaxMessageSize+64<<10))
	must(t, err)
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
	eventually(t, "mesh", func() bool {
		return len(busA.topic.ListPeers()) > 0 && len(busB.topic.ListPeers()) > 1
	})

	must(t, a.Enqueue(ctx, testItem("doc", KindReview)))
	eventually(t, "item over gossipsub", func() bool {
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
	eventually(t, "honest vote from the third peer", func() bool { v, _ := a.View(ctx, "doc"); return v != nil && v.Votes == 1 })
	time.Sleep(200 * time.Millisecond)
	for _, x := range []*Curator{a, b} {
		if v, _ := x.View(ctx, "doc"); v.Votes != 1 || v.State != StateOpen {
			t.Fatalf("the forged vote counted: %d votes, state %s", v.Votes, v.State)
		}
	}

	decideAndFlush(t, b, Input{ItemID: "doc", Action: schemas.ActionAccept})
	for _, x := range []*Curator{a, b} {
		eventually(t, "settled over gossipsub", func() bool {
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
