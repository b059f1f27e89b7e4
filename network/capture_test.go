package network

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/schemas"
)

func genKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

func TestSignAndVerifyCapture(t *testing.T) {
	key, id := genKey(t)
	other, _ := genKey(t)
	tests := []struct {
		name   string
		mutate func(c *schemas.Capture)
		ok     bool
	}{
		{"untouched", func(*schemas.Capture) {}, true},
		{"body moved to blockstore", func(c *schemas.Capture) { c.Body = nil }, true},
		{"url changed", func(c *schemas.Capture) { c.URL = "http://127.0.0.1/evil" }, false},
		{"status changed", func(c *schemas.Capture) { c.Status = 404 }, false},
		{"body hash changed", func(c *schemas.Capture) { c.BodySHA256 = schemas.SHA256Hex([]byte("x")) }, false},
		{"header added", func(c *schemas.Capture) { c.Headers["X-Robots-Tag"] = "noai" }, false},
		{"outlink added", func(c *schemas.Capture) { c.Outlinks = append(c.Outlinks, "http://127.0.0.1/c") }, false},
		{"fetch time changed", func(c *schemas.Capture) { c.FetchedAt = c.FetchedAt.Add(time.Nanosecond) }, false},
		{"opt-out flipped", func(c *schemas.Capture) { c.OptOut.NoAI = true }, false},
		{"signature flipped", func(c *schemas.Capture) { c.Signature[0] ^= 1 }, false},
		{"unsigned", func(c *schemas.Capture) { c.Signature = nil }, false},
		{"other node named", func(c *schemas.Capture) {
			_, oid := genKey(t)
			c.NodePeerID = oid.String()
		}, false},
		{"re-signed by other key", func(c *schemas.Capture) {
			if err := SignCapture(other, c); err != nil {
				t.Fatal(err)
			}
			c.NodePeerID = id.String()
		}, false},
		{"garbage peer id", func(c *schemas.Capture) { c.NodePeerID = "not-a-peer" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCapture(t, key, "http://127.0.0.1/page")
			if c.NodePeerID != id.String() {
				t.Fatalf("SignCapture set node %s, want %s", c.NodePeerID, id)
			}
			tt.mutate(c)
			err := VerifyCapture(c)
			if tt.ok && err != nil {
				t.Fatalf("verify: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("got %v, want ErrBadSignature", err)
			}
		})
	}
}

// gossipMsg builds the pubsub message a validator sees.
func gossipMsg(author peer.ID, data []byte) *pubsub.Message {
	topic := schemas.TopicCaptures
	return &pubsub.Message{Message: &pb.Message{From: []byte(author), Data: data, Topic: &topic}}
}

func encode(t testing.TB, c *schemas.Capture) []byte {
	t.Helper()
	data, err := EncodeCaptureMessage(c)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestCaptureValidator(t *testing.T) {
	h := newTestHost(t, testConfig())
	key, author := genKey(t)
	_, relay := genKey(t)
	_, mallory := genKey(t)
	h.Quarantine(mallory)

	bigBody := bytes.Repeat([]byte("z"), DefaultInlineBodyLimit+1)
	replayed := newCapture(t, key, "http://127.0.0.1/replayed")
	if res := h.validateCaptureMsg(t.Context(), author, gossipMsg(author, encode(t, replayed))); res != pubsub.ValidationAccept {
		t.Fatalf("first copy of the replayed capture: %v", res)
	}
	malloryKey, malloryID := genKey(t)
	h.Quarantine(malloryID)

	tests := []struct {
		name   string
		from   peer.ID // the peer that forwarded the message
		author peer.ID // the gossip message's author
		data   func() []byte
		want   pubsub.ValidationResult
		err    error
	}{
		{"good, direct", author, author, func() []byte { return encode(t, newCapture(t, key, "http://127.0.0.1/ok")) }, pubsub.ValidationAccept, nil},
		{"good, relayed", relay, author, func() []byte { return encode(t, newCapture(t, key, "http://127.0.0.1/ok2")) }, pubsub.ValidationAccept, nil},
		{"body by CID only", author, author, func() []byte {
			c := newCapture(t, nil, "http://127.0.0.1/big")
			c.Body = nil
			c.BodyCID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
			must(t, SignCapture(key, c))
			return encode(t, c)
		}, pubsub.ValidationAccept, nil},
		{"not json", author, author, func() []byte { return []byte("\x00garbage{") }, pubsub.ValidationReject, ErrMalformed},
		{"wrong wire version", author, author, func() []byte {
			m := schemas.CaptureMessage{Version: 2, Capture: newCapture(t, key, "http://127.0.0.1/v2")}
			b, _ := json.Marshal(m)
			return b
		}, pubsub.ValidationReject, ErrMalformed},
		{"no capture", author, author, func() []byte { return []byte(`{"v":1}`) }, pubsub.ValidationReject, ErrMalformed},
		{"oversized message", author, author, func() []byte { return make([]byte, schemas.MaxMessageSize+1) }, pubsub.ValidationReject, ErrMessageTooLarge},
		{"body hash mismatch", author, author, func() []byte {
			c := newCapture(t, key, "http://127.0.0.1/hash")
			c.Body = append(c.Body, '!')
			return encode(t, c)
		}, pubsub.ValidationReject, ErrMalformed},
		{"hash and body swapped, signature stale", author, author, func() []byte {
			c := newCapture(t, key, "http://127.0.0.1/swap")
			c.Body = []byte("other body")
			c.BodySHA256 = schemas.SHA256Hex(c.Body)
			c.BodySize = int64(len(c.Body))
			return encode(t, c)
		}, pubsub.ValidationReject, ErrBadSignature},
		{"bad signature", author, author, func() []byte {
			c := newCapture(t, key, "http://127.0.0.1/sig")
			c.Signature[3] ^= 0x40
			return encode(t, c)
		}, pubsub.ValidationReject, ErrBadSignature},
		{"unsigned", author, author, func() []byte {
			return encode(t, newCapture(t, nil, "http://127.0.0.1/unsigned"))
		}, pubsub.ValidationReject, ErrMalformed},
		{"someone else's capture", relay, relay, func() []byte {
			return encode(t, newCapture(t, key, "http://127.0.0.1/stolen"))
		}, pubsub.ValidationReject, ErrWrongAuthor},
		{"inline body over limit", author, author, func() []byte {
			c := newCapture(t, nil, "http://127.0.0.1/inline")
			c.Body = bigBody
			c.BodySize = int64(len(bigBody))
			c.BodySHA256 = schemas.SHA256Hex(bigBody)
			must(t, SignCapture(key, c))
			return encode(t, c)
		}, pubsub.ValidationReject, ErrMalformed},
		{"body neither inline nor by CID", author, author, func() []byte {
			c := newCapture(t, nil, "http://127.0.0.1/nobody")
			c.Body = nil
			must(t, SignCapture(key, c))
			return encode(t, c)
		}, pubsub.ValidationReject, ErrMalformed},
		{"bad body CID", author, author, func() []byte {
			c := newCapture(t, nil, "http://127.0.0.1/badcid")
			c.Body = nil
			c.BodyCID = "not-a-cid"
			must(t, SignCapture(key, c))
			return encode(t, c)
		}, pubsub.ValidationReject, ErrMalformed},
		{"replay", relay, author, func() []byte { return encode(t, replayed) }, pubsub.ValidationIgnore, ErrReplay},
		{"stale", author, author, func() []byte {
			c := newCapture(t, nil, "http://127.0.0.1/old")
			c.FetchedAt = time.Now().Add(-2 * DefaultReplayWindow)
			must(t, SignCapture(key, c))
			return encode(t, c)
		}, pubsub.ValidationIgnore, ErrStale},
		{"from the future", author, author, func() []byte {
			c := newCapture(t, nil, "http://127.0.0.1/future")
			c.FetchedAt = time.Now().Add(time.Hour)
			must(t, SignCapture(key, c))
			return encode(t, c)
		}, pubsub.ValidationIgnore, ErrStale},
		{"quarantined author, direct", malloryID, malloryID, func() []byte {
			return encode(t, newCapture(t, malloryKey, "http://127.0.0.1/q1"))
		}, pubsub.ValidationReject, ErrQuarantined},
		{"quarantined author, relayed", relay, malloryID, func() []byte {
			return encode(t, newCapture(t, malloryKey, "http://127.0.0.1/q2"))
		}, pubsub.ValidationIgnore, ErrQuarantined},
		{"relayed by quarantined peer", mallory, author, func() []byte {
			return encode(t, newCapture(t, key, "http://127.0.0.1/q3"))
		}, pubsub.ValidationIgnore, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data()
			if tt.err != nil {
				_, err := h.checkCapture(data, tt.author, time.Now())
				if !errors.Is(err, tt.err) {
					t.Fatalf("checkCapture: got %v, want %v", err, tt.err)
				}
			}
			msg := gossipMsg(tt.author, data)
			res := h.validateCaptureMsg(t.Context(), tt.from, msg)
			if res != tt.want {
				t.Fatalf("validator said %v, want %v", res, tt.want)
			}
			c, ok := msg.ValidatorData.(*schemas.Capture)
			if (res == pubsub.ValidationAccept) != ok {
				t.Fatalf("validator data %T for result %v", msg.ValidatorData, res)
			}
			if ok && c.NodePeerID != tt.author.String() {
				t.Fatalf("delivered capture names %s, want %s", c.NodePeerID, tt.author)
			}
		})
	}
}

func TestPublishCaptureReportsProblems(t *testing.T) {
	h := newTestHost(t, testConfig())
	other, _ := genKey(t)
	good := newCapture(t, h.Key(), "http://127.0.0.1/pub")
	if err := h.PublishCapture(t.Context(), good); err != nil {
		t.Fatalf("publishing a good capture: %v", err)
	}
	if err := h.PublishCapture(t.Context(), good); !errors.Is(err, ErrReplay) {
		t.Fatalf("publishing it again: got %v, want ErrReplay", err)
	}
	if err := h.PublishCapture(t.Context(), newCapture(t, other, "http://127.0.0.1/foreign")); !errors.Is(err, ErrWrongAuthor) {
		t.Fatalf("publishing another node's capture: got %v, want ErrWrongAuthor", err)
	}
	big := newCapture(t, nil, "http://127.0.0.1/big")
	big.Body = bytes.Repeat([]byte("y"), 2*DefaultInlineBodyLimit)
	big.BodySHA256 = schemas.SHA256Hex(big.Body)
	must(t, SignCapture(h.Key(), big))
	if err := h.PublishCapture(t.Context(), big); err == nil || !strings.Contains(err.Error(), "body_cid") {
		t.Fatalf("publishing an oversized inline body: got %v, want a hint to use body_cid", err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzCheckCapture feeds arbitrary gossip payloads to the capture checks:
// none may panic, and whatever passes must be a validly signed capture by
// the message's author with an inline body within the limit.
func FuzzCheckCapture(f *testing.F) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	author, err := peer.IDFromPrivateKey(key)
	if err != nil {
		f.Fatal(err)
	}
	h := &Host{cfg: Config{}, quarantine: newQuarantine()}
	h.cfg.Default()
	h.replay = newReplayCache(16, time.Hour)
	f.Add(encode(f, newCapture(f, key, "http://127.0.0.1/seed")))
	f.Add([]byte(`{"v":1,"capture":{"v":1,"url":"http://x/","node":"12D3KooW","fetched_at":"2026-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"v":1,"capture":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := h.checkCapture(data, author, time.Now())
		if err != nil {
			return
		}
		if c.NodePeerID != author.String() || VerifyCapture(c) != nil || len(c.Body) > h.cfg.InlineBodyLimit {
			t.Fatalf("accepted a capture that should fail: %+v", c)
		}
	})
}

// FuzzDecodePresence checks that presence decoding never panics and only
// accepts announcements naming their author.
func FuzzDecodePresence(f *testing.F) {
	_, author := genKey(f)
	f.Add([]byte(`{"v":1,"peer":"` + author.String() + `","software":"dev","at":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`nope`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodePresence(data, author)
		if err != nil {
			return
		}
		if p.PeerID != author.String() || p.At.IsZero() || p.Version != 1 {
			t.Fatalf("accepted bad presence %+v", p)
		}
	})
}
