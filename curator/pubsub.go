package curator

import (
	"context"
	"fmt"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/swardnet/sward/schemas"
)

// PubSubBus is the Bus over gossipsub topic schemas.TopicDecisions. It
// registers a topic validator that drops malformed and forged messages
// before they are relayed, so a forger cannot use honest peers to spread
// them; replays and trust are left to Curator.Receive.
type PubSubBus struct {
	ps    *pubsub.PubSub
	topic *pubsub.Topic
}

// JoinPubSub joins the decisions topic on ps. Close leaves it.
func JoinPubSub(ps *pubsub.PubSub) (*PubSubBus, error) {
	validate := func(_ context.Context, _ peer.ID, msg *pubsub.Message) bool {
		_, err := VerifyMessage(msg.Data)
		return err == nil
	}
	if err := ps.RegisterTopicValidator(schemas.TopicDecisions, validate); err != nil {
		return nil, fmt.Errorf("registering the decisions validator: %w", err)
	}
	t, err := ps.Join(schemas.TopicDecisions)
	if err != nil {
		_ = ps.UnregisterTopicValidator(schemas.TopicDecisions)
		return nil, fmt.Errorf("joining %s: %w", schemas.TopicDecisions, err)
	}
	return &PubSubBus{ps: ps, topic: t}, nil
}

// Publish sends one curation message to the topic.
func (b *PubSubBus) Publish(ctx context.Context, data []byte) error {
	if err := b.topic.Publish(ctx, data); err != nil {
		return fmt.Errorf("publishing on %s: %w", schemas.TopicDecisions, err)
	}
	return nil
}

// Subscribe delivers the topic's messages (this peer's own included) until
// ctx ends, then closes the channel.
func (b *PubSubBus) Subscribe(ctx context.Context) (<-chan []byte, error) {
	sub, err := b.topic.Subscribe()
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", schemas.TopicDecisions, err)
	}
	ch := make(chan []byte, 256)
	go func() {
		defer close(ch)
		defer sub.Cancel()
		for {
			m, err := sub.Next(ctx)
			if err != nil {
				return // ctx ended or the subscription was cancelled
			}
			select {
			case ch <- m.Data:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// Close leaves the topic. Close the Curator (which ends its subscription)
// first.
func (b *PubSubBus) Close() error {
	err := b.topic.Close()
	if uerr := b.ps.UnregisterTopicValidator(schemas.TopicDecisions); uerr != nil && err == nil {
		err = uerr
	}
	if err != nil {
		return fmt.Errorf("leaving %s: %w", schemas.TopicDecisions, err)
	}
	return nil
}

var _ Bus = (*PubSubBus)(nil)
