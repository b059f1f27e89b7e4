package curator

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/swardnet/sward/schemas"
)

// hub is an in-memory stand-in for the gossipsub topic: every publish
// reaches every subscriber, the publisher included, asynchronously.
type hub struct {
	mu   sync.Mutex
	subs map[chan []byte]bool
}

func newHub() *hub { return &hub{subs: map[chan []byte]bool{}} }

type hubBus struct{ h *hub }

func (b hubBus) Publish(ctx context.Context, data []byte) error {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	for ch := range b.h.subs {
		select {
		case ch <- append([]byte(nil), data...):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (b hubBus) Subscribe(ctx context.Context) (<-chan []byte, error) {
	ch := make(chan []byte, 4096)
	b.h.mu.Lock()
	b.h.subs[ch] = true
	b.h.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.h.mu.Lock()
		delete(b.h.subs, ch)
		close(ch)
		b.h.mu.Unlock()
	}()
	return ch, nil
}

func newKey(t testing.TB) (crypto.PrivKey, string) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id.String()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openTest opens a curator in a temp dir with a short undo window.
func openTest(t testing.TB, cfg Config) *Curator {
	t.Helper()
	if cfg.UndoWindow == 0 {
		cfg.UndoWindow = time.Hour // tests flush explicitly
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	c, err := Open(context.Background(), t.TempDir(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func testItem(id, kind string) Item {
	title := "Title " + id
	it := Item{
		ID:   id,
		Kind: kind,
		Doc: schemas.Document{
			ID: id, URL: "https://news.example.org/" + id, Host: "news.example.org", JobID: "job1",
			Text: "Extracted text of " + id, Title: &title, Language: "en",
		},
		HTML:    fmt.Sprintf(`<html><body><h1>%s</h1><article><p>Body of %s</p></article></body></html>`, title, id),
		Fields:  map[string]string{"price": "10"},
		Scores:  map[string]float64{"quality": 0.5},
		Reasons: []string{"quality: borderline"},
	}
	if kind == KindGold {
		it.Gold = &GoldAnswer{Decision: schemas.ActionReject}
	}
	return it
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// curatorWait bounds every wait for gossip in these tests: generous, for a
// loaded CI machine (testutil.Eventually returns as soon as cond holds).
const curatorWait = 20 * time.Second

func itemState(t testing.TB, c *Curator, id string) string {
	t.Helper()
	_, state, err := c.item(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return state
}

// signed builds a decision signed by key.
func signed(t testing.TB, key crypto.PrivKey, who, item, action, reason string, ts time.Time) *schemas.Decision {
	t.Helper()
	d := &schemas.Decision{
		Version: schemas.DecisionVersion, ItemID: item, Curator: who, Action: action, Reason: reason,
		Timestamp: ts, Nonce: newNonce(),
	}
	sig, err := key.Sign(d.SigningBytes())
	if err != nil {
		t.Fatal(err)
	}
	d.Signature = sig
	return d
}
