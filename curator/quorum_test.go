package curator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/schemas"
)

// network starts n curators on one hub. The first one is the coordinator's
// process (the queue's owner): the others accept its items. The owner
// trusts every one of them (Config.Trusted), so they vote at full weight
// from the start; tests of newcomers use their own setup.
func network(t *testing.T, n int, cfg Config) []*Curator {
	t.Helper()
	h := newHub()
	keys := make([]crypto.PrivKey, n)
	ids := make([]string, n)
	for i := range keys {
		keys[i], ids[i] = newKey(t)
	}
	cs := make([]*Curator, n)
	for i := range cs {
		c := cfg
		c.Key = keys[i]
		c.Bus = hubBus{h}
		if i > 0 {
			c.ItemSources = []string{ids[0]}
		}
		c.Trusted = append(slices.Clone(cfg.Trusted), ids...)
		cs[i] = openTest(t, c)
	}
	return cs
}

func decideAndFlush(t *testing.T, c *Curator, in Input) {
	t.Helper()
	ctx := context.Background()
	must(t, c.Decide(ctx, in))
	must(t, c.Flush(ctx))
}

func TestQuorumThreeCuratorsOneDisagreeing(t *testing.T) {
	ctx := context.Background()
	cs := network(t, 3, Config{})
	a, b, c := cs[0], cs[1], cs[2]
	must(t, a.Enqueue(ctx, testItem("doc-1", KindReview)))
	for _, x := range cs[1:] {
		testutil.Eventually(t, curatorWait, "item gossiped", func() bool {
			q, err := x.Queue(ctx, Filter{}, 0)
			return err == nil && len(q) == 1
		})
	}
	decideAndFlush(t, a, Input{ItemID: "doc-1", Action: schemas.ActionAccept, Edits: map[string]string{"title": "Better title", "field:price": "12"}})
	decideAndFlush(t, b, Input{ItemID: "doc-1", Action: schemas.ActionReject, Reason: "boilerplate"})
	for _, x := range cs {
		testutil.Eventually(t, curatorWait, "two votes seen", func() bool {
			v, err := x.View(ctx, "doc-1")
			return err == nil && v.Votes == 2
		})
		if got := itemState(t, x, "doc-1"); got != StateOpen {
			t.Fatalf("after 1-1 the item is %s, want open", got)
		}
	}
	// c agrees on the title (typed with other white space) but not on the
	// price: the title edit settles, the price keeps the pipeline's value.
	decideAndFlush(t, c, Input{ItemID: "doc-1", Action: schemas.ActionAccept, Edits: map[string]string{"title": "  Better\n title ", "field:price": "13"}})
	for i, x := range cs {
		var got []Settlement
		testutil.Eventually(t, curatorWait, fmt.Sprintf("settlement in process %d", i), func() bool {
			s, _, err := x.Settled(ctx, 0)
			got = s
			return err == nil && len(s) == 1
		})
		s := got[0]
		if s.Decision != schemas.ActionAccept || s.Adjudicated || len(s.Voters) != 3 {
			t.Errorf("process %d settled %+v, want accept by 3 voters", i, s)
		}
		if s.Doc.Title == nil || normaliseEdit(*s.Doc.Title) != "Better title" || s.Fields["price"] != "10" {
			t.Errorf("process %d: title %v fields %v, want the agreed title and the original price", i, s.Doc.Title, s.Fields)
		}
		if !slices.Equal(s.Edited, []string{"title"}) || !slices.Equal(s.Disputed, []string{"field:price"}) {
			t.Errorf("process %d: edited %v disputed %v", i, s.Edited, s.Disputed)
		}
	}
	// Nothing else for anyone: the settled item leaves every queue.
	for _, x := range cs {
		if q, _ := x.Queue(ctx, Filter{}, 0); len(q) != 0 {
			t.Errorf("settled item still queued: %v", q)
		}
	}
	st, err := a.Stats(ctx)
	must(t, err)
	if len(st.Pairs) != 3 || len(st.Datasets) != 1 || st.Datasets[0].Items != 1 || st.Datasets[0].Ratings != 3 {
		t.Errorf("stats = %+v", st)
	}
}

