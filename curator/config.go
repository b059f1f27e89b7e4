package curator

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Config tunes a Curator. The zero value of every field means its default.
type Config struct {
	// Key is the curator's identity. Nil loads dir/curator.key, creating
	// an Ed25519 key there on first use.
	Key crypto.PrivKey
	// Bus carries signed decisions, rules and items between curator
	// processes; nil keeps this curator to itself.
	Bus Bus
	// Quorum is the weighted support one answer needs to settle an item
	// (default 2: two curators of full weight agreeing).
	Quorum int
	// MaxVotes is how many curators are shown an item (default 3); an item
	// that has this many votes and no quorum goes to adjudication.
	MaxVotes int
	// UndoWindow is how long a decision stays local, where undo simply
	// forgets it, before it is signed into the tally and gossiped (default
	// 5s). Later, undo publishes a retraction, which only an unsettled item
	// honours.
	UndoWindow time.Duration
	// Adjudicators lists the peer IDs the dataset owner names to settle
	// an item that reached MaxVotes without a quorum. The queue's owners
	// (this curator when it holds the queue, and every ItemSources peer)
	// may always adjudicate; nobody else may, whatever their weight. Every
	// process must use the same list.
	Adjudicators []string
	// ItemSources lists the peer IDs (coordinators) whose gossiped review
	// items are accepted. This curator's own items are always accepted.
	// An item source is an owner of the queue: its votes have full weight
	// and it may adjudicate and publish rules.
	ItemSources []string
	// Trusted lists the curators the dataset owner vouches for: they vote
	// at full weight from their first decision (gold answers can still
	// lower it) and they may publish extraction rules. Every process must
	// use the same list.
	Trusted []string
	// MinorEditShare is the largest share of an item's text an edit may
	// change (by 3-word shingles, either direction; see EditShare) and
	// still settle at Quorum (default 0.15). A larger rewrite needs
	// RewriteQuorum, or a supporter who may adjudicate (an owner or one of
	// Adjudicators); otherwise the text is disputed and keeps the
	// pipeline's value.
	MinorEditShare float64
	// RewriteQuorum is the weighted support a rewrite larger than
	// MinorEditShare needs (default MaxVotes: every curator shown the item
	// typed the same text).
	RewriteQuorum int
	// QualifyAfter is how many gold items a curator outside Trusted must
	// answer correctly before their votes count at all (default 3). Until
	// then their weight is 0, so any number of fresh keys settles nothing.
	// Only the process that holds the gold answers (the queue's owner)
	// can see anyone qualify.
	QualifyAfter int
	// MaxClockSkew bounds how far in the future a decision may be dated
	// (default 5m).
	MaxClockSkew time.Duration
	// MaxDecisionAge refuses decisions older than this (default 7 days), so
	// a replay cannot outlive the nonce record it would collide with.
	MaxDecisionAge time.Duration
	// Guidelines sets the guideline text shown beside the queue, per
	// dataset; the UI can change it later.
	Guidelines map[string]string
	// Hotkeys maps an action (accept, reject, edit, skip, undo, next) to a
	// key; unset actions keep their defaults. The UI can change it later.
	Hotkeys map[string]string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now; tests move the clock.
	Now func() time.Time
}

// DefaultHotkeys are the keys the queue answers to unless configured.
var DefaultHotkeys = map[string]string{
	"accept": "a",
	"reject": "r",
	"edit":   "e",
	"skip":   "s",
	"undo":   "u",
}

// Default fills unset fields with their defaults.
func (c *Config) Default() {
	if c.Quorum == 0 {
		c.Quorum = 2
	}
	if c.MaxVotes == 0 {
		c.MaxVotes = 3
	}
	if c.UndoWindow == 0 {
		c.UndoWindow = 5 * time.Second
	}
	if c.QualifyAfter == 0 {
		c.QualifyAfter = 3
	}
	if c.MinorEditShare == 0 {
		c.MinorEditShare = 0.15
	}
	if c.RewriteQuorum == 0 {
		c.RewriteQuorum = max(c.MaxVotes, c.Quorum)
	}
	if c.MaxClockSkew == 0 {
		c.MaxClockSkew = 5 * time.Minute
	}
	if c.MaxDecisionAge == 0 {
		c.MaxDecisionAge = 7 * 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every problem with a configuration at once. Call it
// after Default: zero limits are errors.
func (c Config) Validate() error {
	var errs []error
	if c.Quorum < 1 {
		errs = append(errs, errors.New("curator config: quorum must be at least 1"))
	}
	if c.MaxVotes < c.Quorum {
		errs = append(errs, fmt.Errorf("curator config: max votes %d is below the quorum %d, so nothing could settle", c.MaxVotes, c.Quorum))
	}
	if c.MinorEditShare <= 0 || c.MinorEditShare > 1 {
		errs = append(errs, fmt.Errorf("curator config: minor edit share %v must be in (0, 1]", c.MinorEditShare))
	}
	if c.RewriteQuorum < c.Quorum {
		errs = append(errs, fmt.Errorf("curator config: rewrite quorum %d is below the quorum %d; a rewrite must need at least as much agreement as an edit", c.RewriteQuorum, c.Quorum))
	}
	if c.UndoWindow < 0 {
		errs = append(errs, errors.New("curator config: undo window must not be negative"))
	}
	if c.QualifyAfter < 1 {
		errs = append(errs, errors.New("curator config: QualifyAfter must be at least 1 gold answer (0 would let fresh keys vote)"))
	}
	if c.MaxClockSkew <= 0 || c.MaxDecisionAge <= 0 {
		errs = append(errs, errors.New("curator config: MaxClockSkew and MaxDecisionAge must be positive"))
	}
	if c.Logger == nil || c.Now == nil {
		errs = append(errs, errors.New("curator config: Logger and Now are unset (call Default first)"))
	}
	for _, list := range []struct {
		name string
		ids  []string
	}{{"adjudicator", c.Adjudicators}, {"item source", c.ItemSources}, {"trusted curator", c.Trusted}} {
		for _, id := range list.ids {
			if _, err := peer.Decode(id); err != nil {
				errs = append(errs, fmt.Errorf("curator config: %s %q is not a peer ID: %w", list.name, id, err))
			}
		}
	}
	for action := range c.Hotkeys {
		if _, ok := DefaultHotkeys[action]; !ok {
			errs = append(errs, fmt.Errorf("curator config: unknown hotkey action %q (known: accept, reject, edit, skip, undo)", action))
		}
	}
	return errors.Join(errs...)
}
