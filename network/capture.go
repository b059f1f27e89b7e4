package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// Reasons a gossiped message is dropped. Validation errors wrap one of them.
var (
	ErrMessageTooLarge = errors.New("message too large")
	ErrMalformed       = errors.New("malformed message")
	ErrWrongAuthor     = errors.New("capture signed by a peer other than the message author")
	ErrBadSignature    = errors.New("bad capture signature")
	ErrReplay          = errors.New("capture already seen (replay)")
	ErrStale           = errors.New("capture outside the replay window")
	ErrQuarantined     = errors.New("peer is quarantined")
)

// maxClockSkew is how far in the future a capture's fetch time may lie.
const maxClockSkew = 5 * time.Minute

// SignCapture sets c.NodePeerID to the peer ID of key and c.Signature to
// key's signature over c.SigningBytes(). Sign last: any later change to a
// signed field invalidates the signature.
func SignCapture(key crypto.PrivKey, c *schemas.Capture) error {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return fmt.Errorf("signing capture: deriving peer id: %w", err)
	}
	c.NodePeerID = id.String()
	sig, err := key.Sign(c.SigningBytes())
	if err != nil {
		return fmt.Errorf("signing capture of %s: %w", c.URL, err)
	}
	c.Signature = sig
	return nil
}

// VerifyCapture checks c.Signature against the public key embedded in
// c.NodePeerID (sward peer IDs are Ed25519 and embed their key). It checks
// the signature only; schemas.Capture.Validate checks the fields.
func VerifyCapture(c *schemas.Capture) error {
	if len(c.Signature) == 0 {
		return fmt.Errorf("%w: capture is unsigned", ErrBadSignature)
	}
	id, err := peer.Decode(c.NodePeerID)
	if err != nil {
		return fmt.Errorf("%w: node peer id %q: %w", ErrBadSignature, c.NodePeerID, err)
	}
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: peer id %s does not embed its public key: %w", ErrBadSignature, id, err)
	}
	ok, err := pub.Verify(c.SigningBytes(), c.Signature)
	if err != nil {
		return fmt.Errorf("%w: verifying: %w", ErrBadSignature, err)
	}
	if !ok {
		return fmt.Errorf("%w: signature does not match the capture and peer %s", ErrBadSignature, id)
	}
	return nil
}

// EncodeCaptureMessage returns the gossip payload for a signed capture.
func EncodeCaptureMessage(c *schemas.Capture) ([]byte, error) {
	data, err := json.Marshal(schemas.CaptureMessage{Version: schemas.WireVersion, Capture: c})
	if err != nil {
		return nil, fmt.Errorf("encoding capture of %s: %w", c.URL, err)
	}
	return data, nil
}

// PublishCapture gossips c, which must already be signed by this host's
// key. It checks the message exactly as receivers will and returns the
// reason when they would drop it (oversized inline body, replay, bad
// signature, ...). Publishing succeeds even when no peer is listening yet.
func (h *Host) PublishCapture(ctx context.Context, c *schemas.Capture) error {
	data, err := EncodeCaptureMessage(c)
	if err != nil {
		return err
	}
	checked, err := h.checkCapture(data, h.ID(), time.Now())
	if err != nil {
		return fmt.Errorf("publishing capture of %s: %w", c.URL, err)
	}
	// The checked capture rides along as validator data, so the topic
	// validator, which pubsub runs on local publishes too, neither decodes
	// nor verifies it a second time.
	if err := h.captures.Publish(ctx, data, pubsub.WithValidatorData(checked)); err != nil {
		return fmt.Errorf("publishing capture of %s: %w", c.URL, err)
	}
	return nil
}

// SubscribeCaptures delivers captures that passed the topic validator:
// at most schemas.MaxMessageSize, well formed, validly signed by the node
// that authored the gossip message, not a replay, not stale, and not from a
// quarantined peer. Each subscription receives each capture once, including
// this host's own. The channel closes when ctx ends or the host closes.
func (h *Host) SubscribeCaptures(ctx context.Context) (<-chan *schemas.Capture, error) {
	if h.ctx.Err() != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", schemas.TopicCaptures, ErrClosed)
	}
	sub, err := h.captures.Subscribe(pubsub.WithBufferSize(256))
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", schemas.TopicCaptures, err)
	}
	out := make(chan *schemas.Capture, 64)
	pump := func() {
		defer close(out)
		defer sub.Cancel()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(h.ctx, cancel)
		defer stop()
		for {
			msg, err := sub.Next(ctx)
			if err != nil {
				return
			}
			c, ok := msg.ValidatorData.(*schemas.Capture)
			if !ok {
				continue
			}
			select {
			case out <- c:
			case <-ctx.Done():
				return
			}
		}
	}
	if !h.spawn(pump) {
		sub.Cancel()
		return nil, fmt.Errorf("subscribing to %s: %w", schemas.TopicCaptures, ErrClosed)
	}
	return out, nil
}