// TestPoorGoldAccuracyLosesWeightAndAdjudication: gold items reach the
// other curators as plain review items without their answers; only the
// owner, who holds the answers, weighs curators by them. A newcomer who
// answers gold wrong never qualifies and counts for nothing; one who
// answers right qualifies; only a named adjudicator settles a split.
func TestPoorGoldAccuracyLosesWeightAndAdjudication(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	keyA, idA := newKey(t)
	keyB, _ := newKey(t)
	keyP, _ := newKey(t)
	judgeKey, judge := newKey(t)
	cfg := Config{Bus: hubBus{h}, MaxVotes: 2, Adjudicators: []string{judge}}
	a := openTest(t, with(cfg, func(c *Config) { c.Key = keyA }))
	b := openTest(t, with(cfg, func(c *Config) { c.Key = keyB; c.ItemSources = []string{idA} }))
	poor := openTest(t, with(cfg, func(c *Config) { c.Key = keyP; c.ItemSources = []string{idA} }))
	// Four gold items whose answer is reject; the poor curator accepts all,
	// the good one answers right.
	for i := range 4 {
		must(t, a.Enqueue(ctx, testItem(fmt.Sprintf("gold-%d", i), KindGold)))
	}
	must(t, a.Enqueue(ctx, testItem("doc-x", KindReview), testItem("doc-y", KindReview)))
	for _, x := range []*Curator{b, poor} {
		testutil.Eventually(t, curatorWait, "items gossiped", func() bool {
			q, err := x.Queue(ctx, Filter{}, 0)
			return err == nil && len(q) == 6
		})
		for i := range 4 {
			it, _, err := x.item(ctx, fmt.Sprintf("gold-%d", i))
			must(t, err)
			if it.Kind != KindReview || it.Gold != nil {
				t.Fatalf("a gold item reached another curator as %s with answer %+v", it.Kind, it.Gold)
			}
		}
	}
	for i := range 4 {
		id := fmt.Sprintf("gold-%d", i)
		decideAndFlush(t, poor, Input{ItemID: id, Action: schemas.ActionAccept})
		decideAndFlush(t, b, Input{ItemID: id, Action: schemas.ActionReject, Reason: "spam"})
	}
	testutil.Eventually(t, curatorWait, "gold answers seen by the owner", func() bool {
		reps, err := a.Reputations(ctx)
		if err != nil {
			return false
		}
		n := 0
		for _, r := range reps {
			n += r.GoldTotal
		}
		return n == 8
	})
	reps, err := a.Reputations(ctx)
	must(t, err)
	byPeer := map[string]Reputation{}
	for _, r := range reps {
		byPeer[r.Curator] = r
	}
	if r := byPeer[poor.PeerID()]; r.GoldCorrect != 0 || r.Weight != 0 || r.Role != RoleNewcomer {
		t.Fatalf("poor curator reputation %+v: want no correct answers, a newcomer of weight 0", r)
	}
	if r := byPeer[b.PeerID()]; r.GoldCorrect != 4 || r.Weight != 1 || r.Role != RoleQualified {
		t.Fatalf("good curator reputation %+v: want 4 correct, qualified at full weight", r)
	}
	// The other processes have no gold answers: nobody's record there.
	if reps, _ := b.Reputations(ctx); slices.ContainsFunc(reps, func(r Reputation) bool { return r.GoldTotal > 0 }) {
		t.Fatalf("a curator without the gold answers scored gold: %+v", reps)
	}

	// doc-x: the owner and the poor curator agree; the poor curator's ballot
	// counts for nothing, not even towards MaxVotes.
	decideAndFlush(t, a, Input{ItemID: "doc-x", Action: schemas.ActionAccept})
	decideAndFlush(t, poor, Input{ItemID: "doc-x", Action: schemas.ActionAccept})
	testutil.Eventually(t, curatorWait, "votes on doc-x", func() bool { v, _ := a.View(ctx, "doc-x"); return v != nil && v.Votes == 2 })
	if got := itemState(t, a, "doc-x"); got != StateOpen {
		t.Fatalf("owner+newcomer agreement made the item %s; the newcomer's ballot should not count", got)
	}
	// The qualified curator disagrees: MaxVotes counted ballots, no quorum,
	// so the item goes to adjudication.
	decideAndFlush(t, b, Input{ItemID: "doc-x", Action: schemas.ActionReject, Reason: "off-topic"})
	testutil.Eventually(t, curatorWait, "adjudication", func() bool { return itemState(t, a, "doc-x") == StateAdjudication })
	if err := a.Decide(ctx, Input{ItemID: "doc-x", Action: schemas.ActionAccept, Adjudication: true}); !errors.Is(err, ErrNotAdjudicator) {
		t.Errorf("a voter adjudicating: err %v, want ErrNotAdjudicator", err)
	}
	// A qualified curator the owner did not name may not adjudicate.
	keyQ := keyB
	dq := signed(t, keyQ, b.PeerID(), "doc-x", schemas.ActionAccept, "", a.cfg.Now())
	dq.Adjudication = true
	dq.Signature, _ = keyQ.Sign(dq.SigningBytes())
	if err := a.Receive(ctx, wire(t, schemas.CurationMessage{Decision: dq})); !errors.Is(err, ErrNotAdjudicator) {
		t.Fatalf("adjudication by an unnamed qualified curator: %v, want ErrNotAdjudicator", err)
	}
	dj := signed(t, judgeKey, judge, "doc-x", schemas.ActionReject, "off-topic", a.cfg.Now())
	dj.Adjudication = true
	dj.Signature, _ = judgeKey.Sign(dj.SigningBytes())
	must(t, a.Receive(ctx, wire(t, schemas.CurationMessage{Decision: dj})))
	s, _, err := a.Settled(ctx, 0)
	must(t, err)
	if len(s) != 1 || s[0].ItemID != "doc-x" || s[0].Decision != schemas.ActionReject || !s[0].Adjudicated || s[0].Reason != "off-topic" {
		t.Fatalf("adjudicated settlement %+v", s)
	}
	// doc-y: the owner and the qualified curator agreeing settle at once.
	decideAndFlush(t, a, Input{ItemID: "doc-y", Action: schemas.ActionAccept})
	decideAndFlush(t, b, Input{ItemID: "doc-y", Action: schemas.ActionAccept})
	testutil.Eventually(t, curatorWait, "doc-y settled", func() bool { return itemState(t, a, "doc-y") == StateSettled })

	st, err := a.Stats(ctx)
	must(t, err)
	for _, cur := range st.Curators {
		if cur.Curator == poor.PeerID() && (cur.GoldTotal != 4 || cur.Accuracy != 0) {
			t.Errorf("stats for the poor curator: %+v", cur)
		}
	}
}

