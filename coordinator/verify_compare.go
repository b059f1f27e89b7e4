package coordinator

import (
	"hash/fnv"
	"slices"
	"strings"
)

// Containment comparison. Overall similarity (Jaccard) cannot tell an
// edited page from an injected one: text added to a page lowers the
// similarity by its share only. What tells them apart is the direction
// of the difference. An honest change (an edited sentence, a new
// timestamp) removes some text and adds some; an injection adds text
// that the re-fetch does not have while the re-fetch has almost nothing
// the original lacks, and an omission is the reverse. Two fetches are
// compared on their exact sets of 3-word shingles of the main text.

// Thresholds of the containment comparison, as shares of a fetch's
// shingles.
const (
	// EditLimit is the largest share of either fetch's shingles missing
	// from the other for a two-sided change (an edit) to still agree.
	EditLimit = 0.4
	// OneSidedLimit is the largest share of one fetch's shingles missing
	// from the other when the other fetch has (almost) nothing new: text
	// added or removed on one side only, as an injection is.
	OneSidedLimit = 0.12
	// oneSidedRatio: a difference is one-sided when the other direction
	// is below this fraction of it.
	oneSidedRatio = 1.0 / 3
)

// shinglesOf returns the sorted, distinct hashes of the 3-word shingles
// of a normalised text (one shingle for texts of fewer than 3 words).
func shinglesOf(text string) []uint64 {
	words := strings.Fields(text)
	if len(words) == 0 {
		return nil
	}
	var out []uint64
	h := fnv.New64a()
	add := func(ws []string) {
		h.Reset()
		h.Write([]byte(strings.Join(ws, " ")))
		out = append(out, h.Sum64())
	}
	if len(words) < verifyNGram {
		add(words)
	}
	for i := 0; i+verifyNGram <= len(words); i++ {
		add(words[i : i+verifyNGram])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// novelty returns the share of a's shingles missing from b and of b's
// missing from a (both sorted and distinct).
func novelty(a, b []uint64) (aOnly, bOnly float64) {
	common := 0
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			common++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return 1 - float64(common)/float64(len(a)), 1 - float64(common)/float64(len(b))
}

// containmentAgree decides two fetches' texts by their shingle sets and
// returns a similarity-like score (1 minus the larger novelty).
func containmentAgree(a, b []uint64) (bool, float64) {
	x, y := novelty(a, b)
	score := 1 - max(x, y)
	switch {
	case x > EditLimit || y > EditLimit:
		return false, score
	case x > OneSidedLimit && y < x*oneSidedRatio:
		// a holds text b lacks, and b adds nearly nothing: injected into a.
		return false, score
	case y > OneSidedLimit && x < y*oneSidedRatio:
		return false, score
	}
	return true, score
}
