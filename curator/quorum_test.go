package curator

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/swardnet/sward/schemas"
)

// network starts n curators on one hub. The first one is the coordinator's
// process: the others accept its items.
func network(t *testing.T, n int, cfg Config) []*Curator {
	t.Helper()
	h := newHub()
	keys := make([]string, n)
	cs := make([]*Curator, n)
	var first string
	for i := range cs {
		k, id := newKey(t)
		keys[i] = id
		if i == 0 {
			first = id
		}
		c := cfg
		c.Key = k
		c.Bus = hubBus{h}
		c.ItemSources = []string{first}
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
		eventually(t, "item gossiped", func() bool {
			q, err := x.Queue(ctx, Filter{}, 0)
			return err == nil && len(q) == 1
		})
	}
	decideAndFlush(t, a, Input{ItemID: "doc-1", Action: schemas.ActionAccept, Edits: map[string]string{"title": "Better title", "field:price": "12"}})
	decideAndFlush(t, b, Input{ItemID: "doc-1", Action: schemas.ActionReject, Reason: "boilerplate"})
	for _, x := range cs {
		eventually(t, "two votes seen", func() bool {
			v, err := x.View(ctx, "doc-1")
			return err == nil && v.Votes == 2
		})
		if got := itemState(t, x, "doc-1"); got != StateOpen {
			t.Fatalf("after 1-1 the item is %s, want open", got)
		}
	}
	decideAndFlush(t, c, Input{ItemID: "doc-1", Action: schemas.ActionAccept})
	for i, x := range cs {
		var got []Settlement
		eventually(t, fmt.Sprintf("settlement in process %d", i), func() bool {
			s, _, err := x.Settled(ctx, 0)
			got = s
			return err == nil && len(s) == 1
		})
		s := got[0]
		if s.Decision != schemas.ActionAccept || s.Adjudicated || len(s.Voters) != 3 {
			t.Errorf("process %d settled %+v, want accept by 3 voters", i, s)
		}
		if s.Doc.Title == nil || *s.Doc.Title != "Better title" || s.Fields["price"] != "12" {
			t.Errorf("process %d: edits not applied: title %v fields %v", i, s.Doc.Title, s.Fields)
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

func TestPoorGoldAccuracyLosesWeightAndAdjudication(t *testing.T) {
	ctx := context.Background()
	cs := network(t, 4, Config{})
	a, b, poor, judge := cs[0], cs[1], cs[2], cs[3]
	// Four gold items whose answer is reject; the poor curator accepts all,
	// the others answer right.
	for i := range 4 {
		must(t, a.Enqueue(ctx, testItem(fmt.Sprintf("gold-%d", i), KindGold)))
	}
	must(t, a.Enqueue(ctx, testItem("doc-x", KindReview), testItem("doc-y", KindReview)))
	for _, x := range cs[1:] {
		eventually(t, "items gossiped", func() bool {
			q, err := x.Queue(ctx, Filter{}, 0)
			return err == nil && len(q) == 6
		})
	}
	for i := range 4 {
		id := fmt.Sprintf("gold-%d", i)
		decideAndFlush(t, poor, Input{ItemID: id, Action: schemas.ActionAccept})
		decideAndFlush(t, b, Input{ItemID: id, Action: schemas.ActionReject, Reason: "spam"})
	}
	for _, x := range cs {
		eventually(t, "gold answers seen", func() bool {
			reps, err := x.Reputations(ctx)
			if err != nil {
				return false
			}
			n := 0
			for _, r := range reps {
				n += r.GoldTotal
			}
			return n == 8
		})
	}
	reps, err := a.Reputations(ctx)
	must(t, err)
	byPeer := map[string]Reputation{}
	for _, r := range reps {
		byPeer[r.Curator] = r
	}
	if r := byPeer[poor.PeerID()]; r.GoldCorrect != 0 || r.Weight >= 0.75 {
		t.Fatalf("poor curator reputation %+v: want no correct answers and a reduced weight", r)
	}
	if r := byPeer[b.PeerID()]; r.GoldCorrect != 4 || r.Weight != 1 {
		t.Fatalf("good curator reputation %+v: want 4 correct and full weight", r)
	}

	// doc-x: a good and the poor curator agree; their weight does not reach
	// the quorum, so the item stays open for a third vote.
	decideAndFlush(t, a, Input{ItemID: "doc-x", Action: schemas.ActionAccept})
	decideAndFlush(t, poor, Input{ItemID: "doc-x", Action: schemas.ActionAccept})
	eventually(t, "votes on doc-x", func() bool { v, _ := a.View(ctx, "doc-x"); return v != nil && v.Votes == 2 })
	if got := itemState(t, a, "doc-x"); got != StateOpen {
		t.Fatalf("good+poor agreement settled the item (%s); the poor curator's weight should not count fully", got)
	}
	// The third vote disagrees: no answer has the quorum after MaxVotes
	// ballots, so the item goes to adjudication.
	decideAndFlush(t, b, Input{ItemID: "doc-x", Action: schemas.ActionReject, Reason: "off-topic"})
	for _, x := range cs {
		eventually(t, "adjudication", func() bool { return itemState(t, x, "doc-x") == StateAdjudication })
	}
	if q, _ := b.Queue(ctx, Filter{}, 0); containsItem(q, "doc-x") {
		t.Error("an item waiting for adjudication is still in the review queue")
	}
	if q, _ := a.Queue(ctx, Filter{Adjudication: true}, 0); containsItem(q, "doc-x") {
		t.Error("a curator who voted is offered the adjudication")
	}
	if err := a.Decide(ctx, Input{ItemID: "doc-x", Action: schemas.ActionAccept, Adjudication: true}); !errors.Is(err, ErrNotAdjudicator) {
		t.Errorf("a voter adjudicating: err %v, want ErrNotAdjudicator", err)
	}
	q, err := judge.Queue(ctx, Filter{Adjudication: true}, 0)
	must(t, err)
	if !containsItem(q, "doc-x") {
		t.Fatalf("adjudication queue of the judge = %v", q)
	}
	decideAndFlush(t, judge, Input{ItemID: "doc-x", Action: schemas.ActionReject, Reason: "off-topic", Adjudication: true})
	for i, x := range cs {
		eventually(t, fmt.Sprintf("adjudicated settlement in %d", i), func() bool {
			s, _, err := x.Settled(ctx, 0)
			return err == nil && len(s) == 1 && s[0].ItemID == "doc-x" && s[0].Decision == schemas.ActionReject &&
				s[0].Adjudicated && s[0].Reason == "off-topic"
		})
	}
	// doc-y: two full-weight curators agreeing settle at once.
	decideAndFlush(t, a, Input{ItemID: "doc-y", Action: schemas.ActionAccept})
	decideAndFlush(t, b, Input{ItemID: "doc-y", Action: schemas.ActionAccept})
	eventually(t, "doc-y settled", func() bool { return itemState(t, a, "doc-y") == StateSettled })

	st, err := a.Stats(ctx)
	must(t, err)
	for _, cur := range st.Curators {
		if cur.Curator == poor.PeerID() && (cur.GoldTotal != 4 || cur.Accuracy != 0) {
			t.Errorf("stats for the poor curator: %+v", cur)
		}
	}
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
	c := openTest(t, Config{Key: key, MaxVotes: 3})
	own := testItem("gold-own", KindGold)
	own.Gold.Author = me
	other := testItem("gold-other", KindGold)
	must(t, c.Enqueue(ctx, own, other, testItem("r1", KindReview), testItem("r2", KindReview), testItem("full", KindAudit)))
	// Two other curators split on "full": it stays open with two ballots.
	now := c.cfg.Now()
	k1, id1 := newKey(t)
	must(t, c.acceptDecision(ctx, signed(t, k1, id1, "full", schemas.ActionAccept, "", now), false))
	k2, id2 := newKey(t)
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
	c := openTest(t, Config{Quorum: 3, MaxVotes: 3})
	must(t, c.Enqueue(ctx, testItem("d", KindReview)))
	now := c.cfg.Now()
	for i, action := range []string{schemas.ActionAccept, schemas.ActionAccept} {
		k, id := newKey(t)
		must(t, c.acceptDecision(ctx, signed(t, k, id, "d", action, "", now), false))
		if q, _ := c.Queue(ctx, Filter{}, 0); !containsItem(q, "d") {
			t.Fatalf("item hidden after %d of 3 votes", i+1)
		}
	}
	k, id := newKey(t)
	must(t, c.acceptDecision(ctx, signed(t, k, id, "d", schemas.ActionReject, "spam", now), false))
	if got := itemState(t, c, "d"); got != StateAdjudication {
		t.Fatalf("2-1 under quorum 3 is %s, want adjudication", got)
	}
	if q, _ := c.Queue(ctx, Filter{}, 0); containsItem(q, "d") {
		t.Error("item with MaxVotes ballots still assigned for review")
	}
}
