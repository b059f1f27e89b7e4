// Package curator is sward's human review: a queue of items the pipeline
// could not decide (plus an audit sample and gold items with known answers),
// a keyboard-driven web UI to decide them, signed decisions gossiped between
// curator processes, weighted quorum and adjudication, agreement metrics and
// a gold-based reputation, and per-domain extraction rules that the pipeline
// applies to later pages.
//
// State lives in SQLite (WAL) in the curator's directory. Every process
// tallies the decisions it has seen with the same rules, so processes that
// saw the same decisions settle items the same way; the process whose
// Settled feed the coordinator reads is the one that decides what reaches a
// dataset.
package curator

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// Item kinds.
const (
	KindReview = "review" // the pipeline routed it to review
	KindAudit  = "audit"  // a random sample of pipeline accepts and rejects
	KindGold   = "gold"   // a known answer, to measure curators
)

// Item states.
const (
	StateOpen         = "open"
	StateAdjudication = "adjudication"
	StateSettled      = "settled"
)

// Item is one thing for curators to decide.
type Item struct {
	// ID is unique per item; the coordinator uses the Document ID.
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Dataset groups items for guidelines and agreement; it defaults to
	// Doc.JobID.
	Dataset string           `json:"dataset,omitempty"`
	Doc     schemas.Document `json:"doc"`
	// HTML is the original page; curators see it sanitised.
	HTML string `json:"html,omitempty"`
	// Fields are the job's structured fields as the pipeline extracted
	// them; curators may correct them.
	Fields  map[string]string  `json:"fields,omitempty"`
	Scores  map[string]float64 `json:"scores,omitempty"`
	Reasons []string           `json:"reasons,omitempty"`
	// Gold is the known answer of a gold item.
	Gold *GoldAnswer `json:"gold,omitempty"`
}

// GoldAnswer is the known answer of a gold item.
type GoldAnswer struct {
	// Decision is schemas.ActionAccept or schemas.ActionReject.
	Decision string `json:"decision"`
	// Author is the peer ID of the curator who wrote the answer; the item
	// is never shown to them.
	Author string `json:"author,omitempty"`
	// Note explains the answer (shown on the stats page, never in the
	// queue).
	Note string `json:"note,omitempty"`
}

// Validate checks an item before it is queued.
func (it *Item) Validate() error {
	if it.ID == "" {
		return errors.New("item: missing id")
	}
	switch it.Kind {
	case KindReview, KindAudit:
		if it.Gold != nil {
			return fmt.Errorf("item %s: only a gold item carries a gold answer", it.ID)
		}
	case KindGold:
		if it.Gold == nil || (it.Gold.Decision != schemas.ActionAccept && it.Gold.Decision != schemas.ActionReject) {
			return fmt.Errorf("item %s: a gold item needs a gold answer of accept or reject", it.ID)
		}
	default:
		return fmt.Errorf("item %s: unknown kind %q (want review, audit or gold)", it.ID, it.Kind)
	}
	return nil
}

func (it *Item) dataset() string {
	if it.Dataset != "" {
		return it.Dataset
	}
	return it.Doc.JobID
}

func (it *Item) domain() string {
	if it.Doc.Host != "" {
		return strings.ToLower(it.Doc.Host)
	}
	if u, err := url.Parse(it.Doc.URL); err == nil {
		return strings.ToLower(u.Host)
	}
	return ""
}