// with returns a copy of cfg changed by f.
func with(cfg Config, f func(*Config)) Config {
	f(&cfg)
	return cfg
}

func containsItem(q []QueueItem, id string) bool {
	for _, x := range q {
		if x.ID == id {
			return true
		}
	}
	return false
}

func TestAssignment(t *testing.T) {
	ctx := context.Background()
	key, me := newKey(t)
	k1, id1 := newKey(t)
	k2, id2 := newKey(t)
	c := openTest(t, Config{Key: key, MaxVotes: 3, Trusted: []string{id1, id2}})
	own := testItem("gold-own", KindGold)
	own.Gold.Author = me
	other := testItem("gold-other", KindGold)
	must(t, c.Enqueue(ctx, own, other, testItem("r1", KindReview), testItem("r2", KindReview), testItem("full", KindAudit)))
	// Two other curators split on "full": it stays open with two ballots.
	now := c.cfg.Now()
	must(t, c.acceptDecision(ctx, signed(t, k1, id1, "full", schemas.ActionAccept, "", now), false))
	must(t, c.acceptDecision(ctx, signed(t, k2, id2, "full", schemas.ActionReject, "spam", now), false))
	q, err := c.Queue(ctx, Filter{}, 0)
	must(t, err)
	ids := map[string]bool{}
	for _, x := range q {
		ids[x.ID] = true
		if x.Kind == KindGold {
			t.Errorf("queue reveals a gold item: %+v", x)
		}
	}
	if ids["gold-own"] {
		t.Error("curator is shown the gold item whose answer they wrote")
	}
	for _, want := range []string{"gold-other", "r1", "r2", "full"} {
		if !ids[want] {
			t.Errorf("queue misses %s: %v", want, q)
		}
	}
	if q[0].ID != "full" {
		t.Errorf("the item closest to quorum should come first, got %s", q[0].ID)
	}
	if err := c.Decide(ctx, Input{ItemID: "gold-own", Action: schemas.ActionAccept}); err == nil {
		t.Error("curator could answer their own gold item")
	}
	must(t, c.Decide(ctx, Input{ItemID: "r1", Action: schemas.ActionAccept}))
	must(t, c.Decide(ctx, Input{ItemID: "r2", Action: ActionSkip}))
	q, _ = c.Queue(ctx, Filter{}, 0)
	if containsItem(q, "r1") || containsItem(q, "r2") {
		t.Errorf("decided or skipped items shown again: %v", q)
	}
	// Filters.
	if q, _ := c.Queue(ctx, Filter{Kind: KindAudit}, 0); len(q) != 1 || q[0].ID != "full" {
		t.Errorf("kind filter: %v", q)
	}
	lo := 0.4
	if q, _ := c.Queue(ctx, Filter{Score: "quality", MinScore: &lo}, 0); len(q) != 2 {
		t.Errorf("score filter: %v", q)
	}
	hi := 0.9
	if q, _ := c.Queue(ctx, Filter{Score: "quality", MinScore: &hi}, 0); len(q) != 0 {
		t.Errorf("score filter above every score: %v", q)
	}
	if q, _ := c.Queue(ctx, Filter{Query: "TEXT OF gold-other"}, 0); len(q) != 1 {
		t.Errorf("text filter: %v", q)
	}
}