// validateCaptureMsg is the gossipsub validator of schemas.TopicCaptures.
// It decodes and verifies the capture once and hands it to subscribers as
// the message's ValidatorData.
func (h *Host) validateCaptureMsg(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	author := msg.GetFrom()
	if from != author && h.quarantine.has(from) {
		return pubsub.ValidationIgnore
	}
	var (
		c   *schemas.Capture
		err error
	)
	if checked, ok := msg.ValidatorData.(*schemas.Capture); ok && from == h.ID() {
		// This host's own publish, checked by PublishCapture a moment ago.
		// (A message from a peer never arrives with validator data.)
		c = checked
	} else {
		c, err = h.checkCapture(msg.Data, author, time.Now())
	}
	if err == nil && !h.replay.record(c.Signature) {
		err = ErrReplay
	}
	if err != nil {
		res := dropResult(err, from, author)
		h.log.Debug("dropping capture message", logPeer, author.String(), "from", from.String(), "reject", res == pubsub.ValidationReject, logkey.Err, err)
		return res
	}
	msg.ValidatorData = c
	return pubsub.ValidationAccept
}

// dropResult decides whether a dropped message counts against the peer
// that sent it. Replays and stale captures may be forwarded in good faith,
// and so may a quarantined author's messages relayed by a peer that has
// not quarantined it; everything else is the sender's fault.
func dropResult(err error, from, author peer.ID) pubsub.ValidationResult {
	switch {
	case errors.Is(err, ErrReplay), errors.Is(err, ErrStale):
		return pubsub.ValidationIgnore
	case errors.Is(err, ErrQuarantined) && from != author:
		return pubsub.ValidationIgnore
	}
	return pubsub.ValidationReject
}

// checkCapture runs every check on a capture message except recording its
// signature, cheapest first, so that the signature is verified only for
// messages that pass everything else.
func (h *Host) checkCapture(data []byte, author peer.ID, now time.Time) (*schemas.Capture, error) {
	if len(data) > schemas.MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrMessageTooLarge, len(data), schemas.MaxMessageSize)
	}
	if h.quarantine.has(author) {
		return nil, fmt.Errorf("%w: %s", ErrQuarantined, author)
	}
	m, err := schemas.DecodeCaptureMessage(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	c := m.Capture
	if err := checkInlineBody(c, h.cfg.InlineBodyLimit); err != nil {
		return nil, err
	}
	node, err := peer.Decode(c.NodePeerID)
	if err != nil {
		return nil, fmt.Errorf("%w: node peer id %q: %w", ErrMalformed, c.NodePeerID, err)
	}
	// The canonical string is required, not just the same key, so that
	// every consumer can compare NodePeerID as a string.
	if node != author || c.NodePeerID != author.String() {
		return nil, fmt.Errorf("%w: capture names %s, message authored by %s", ErrWrongAuthor, c.NodePeerID, author)
	}
	if age := now.Sub(c.FetchedAt); age > h.cfg.ReplayWindow {
		return nil, fmt.Errorf("%w: fetched %s ago, window is %s", ErrStale, age.Round(time.Second), h.cfg.ReplayWindow)
	} else if -age > maxClockSkew {
		return nil, fmt.Errorf("%w: fetched %s in the future", ErrStale, (-age).Round(time.Second))
	}
	if len(c.Signature) > 0 && h.replay.seen(c.Signature) {
		return nil, ErrReplay
	}
	if err := VerifyCapture(c); err != nil {
		return nil, err
	}
	return c, nil
}

// checkInlineBody enforces "large bodies travel by bitswap, small ones
// inline": an inline body is at most limit bytes, and a capture whose body
// is not inline names it by a valid CID.
func checkInlineBody(c *schemas.Capture, limit int) error {
	if len(c.Body) > limit {
		return fmt.Errorf("%w: inline body of %d bytes exceeds %d; put it in the blockstore and send body_cid", ErrMalformed, len(c.Body), limit)
	}
	if len(c.Body) == 0 && c.BodySize > 0 && c.BodyCID == "" {
		return fmt.Errorf("%w: body of %d bytes neither inline nor named by body_cid", ErrMalformed, c.BodySize)
	}
	if c.BodyCID != "" {
		if _, err := cid.Decode(c.BodyCID); err != nil {
			return fmt.Errorf("%w: body_cid %q: %w", ErrMalformed, c.BodyCID, err)
		}
	}
	return nil
}
