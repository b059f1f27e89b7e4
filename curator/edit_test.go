package curator

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/swardnet/sward/schemas"
)

// articleText is a ten-sentence text; sentence i can be replaced.
func articleText(replace map[int]string) string {
	var b []string
	for i := 0; i < 10; i++ {
		if r, ok := replace[i]; ok {
			b = append(b, r)
			continue
		}
		b = append(b, fmt.Sprintf("In sentence %d the harbour council reported that the ferries to island %d ran on time while crews repaired the northern pier.", i, i))
	}
	return strings.Join(b, " ")
}

// spamSentences replaces sentences from..to-1 of the article.
func spamSentences(from, to int) map[int]string {
	m := map[int]string{}
	for i := from; i < to; i++ {
		m[i] = fmt.Sprintf("Buy cheap replica watches number %d today from our partner store with free overnight shipping.", i)
	}
	return m
}

func TestEditShare(t *testing.T) {
	orig := articleText(nil)
	tests := []struct {
		name     string
		edited   string
		min, max float64
	}{
		{"same text, other spacing", "  " + strings.ReplaceAll(orig, " ", "\n "), 0, 0},
		{"one word fixed", strings.Replace(orig, "northern pier", "southern pier", 1), 0.005, 0.05},
		{"one sentence rewritten", articleText(map[int]string{3: "Editors corrected this sentence after readers wrote in."}), 0.05, 0.15},
		{"40% replaced", articleText(spamSentences(2, 6)), 0.35, 0.6},
		{"20% spam added", orig + " " + spamSentences(0, 2)[0] + " " + spamSentences(0, 2)[1], 0.15, 0.3},
		{"everything replaced", "Buy cheap pills at spam.example", 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := EditShare(orig, tc.edited)
			if got < tc.min || got > tc.max {
				t.Errorf("EditShare = %.3f, want in [%.2f, %.2f]", got, tc.min, tc.max)
			}
			if back := EditShare(tc.edited, orig); back != got {
				t.Errorf("not symmetric: %.3f one way, %.3f the other", got, back)
			}
		})
	}
}

// TestRewriteNeedsMoreAgreementOrAdjudication: an edit that changes a
// small part of the text settles at the quorum; a rewrite of 40% of it
// (issue 13: "a 40% replacement of the text passes as an edit") does not:
// the item stays open for more votes, settles the rewrite only when
// RewriteQuorum agree, goes to adjudication when the votes run out, and
// any number of fresh keys add nothing.
func TestRewriteNeedsMoreAgreementOrAdjudication(t *testing.T) {
	ctx := context.Background()
	cur := sybils(t, 3)
	judgeKey, judge := newKey(t)
	judgeS := sybil{judgeKey, judge}
	c := openTest(t, Config{Trusted: []string{cur[0].id, cur[1].id, cur[2].id}, Adjudicators: []string{judge}})
	orig := articleText(nil)
	rewrite := articleText(spamSentences(2, 6))
	minor := articleText(map[int]string{3: "Editors corrected this sentence after readers wrote in."})
	var items []Item
	for _, id := range []string{"minor", "pair", "all", "sybils"} {
		it := testItem(id, KindReview)
		it.Doc.Text = orig
		items = append(items, it)
	}
	must(t, c.Enqueue(ctx, items...))
	settled := func(id string) *Settlement {
		t.Helper()
		s, _, err := c.Settled(ctx, 0)
		must(t, err)
		for i := range s {
			if s[i].ItemID == id {
				return &s[i]
			}
		}
		return nil
	}
	edit := func(s sybil, id, text string) {
		t.Helper()
		must(t, c.Receive(ctx, s.vote(t, id, schemas.ActionAccept, map[string]string{"text": text}, false)))
	}

	// A minor edit: two curators agree, it settles.
	edit(cur[0], "minor", minor)
	edit(cur[1], "minor", minor)
	if s := settled("minor"); s == nil || s.Doc.Text != minor {
		t.Fatalf("minor edit: %+v", s)
	}

	// The rewrite typed by two: open; a third accepting without it sends
	// the item to adjudication; the judge decides.
	edit(cur[0], "pair", rewrite)
	edit(cur[1], "pair", rewrite)
	if got := itemState(t, c, "pair"); got != StateOpen || settled("pair") != nil {
		t.Fatalf("a rewrite by two curators settled (state %s)", got)
	}
	must(t, c.Receive(ctx, cur[2].vote(t, "pair", schemas.ActionAccept, nil, false)))
	if got := itemState(t, c, "pair"); got != StateAdjudication {
		t.Fatalf("rewrite short of its quorum at max votes: state %s, want adjudication", got)
	}
	must(t, c.Receive(ctx, judgeS.vote(t, "pair", schemas.ActionAccept, nil, true)))
	if s := settled("pair"); s == nil || !s.Adjudicated || s.Doc.Text != orig {
		t.Fatalf("adjudicated without the rewrite: %+v", s)
	}

	// Every curator shown the item typed the same rewrite: it settles.
	for _, s := range cur {
		edit(s, "all", rewrite)
	}
	if s := settled("all"); s == nil || s.Doc.Text != rewrite {
		t.Fatalf("rewrite agreed by RewriteQuorum: %+v", s)
	}

	// One curator and forty fresh keys: the item settles at the second
	// curator's plain accept, with the text disputed.
	edit(cur[0], "sybils", rewrite)
	for _, s := range sybils(t, 40) {
		edit(s, "sybils", rewrite)
	}
	must(t, c.Receive(ctx, cur[1].vote(t, "sybils", schemas.ActionAccept, nil, false)))
	if s := settled("sybils"); s == nil || s.Doc.Text != orig || len(s.Disputed) != 1 {
		t.Fatalf("rewrite by one curator and Sybils: %+v", s)
	}
}