func TestMaxVotesStopsAssignment(t *testing.T) {
	ctx := context.Background()
	keys := make([]crypto.PrivKey, 3)
	ids := make([]string, 3)
	for i := range keys {
		keys[i], ids[i] = newKey(t)
	}
	c := openTest(t, Config{Quorum: 3, MaxVotes: 3, Trusted: ids})
	must(t, c.Enqueue(ctx, testItem("d", KindReview)))
	now := c.cfg.Now()
	for i, action := range []string{schemas.ActionAccept, schemas.ActionAccept} {
		k, id := keys[i], ids[i]
		must(t, c.acceptDecision(ctx, signed(t, k, id, "d", action, "", now), false))
		if q, _ := c.Queue(ctx, Filter{}, 0); !containsItem(q, "d") {
			t.Fatalf("item hidden after %d of 3 votes", i+1)
		}
	}
	must(t, c.acceptDecision(ctx, signed(t, keys[2], ids[2], "d", schemas.ActionReject, "spam", now), false))
	if got := itemState(t, c, "d"); got != StateAdjudication {
		t.Fatalf("2-1 under quorum 3 is %s, want adjudication", got)
	}
	if q, _ := c.Queue(ctx, Filter{}, 0); containsItem(q, "d") {
		t.Error("item with MaxVotes ballots still assigned for review")
	}
}