// Settlement is the final answer on an item.
type Settlement struct {
	// Seq orders settlements; Settled's cursor is the last Seq seen.
	Seq     int64  `json:"seq"`
	ItemID  string `json:"item_id"`
	Kind    string `json:"kind"`
	Dataset string `json:"dataset"`
	// Decision is schemas.ActionAccept or schemas.ActionReject.
	Decision string `json:"decision"`
	Reason   string `json:"reason,omitempty"`
	// Doc is the document with the curators' edits applied; when "text"
	// was edited, ContentSHA256 is recomputed but TokenCount is not.
	Doc    schemas.Document  `json:"doc"`
	Fields map[string]string `json:"fields,omitempty"`
	// Edited lists the fields the curators changed.
	Edited []string `json:"edited,omitempty"`
	// Disputed lists the fields some curators edited without enough of
	// them agreeing on the same text: they keep the pipeline's value.
	Disputed    []string  `json:"disputed,omitempty"`
	Adjudicated bool      `json:"adjudicated,omitempty"`
	Voters      []string  `json:"voters"`
	SettledAt   time.Time `json:"settled_at"`
}

// Bus carries curation messages between curator processes; the lead wires
// it to gossipsub topic schemas.TopicDecisions. Publish must not deliver
// synchronously back into the publisher's Receive. The channel from
// Subscribe must close when ctx ends.
type Bus interface {
	Publish(ctx context.Context, data []byte) error
	Subscribe(ctx context.Context) (<-chan []byte, error)
}

// Curator is one curator's view of the review network: its queue, its
// identity, and the decisions it has seen.
type Curator struct {
	cfg  Config
	db   *sql.DB
	key  crypto.PrivKey
	self string
	log  *slog.Logger

	// mu serialises state changes: every read-modify-write of the tally.
	mu sync.Mutex
	// tmu guards vouched: the curators the owner vouched for at run time.
	tmu     sync.RWMutex
	vouched []string

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open opens (or creates) the curator state in dir and starts the
// goroutines that flush decisions past their undo window and receive from
// the bus. Close stops them.
func Open(ctx context.Context, dir string, cfg Config) (*Curator, error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("opening curator: creating %s: %w", dir, err)
	}
	key := cfg.Key
	if key == nil {
		var err error
		if key, err = LoadOrCreateKey(filepath.Join(dir, "curator.key")); err != nil {
			return nil, err
		}
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("opening curator: peer id from key: %w", err)
	}
	db, err := openDB(ctx, filepath.Join(dir, "curator.db"))
	if err != nil {
		return nil, err
	}
	c := &Curator{cfg: cfg, db: db, key: key, self: id.String(), log: cfg.Logger.With(logkey.Peer, id.String())}
	if err := c.loadVouched(ctx); err != nil {
		db.Close()
		return nil, err
	}
	for ds, text := range cfg.Guidelines {
		if err := c.SetGuidelines(ctx, ds, text); err != nil {
			db.Close()
			return nil, err
		}
	}
	if len(cfg.Hotkeys) > 0 {
		keys, err := c.Hotkeys(ctx)
		if err == nil {
			for a, k := range cfg.Hotkeys {
				keys[a] = k
			}
			err = c.SetHotkeys(ctx, keys)
		}
		if err != nil {
			db.Close()
			return nil, err
		}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	if cfg.Bus != nil {
		ch, err := cfg.Bus.Subscribe(runCtx)
		if err != nil {
			cancel()
			db.Close()
			return nil, fmt.Errorf("opening curator: subscribing to the decision bus: %w", err)
		}
		c.wg.Add(1)
		go c.receiveLoop(runCtx, ch)
	}
	c.wg.Add(1)
	go c.flushLoop(runCtx)
	return c, nil
}

// Close stops the background goroutines and closes the store. Decisions
// still inside their undo window stay stored and are published after the
// next Open.
func (c *Curator) Close() error {
	c.cancel()
	c.wg.Wait()
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("closing curator store: %w", err)
	}
	return nil
}

// PeerID is this curator's identity.
func (c *Curator) PeerID() string { return c.self }

