package network

import (
	"context"
	"fmt"
	"math"
	"net"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/schemas"
)

// rpcOverhead is the room a gossipsub RPC needs around a message payload of
// schemas.MaxMessageSize: topic, sequence number, author and signature.
const rpcOverhead = 64 << 10

// Peer score thresholds. A single invalid message (P4 weight -1000, squared
// counter) takes a peer below the gossip threshold; a second one graylists
// it, after which its RPCs are ignored until the penalty decays.
const (
	gossipThreshold   = -500
	publishThreshold  = -1000
	graylistThreshold = -2500
	// quarantineScore is the application-specific score of a quarantined
	// peer: far below the graylist threshold.
	quarantineScore = -10000
)

// startPubSub starts gossipsub with signing, peer scoring and size limits,
// registers the topic validators, and joins sward's topics.
func (h *Host) startPubSub() error {
	ps, err := pubsub.NewGossipSub(h.ctx, h.host,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithMaxMessageSize(schemas.MaxMessageSize+rpcOverhead),
		pubsub.WithPeerScore(h.scoreParams(), scoreThresholds()),
		pubsub.WithPeerScoreInspect(h.scores.update, time.Second),
		pubsub.WithLogger(h.log.With("component", "pubsub")),
	)
	if err != nil {
		return fmt.Errorf("starting gossipsub: %w", err)
	}
	h.ps = ps
	if err := ps.RegisterTopicValidator(schemas.TopicCaptures, h.validateCaptureMsg); err != nil {
		return fmt.Errorf("registering capture validator: %w", err)
	}
	if err := ps.RegisterTopicValidator(schemas.TopicPresence, h.validatePresenceMsg); err != nil {
		return fmt.Errorf("registering presence validator: %w", err)
	}
	if h.captures, err = ps.Join(schemas.TopicCaptures); err != nil {
		return fmt.Errorf("joining %s: %w", schemas.TopicCaptures, err)
	}
	if h.presence, err = ps.Join(schemas.TopicPresence); err != nil {
		return fmt.Errorf("joining %s: %w", schemas.TopicPresence, err)
	}
	return nil
}

// scoreThresholds follows the shape of the thresholds deployed networks
// use: gossip < publish < graylist, all negative.
func scoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:             gossipThreshold,
		PublishThreshold:            publishThreshold,
		GraylistThreshold:           graylistThreshold,
		AcceptPXThreshold:           100,
		OpportunisticGraftThreshold: 3.5,
	}
}

// scoreParams weighs topic behaviour. Mesh delivery penalties (P3, P3b)
// are off: sward's topics carry sporadic traffic, and a quiet peer is not a
// faulty one. Invalid messages (P4) are punished hard. Peers on loopback
// and private networks are exempt from the IP colocation penalty, since a
// demo or a LAN legitimately runs many peers on one address.
func (h *Host) scoreParams() *pubsub.PeerScoreParams {
	topic := func(weight float64) *pubsub.TopicScoreParams {
		return &pubsub.TopicScoreParams{
			TopicWeight:                    weight,
			TimeInMeshWeight:               0.01,
			TimeInMeshQuantum:              time.Second,
			TimeInMeshCap:                  3600,
			FirstMessageDeliveriesWeight:   1,
			FirstMessageDeliveriesDecay:    pubsub.ScoreParameterDecay(10 * time.Minute),
			FirstMessageDeliveriesCap:      100,
			InvalidMessageDeliveriesWeight: -1000,
			InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
		}
	}
	var whitelist []*net.IPNet
	for _, cidr := range []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"} {
		_, n, err := net.ParseCIDR(cidr)
		if err == nil {
			whitelist = append(whitelist, n)
		}
	}
	return &pubsub.PeerScoreParams{
		// Every sward topic is scored, including those other packages join
		// through PubSub(), so their validators' rejections count too.
		Topics: map[string]*pubsub.TopicScoreParams{
			schemas.TopicCaptures:  topic(1),
			schemas.TopicPresence:  topic(0.5),
			schemas.TopicJobs:      topic(0.5),
			schemas.TopicDecisions: topic(1),
		},
		TopicScoreCap:               500,
		AppSpecificScore:            h.appScore,
		AppSpecificWeight:           1,
		IPColocationFactorWeight:    -100,
		IPColocationFactorThreshold: 5,
		IPColocationFactorWhitelist: whitelist,
		BehaviourPenaltyWeight:      -10,
		BehaviourPenaltyThreshold:   6,
		BehaviourPenaltyDecay:       pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:               pubsub.DefaultDecayInterval,
		DecayToZero:                 pubsub.DefaultDecayToZero,
		RetainScore:                 time.Hour,
	}
}

// appScore is gossipsub's application-specific score: quarantined peers
// sink below the graylist threshold.
func (h *Host) appScore(p peer.ID) float64 {
	if h.quarantine.has(p) {
		return quarantineScore
	}
	return 0
}

// Score returns p's current gossipsub score as this host sees it (updated
// every second), or 0 for a peer it has no score for.
func (h *Host) Score(p peer.ID) float64 { return h.scores.get(p) }

// TopicPeers lists the connected peers known to be subscribed to topic.
func (h *Host) TopicPeers(topic string) []peer.ID {
	switch topic {
	case schemas.TopicCaptures:
		return h.captures.ListPeers()
	case schemas.TopicPresence:
		return h.presence.ListPeers()
	}
	return h.ps.ListPeers(topic)
}

// scoreBoard keeps the last peer score snapshot gossipsub reported.
type scoreBoard struct {
	mu     sync.RWMutex
	scores map[peer.ID]float64
}

func newScoreBoard() *scoreBoard { return &scoreBoard{scores: map[peer.ID]float64{}} }

func (s *scoreBoard) update(m map[peer.ID]float64) {
	s.mu.Lock()
	s.scores = m
	s.mu.Unlock()
}

func (s *scoreBoard) get(p peer.ID) float64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.scores[p]
	if !ok || math.IsNaN(v) {
		return 0
	}
	return v
}

// WaitTopicPeers blocks until at least n connected peers are subscribed to
// topic, or ctx ends. A node calls it before publishing its first capture,
// since gossip published to no one is lost.
func (h *Host) WaitTopicPeers(ctx context.Context, topic string, n int) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for len(h.TopicPeers(topic)) < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d peers on %s (have %d): %w", n, topic, len(h.TopicPeers(topic)), ctx.Err())
		case <-h.ctx.Done():
			return fmt.Errorf("waiting for peers on %s: %w", topic, ErrClosed)
		case <-t.C:
		}
	}
	return nil
}
