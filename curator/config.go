package curator

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
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
	// Adjudicators lists the peer IDs whose adjudication settles an item.
	// Empty means any curator of full weight (>= AdjudicatorMinWeight)
	// who did not vote on the item. Every process must use the same list.
	Adjudicators []string
	// AdjudicatorMinWeight is the weight an adjudicator needs when
	// Adjudicators is empty (default 0.9).
	AdjudicatorMinWeight float64
	// ItemSources lists the peer IDs (coordinators) whose gossiped review
	// items are accepted. This curator's own items are always accepted.
	ItemSources []string
	// RuleMinWeight is the weight a curator needs for an extraction rule
	// they publish to be accepted (default 0.8).
	RuleMinWeight float64
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

// withDefaults fills unset fields.
func (c Config) withDefaults() Config {
	if c.Quorum == 0 {
		c.Quorum = 2
	}
	if c.MaxVotes == 0 {
		c.MaxVotes = 3
	}
	if c.UndoWindow == 0 {
		c.UndoWindow = 5 * time.Second
	}
	if c.AdjudicatorMinWeight == 0 {
		c.AdjudicatorMinWeight = 0.9
	}
	if c.RuleMinWeight == 0 {
		c.RuleMinWeight = 0.8
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
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Quorum < 1 {
		return errors.New("curator config: quorum must be at least 1")
	}
	if c.MaxVotes < c.Quorum {
		return fmt.Errorf("curator config: max votes %d is below the quorum %d, so nothing could settle", c.MaxVotes, c.Quorum)
	}
	if c.UndoWindow < 0 {
		return errors.New("curator config: undo window must not be negative")
	}
	if c.RuleMinWeight < 0 || c.RuleMinWeight > 1 || c.AdjudicatorMinWeight < 0 || c.AdjudicatorMinWeight > 1 {
		return errors.New("curator config: weights must be between 0 and 1")
	}
	for action := range c.Hotkeys {
		if _, ok := DefaultHotkeys[action]; !ok {
			return fmt.Errorf("curator config: unknown hotkey action %q (known: accept, reject, edit, skip, undo)", action)
		}
	}
	return nil
}