// Enqueue adds items to the queue (an item already known is left as it is)
// and announces them on the bus so other curators see them too.
func (c *Curator) Enqueue(ctx context.Context, items ...Item) error {
	for i := range items {
		if err := items[i].Validate(); err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
	}
	for i := range items {
		added, err := c.storeItem(ctx, &items[i])
		if err != nil {
			return err
		}
		if !added || c.cfg.Bus == nil {
			continue
		}
		if err := c.announce(ctx, &items[i]); err != nil {
			// The item is queued locally; a lost announcement only means
			// other curators do not see it. Say so and go on.
			c.log.Warn("announcing review item", logkey.Item, items[i].ID, logkey.Err, err)
		}
	}
	return nil
}

// storeItem inserts an item and tallies any decisions that arrived first.
func (c *Curator) storeItem(ctx context.Context, it *Item) (bool, error) {
	body, err := json.Marshal(it)
	if err != nil {
		return false, fmt.Errorf("enqueue %s: encoding: %w", it.ID, err)
	}
	scores, err := json.Marshal(it.Scores)
	if err != nil {
		return false, fmt.Errorf("enqueue %s: encoding scores: %w", it.ID, err)
	}
	author, gold := "", ""
	if it.Gold != nil {
		author, gold = it.Gold.Author, it.Gold.Decision
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	res, err := c.db.ExecContext(ctx, `INSERT OR IGNORE INTO items(id, kind, dataset, domain, url, text, reasons, scores, body, gold_author, gold, state, enqueued_at)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		it.ID, it.Kind, it.dataset(), it.domain(), it.Doc.URL, it.Doc.Text, strings.Join(it.Reasons, "\n"), string(scores), string(body), author, gold, StateOpen, c.cfg.Now().UnixNano())
	if err != nil {
		return false, fmt.Errorf("enqueue %s: %w", it.ID, err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		return false, nil
	}
	if err := c.tallyLocked(ctx, it.ID); err != nil {
		return true, err
	}
	return true, nil
}

// Settled returns the items settled after cursor since (0 for all), in
// order, and the cursor to pass next time. Gold items never settle.
func (c *Curator) Settled(ctx context.Context, since int64) ([]Settlement, int64, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT seq, body FROM settlements WHERE seq > ? ORDER BY seq LIMIT 10000`, since)
	if err != nil {
		return nil, since, fmt.Errorf("reading settlements: %w", err)
	}
	defer rows.Close()
	var out []Settlement
	next := since
	for rows.Next() {
		var seq int64
		var body string
		if err := rows.Scan(&seq, &body); err != nil {
			return nil, since, fmt.Errorf("reading settlements: %w", err)
		}
		var s Settlement
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			return nil, since, fmt.Errorf("reading settlement %d: %w", seq, err)
		}
		s.Seq = seq
		out = append(out, s)
		next = seq
	}
	if err := rows.Err(); err != nil {
		return nil, since, fmt.Errorf("reading settlements: %w", err)
	}
	return out, next, nil
}

// item loads an item by ID.
func (c *Curator) item(ctx context.Context, id string) (*Item, string, error) {
	var body, state string
	err := c.db.QueryRowContext(ctx, `SELECT body, state FROM items WHERE id = ?`, id).Scan(&body, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", fmt.Errorf("item %s: %w", id, ErrUnknownItem)
	}
	if err != nil {
		return nil, "", fmt.Errorf("loading item %s: %w", id, err)
	}
	var it Item
	if err := json.Unmarshal([]byte(body), &it); err != nil {
		return nil, "", fmt.Errorf("decoding item %s: %w", id, err)
	}
	return &it, state, nil
}

// Errors a caller may test for with errors.Is.
var (
	ErrUnknownItem    = errors.New("no such item")
	ErrSettled        = errors.New("item already settled")
	ErrForged         = errors.New("signature does not verify")
	ErrReplay         = errors.New("message already seen (replay)")
	ErrStale          = errors.New("timestamp outside the accepted window")
	ErrNotAdjudicator = errors.New("signer may not adjudicate this item")
	ErrUntrusted      = errors.New("signer is not trusted for this message")
	ErrNothingToUndo  = errors.New("nothing to undo")
)
