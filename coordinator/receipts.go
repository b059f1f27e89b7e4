package coordinator

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Receipts: every credited capture gets a receipt signed by the
// coordinator, so a node owner can check its points against the ledger,
// and the ledger's statements are published (LedgerHandler) so anyone can
// audit the totals.

// maxReceiptsPerPeer bounds the receipts kept per peer, in memory and in
// the database (the newest are kept).
var maxReceiptsPerPeer = 10000

// Receipt is the coordinator's signed record of one credited capture.
type Receipt struct {
	Peer string `json:"peer"`
	Job  string `json:"job"`
	URL  string `json:"url"`
	// SHA256 and Bytes are of the body as the coordinator hashed and
	// measured it, not as the node declared it.
	SHA256 string    `json:"sha256"`
	Bytes  int64     `json:"bytes"`
	Points float64   `json:"points"`
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
	// VestsAt is when the points leave escrow unless forfeited first.
	VestsAt time.Time `json:"vests_at"`
	Sig     []byte    `json:"sig,omitempty"`
}

// SigningBytes is what the signature covers: the receipt without it.
func (r Receipt) SigningBytes() []byte {
	r.Sig = nil
	b, _ := json.Marshal(r) // a struct of plain fields always encodes
	return append([]byte("sward/receipt/v1\x00"), b...)
}

// VerifyReceipt checks a receipt's signature against a coordinator's
// receipt key (Coordinator.ReceiptKey, published with the ledger).
func VerifyReceipt(pub ed25519.PublicKey, r Receipt) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("receipt key of %d bytes: want %d; fetch the coordinator's key from its ledger", len(pub), ed25519.PublicKeySize)
	}
	if !ed25519.Verify(pub, r.SigningBytes(), r.Sig) {
		return errors.New("receipt signature does not verify: the receipt was altered or is not from this coordinator")
	}
	return nil
}

// receiptBook signs and keeps receipts, and remembers what saveState has
// yet to write (receipts_persist.go).
type receiptBook struct {
	key ed25519.PrivateKey
	mu  sync.Mutex
	seq uint64
	by  map[string][]Receipt
	// unsaved are the receipts issued since the last save; trim maps a
	// peer to the lowest sequence number it keeps, once older ones were
	// dropped (their rows go at the next save).
	unsaved []Receipt
	trim    map[string]uint64
}

func newReceiptBook(key ed25519.PrivateKey) *receiptBook {
	if len(key) != ed25519.PrivateKeySize {
		_, key, _ = ed25519.GenerateKey(rand.Reader)
	}
	return &receiptBook{key: key, by: make(map[string][]Receipt), trim: make(map[string]uint64)}
}

func (b *receiptBook) issue(r Receipt) Receipt {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	r.Seq = b.seq
	r.Sig = ed25519.Sign(b.key, r.SigningBytes())
	rs := append(b.by[r.Peer], r)
	if len(rs) > maxReceiptsPerPeer {
		rs = rs[len(rs)-maxReceiptsPerPeer:]
		b.trim[r.Peer] = rs[0].Seq
	}
	b.by[r.Peer] = rs
	b.unsaved = append(b.unsaved, r)
	return r
}

// Receipts returns the receipts of peer's credited captures, oldest
// first (at most the newest maxReceiptsPerPeer).
func (c *Coordinator) Receipts(peer string) []Receipt {
	c.receipts.mu.Lock()
	defer c.receipts.mu.Unlock()
	return append([]Receipt(nil), c.receipts.by[peer]...)
}

// ReceiptKey is the public key receipts are signed with.
func (c *Coordinator) ReceiptKey() ed25519.PublicKey {
	return c.receipts.key.Public().(ed25519.PublicKey)
}

// PublishedLedger is the ledger as anyone may audit it.
type PublishedLedger struct {
	ReceiptKey []byte      `json:"receipt_key"`
	At         time.Time   `json:"at"`
	Peers      []Statement `json:"peers"`
	// TotalPoints is the sum of every peer's points.
	TotalPoints float64 `json:"total_points"`
}

// PublishLedger returns every peer's statement and the receipt key.
func (c *Coordinator) PublishLedger(now time.Time) PublishedLedger {
	p := PublishedLedger{ReceiptKey: c.ReceiptKey(), At: now.UTC(), Peers: c.ledger.Statements(now)}
	for _, s := range p.Peers {
		p.TotalPoints += s.Points
	}
	return p
}

// LedgerHandler serves the published ledger as JSON; with ?peer=ID it
// serves that peer's statement and signed receipts instead.
func (c *Coordinator) LedgerHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		now := time.Now()
		var body any = c.PublishLedger(now)
		if p := r.URL.Query().Get("peer"); p != "" {
			body = struct {
				Statement Statement `json:"statement"`
				Receipts  []Receipt `json:"receipts"`
			}{c.ledger.Statement(p, now), c.Receipts(p)}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	})
}
