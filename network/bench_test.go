package network

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"

	"github.com/swardnet/sward/schemas"
)

// BenchmarkValidateCapture measures the full topic validator on distinct
// signed captures with a small inline body: decode, checks, one Ed25519
// verification and the replay record.
func BenchmarkValidateCapture(b *testing.B) {
	key, author := genKey(b)
	h := &Host{cfg: Config{Logger: quietLogger()}, quarantine: newQuarantine()}
	h.cfg.Default()
	h.log = h.cfg.Logger
	h.replay = newReplayCache(b.N+1, time.Hour)
	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i] = encode(b, newCapture(b, key, "http://127.0.0.1/bench"))
	}
	b.SetBytes(int64(len(msgs[0])))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := h.validateCaptureMsg(b.Context(), author, gossipMsg(author, msgs[i])); res != pubsub.ValidationAccept {
			b.Fatalf("validator said %v", res)
		}
	}
}

// BenchmarkLeaseFrame measures encoding and decoding one lease response
// frame of 100 items.
func BenchmarkLeaseFrame(b *testing.B) {
	resp := &schemas.LeaseResponse{Version: 1, LeaseID: "lease-1"}
	for i := 0; i < 100; i++ {
		resp.Items = append(resp.Items, schemas.LeaseItem{JobID: "job-1", URL: "http://127.0.0.1/some/page"})
	}
	data, err := json.Marshal(resp)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		buf.Reset()
		if err := WriteFrame(&buf, data, schemas.MaxMessageSize); err != nil {
			b.Fatal(err)
		}
		if _, err := ReadFrame(bufio.NewReader(&buf), schemas.MaxMessageSize); err != nil {
			b.Fatal(err)
		}
	}
}
