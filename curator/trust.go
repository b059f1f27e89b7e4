package curator

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/text/unicode/norm"
)

// Roles a curator can have in one process's view. They decide what the
// curator's signed messages are worth; see "Curator trust" in
// docs/curator.md.
const (
	// RoleOwner holds the queue: this curator when it has no ItemSources
	// (the coordinator's process, a local session), or an ItemSources peer.
	RoleOwner = "owner"
	// RoleTrusted is vouched for by the owner (Config.Trusted).
	RoleTrusted = "trusted"
	// RoleQualified answered Config.QualifyAfter gold items correctly.
	RoleQualified = "qualified"
	// RoleNewcomer is everyone else: any fresh key. Weight 0.
	RoleNewcomer = "newcomer"
)

// isOwner reports whether who holds the queue as this process sees it.
func (c *Curator) isOwner(who string) bool {
	if len(c.cfg.ItemSources) == 0 {
		return who == c.self
	}
	return slices.Contains(c.cfg.ItemSources, who)
}

// isTrusted reports whether the owner vouches for who: an owner, a
// Trusted curator or one the owner vouched for at run time. Only they may
// publish extraction rules.
func (c *Curator) isTrusted(who string) bool {
	return c.isOwner(who) || slices.Contains(c.trustedList(), who)
}

// trustedList is Config.Trusted plus the curators vouched for with Vouch.
func (c *Curator) trustedList() []string {
	c.tmu.RLock()
	defer c.tmu.RUnlock()
	return append(slices.Clone(c.cfg.Trusted), c.vouched...)
}

const vouchedKey = "vouched"

// loadVouched reads the stored list of curators vouched for.
func (c *Curator) loadVouched(ctx context.Context) error {
	v, err := c.setting(ctx, vouchedKey)
	if err != nil || v == "" {
		return err
	}
	var ids []string
	if err := json.Unmarshal([]byte(v), &ids); err != nil {
		return fmt.Errorf("reading the vouched curators: %w (fix or delete the setting %q)", err, vouchedKey)
	}
	c.tmu.Lock()
	c.vouched = ids
	c.tmu.Unlock()
	return nil
}

// Vouched returns the curators this owner vouched for at run time (the
// Config.Trusted list is not included).
func (c *Curator) Vouched() []string {
	c.tmu.RLock()
	defer c.tmu.RUnlock()
	return slices.Clone(c.vouched)
}

// SetVouched replaces the curators this process, as the queue's owner,
// vouches for beside Config.Trusted: they count as trusted from now on,
// here and (since the owner's tally is the one that reaches datasets) for
// the dataset. Only the owner may vouch (ErrUntrusted otherwise). Open
// items are tallied again at once.
func (c *Curator) SetVouched(ctx context.Context, ids []string) error {
	if !c.isOwner(c.self) {
		return fmt.Errorf("vouching: %w: only the queue's owner vouches for curators; this curator follows %v", ErrUntrusted, c.cfg.ItemSources)
	}
	clean := make([]string, 0, len(ids))
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if _, err := peer.Decode(id); err != nil {
			return fmt.Errorf("vouching: %q is not a peer ID: %w", id, err)
		}
		if !slices.Contains(clean, id) {
			clean = append(clean, id)
		}
	}
	body, err := json.Marshal(clean)
	if err != nil {
		return fmt.Errorf("vouching: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.setSetting(ctx, vouchedKey, string(body)); err != nil {
		return err
	}
	c.tmu.Lock()
	c.vouched = clean
	c.tmu.Unlock()
	rows, err := c.db.QueryContext(ctx, `SELECT id FROM items WHERE state != ?`, StateSettled)
	if err != nil {
		return fmt.Errorf("vouching: finding open items: %w", err)
	}
	var open []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("vouching: finding open items: %w", err)
		}
		open = append(open, id)
	}
	rows.Close()
	for _, id := range open {
		if err := c.tallyLocked(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// mayAdjudicate reports whether the dataset owner named who to adjudicate.
func (c *Curator) mayAdjudicate(who string) bool {
	return c.isOwner(who) || slices.Contains(c.cfg.Adjudicators, who)
}

// role and weight of a curator from their gold record. An owner always has
// full weight; a trusted curator starts at full weight and gold answers can
// lower it; anyone else counts for nothing until QualifyAfter correct gold
// answers, and is then weighted by their gold accuracy like everyone.
func (c *Curator) roleWeight(who string, total, correct int) (string, float64) {
	switch {
	case c.isOwner(who):
		return RoleOwner, 1
	case slices.Contains(c.trustedList(), who):
		return RoleTrusted, weightFor(total, correct)
	case correct >= c.cfg.QualifyAfter:
		return RoleQualified, weightFor(total, correct)
	default:
		return RoleNewcomer, 0
	}
}

// normaliseEdit is the form two edits are compared in: Unicode NFC, runs
// of white space folded to one space, trimmed. Two curators who typed the
// same correction agree even when their editors wrapped it differently.
func normaliseEdit(s string) string {
	return strings.Join(strings.Fields(norm.NFC.String(s)), " ")
}

// editQuorum returns the support an edit of it needs: Quorum, except for
// a rewrite of its text larger than MinorEditShare, which needs
// RewriteQuorum unless one of its supporters may adjudicate (the owner
// and the adjudicators it names decide edits alone anyway).
func (c *Curator) editQuorum(it *Item) func(field, value string, supporters []string) float64 {
	return func(field, value string, supporters []string) float64 {
		if field != "text" || EditShare(it.Doc.Text, value) <= c.cfg.MinorEditShare {
			return float64(c.cfg.Quorum)
		}
		if slices.ContainsFunc(supporters, c.mayAdjudicate) {
			return float64(c.cfg.Quorum)
		}
		return float64(c.cfg.RewriteQuorum)
	}
}

// EditShare is how much of a text an edit changes, from 0 (the same
// after normaliseEdit) to 1 (nothing in common): the larger of the share
// of the original's 3-word shingles the edit lacks and the share of the
// edit's the original lacks, so text added, removed or replaced all
// count. Words are compared case-folded; a text under three words is one
// shingle.
func EditShare(orig, edited string) float64 {
	a, b := shingleSet(orig), shingleSet(edited)
	if len(a) == 0 && len(b) == 0 {
		return 0
	}
	return max(missingShare(a, b), missingShare(b, a))
}

// shingleSet is the set of a text's 3-word shingles.
func shingleSet(s string) map[string]bool {
	words := strings.Fields(strings.ToLower(normaliseEdit(s)))
	out := map[string]bool{}
	if len(words) < 3 {
		if len(words) > 0 {
			out[strings.Join(words, " ")] = true
		}
		return out
	}
	for i := 0; i+3 <= len(words); i++ {
		out[strings.Join(words[i:i+3], " ")] = true
	}
	return out
}

// missingShare is the share of a's members that b lacks (0 for empty a).
func missingShare(a, b map[string]bool) float64 {
	if len(a) == 0 {
		return 0
	}
	n := 0
	for k := range a {
		if !b[k] {
			n++
		}
	}
	return float64(n) / float64(len(a))
}
