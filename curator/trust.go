package curator

import (
	"slices"
	"strings"

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

// isTrusted reports whether the owner vouches for who: an owner or a
// Trusted curator. Only they may publish extraction rules.
func (c *Curator) isTrusted(who string) bool {
	return c.isOwner(who) || slices.Contains(c.cfg.Trusted, who)
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
	case slices.Contains(c.cfg.Trusted, who):
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
