package curator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/schemas"
)

// These tests are the curator half of the adversary suite (issue 13): each
// plays a modified client that makes fresh keys and signs well-formed
// messages against the real curator code, and asserts what the defence
// guarantees. A Sybil here is any key the owner neither trusts nor has
// seen answer gold items.

// sybil is one fresh identity.
type sybil struct {
	key crypto.PrivKey
	id  string
}

func sybils(t *testing.T, n int) []sybil {
	t.Helper()
	out := make([]sybil, n)
	for i := range out {
		out[i].key, out[i].id = newKey(t)
	}
	return out
}

// vote signs a decision as s, with edits and the adjudication flag, and
// returns its wire form.
func (s sybil) vote(t *testing.T, item, action string, edits map[string]string, adjudication bool) []byte {
	t.Helper()
	d := &schemas.Decision{
		Version: schemas.DecisionVersion, ItemID: item, Curator: s.id, Action: action, Edits: edits,
		Adjudication: adjudication, Timestamp: time.Now().UTC(), Nonce: newNonce(),
	}
	if action == schemas.ActionReject {
		d.Reason = "spam"
	}
	sig, err := s.key.Sign(d.SigningBytes())
	must(t, err)
	d.Signature = sig
	return wire(t, schemas.CurationMessage{Decision: d})
}

// TestSybilsCannotSettleOrCrowdAnItem: any number of fresh keys agreeing
// (issue 13 item 9: "two fresh keys settle an item with any edited text")
// neither settle an item, nor fill its MaxVotes to push it to
// adjudication or out of the queue.
func TestSybilsCannotSettleOrCrowdAnItem(t *testing.T) {
	for _, n := range []int{2, 40, 200} {
		t.Run(fmt.Sprintf("%d keys", n), func(t *testing.T) {
			ctx := context.Background()
			c := openTest(t, Config{})
			must(t, c.Enqueue(ctx, testItem("doc", KindReview), testItem("doc2", KindReview)))
			for _, s := range sybils(t, n) {
				must(t, c.Receive(ctx, s.vote(t, "doc", schemas.ActionAccept, map[string]string{"text": "Buy cheap pills at spam.example"}, false)))
				must(t, c.Receive(ctx, s.vote(t, "doc2", schemas.ActionReject, nil, false)))
			}
			for _, id := range []string{"doc", "doc2"} {
				if got := itemState(t, c, id); got != StateOpen {
					t.Fatalf("%d fresh keys made %s %s", n, id, got)
				}
			}
			if s, _, _ := c.Settled(ctx, 0); len(s) != 0 {
				t.Fatalf("settlements from fresh keys: %+v", s)
			}
			if q, _ := c.Queue(ctx, Filter{}, 0); !containsItem(q, "doc") || !containsItem(q, "doc2") {
				t.Fatalf("fresh keys crowded items out of the queue: %v", q)
			}
			reps, err := c.Reputations(ctx)
			must(t, err)
			for _, r := range reps {
				if r.Curator != c.PeerID() && r.Weight != 0 {
					t.Errorf("fresh key with weight: %+v", r)
				}
			}
		})
	}
}

// TestNewcomerQualifiesByGold: a newcomer's votes count once they have
// answered QualifyAfter gold items correctly (and only at the owner, who
// holds the answers); wrong answers keep them out.
func TestNewcomerQualifiesByGold(t *testing.T) {
	ctx := context.Background()
	trustedKey, trusted := newKey(t)
	c := openTest(t, Config{Trusted: []string{trusted}})
	good, bad := sybils(t, 1)[0], sybils(t, 1)[0]
	for i := range 3 {
		must(t, c.Enqueue(ctx, testItem(fmt.Sprintf("g%d", i), KindGold))) // answer: reject
	}
	must(t, c.Enqueue(ctx, testItem("doc", KindReview), testItem("doc2", KindReview)))
	for i := range 3 {
		must(t, c.Receive(ctx, good.vote(t, fmt.Sprintf("g%d", i), schemas.ActionReject, nil, false)))
		must(t, c.Receive(ctx, bad.vote(t, fmt.Sprintf("g%d", i), schemas.ActionAccept, nil, false)))
	}
	reps, err := c.Reputations(ctx)
	must(t, err)
	role := map[string]Reputation{}
	for _, r := range reps {
		role[r.Curator] = r
	}
	if r := role[good.id]; r.Role != RoleQualified || r.Weight != 1 {
		t.Fatalf("newcomer with 3 right gold answers: %+v", r)
	}
	if r := role[bad.id]; r.Role != RoleNewcomer || r.Weight != 0 {
		t.Fatalf("newcomer with 3 wrong gold answers: %+v", r)
	}
	trustedS := sybil{trustedKey, trusted}
	must(t, c.Receive(ctx, bad.vote(t, "doc2", schemas.ActionAccept, nil, false)))
	must(t, c.Receive(ctx, trustedS.vote(t, "doc2", schemas.ActionAccept, nil, false)))
	if got := itemState(t, c, "doc2"); got != StateOpen {
		t.Fatalf("trusted + unqualified made the item %s", got)
	}
	must(t, c.Receive(ctx, good.vote(t, "doc", schemas.ActionAccept, nil, false)))
	must(t, c.Receive(ctx, trustedS.vote(t, "doc", schemas.ActionAccept, nil, false)))
	if got := itemState(t, c, "doc"); got != StateSettled {
		t.Fatalf("trusted + qualified: %s, want settled", got)
	}
}

// TestSybilsCannotAdjudicate: only the owner and the adjudicators it
// named settle a split item; a fresh key, or a curator who qualified by
// gold, is refused, and a named adjudicator cannot settle an open item
// alone ("a newcomer can adjudicate an open item alone").
func TestSybilsCannotAdjudicate(t *testing.T) {
	ctx := context.Background()
	judgeKey, judge := newKey(t)
	voters := sybils(t, 2)
	c := openTest(t, Config{MaxVotes: 2, Adjudicators: []string{judge}, Trusted: []string{voters[0].id, voters[1].id}})
	must(t, c.Enqueue(ctx, testItem("doc", KindReview)))
	judgeS := sybil{judgeKey, judge}
	must(t, c.Receive(ctx, judgeS.vote(t, "doc", schemas.ActionReject, nil, true)))
	if got := itemState(t, c, "doc"); got != StateOpen {
		t.Fatalf("adjudication of an open item: %s", got)
	}
	// Fresh keys adjudicating an open item: refused and stored nowhere.
	for _, s := range sybils(t, 10) {
		if err := c.Receive(ctx, s.vote(t, "doc", schemas.ActionAccept, nil, true)); !errors.Is(err, ErrNotAdjudicator) {
			t.Fatalf("fresh key adjudicating: %v, want ErrNotAdjudicator", err)
		}
	}
	// The split that sends it to adjudication; the judge's early
	// adjudication (reject) then settles it.
	must(t, c.Receive(ctx, voters[0].vote(t, "doc", schemas.ActionAccept, nil, false)))
	if got := itemState(t, c, "doc"); got != StateOpen {
		t.Fatalf("one vote: %s", got)
	}
	must(t, c.Receive(ctx, voters[1].vote(t, "doc", schemas.ActionReject, nil, false)))
	s, _, err := c.Settled(ctx, 0)
	must(t, err)
	if len(s) != 1 || !s[0].Adjudicated || s[0].Decision != schemas.ActionReject || s[0].Voters[len(s[0].Voters)-1] != judge {
		t.Fatalf("settlement %+v, want the judge's reject", s)
	}
	var n int
	must(t, c.db.QueryRow(`SELECT COUNT(*) FROM decisions WHERE adjudication = 1 AND curator != ?`, judge).Scan(&n))
	if n != 0 {
		t.Fatalf("%d refused adjudications stored", n)
	}
}

// TestEditSettlesOnlyByAgreement: one curator's edited text does not reach
// the dataset, however many fresh keys submit the same edit; the same
// edit (after normalisation) from a quorum of qualified curators does.
func TestEditSettlesOnlyByAgreement(t *testing.T) {
	ctx := context.Background()
	cur := sybils(t, 2)
	c := openTest(t, Config{Trusted: []string{cur[0].id, cur[1].id}})
	doc2 := testItem("doc2", KindReview)
	doc2.Doc.Text = "The council approved the bridge on Monday. Work starts in spring and the road closes for a month. Residents asked for a footpath."
	must(t, c.Enqueue(ctx, testItem("doc", KindReview), doc2))
	spam := map[string]string{"text": "Buy cheap pills at spam.example", "title": "Spam"}
	for _, s := range sybils(t, 30) {
		must(t, c.Receive(ctx, s.vote(t, "doc", schemas.ActionAccept, spam, false)))
	}
	must(t, c.Receive(ctx, cur[0].vote(t, "doc", schemas.ActionAccept, spam, false)))
	must(t, c.Receive(ctx, cur[1].vote(t, "doc", schemas.ActionAccept, nil, false)))
	s, _, err := c.Settled(ctx, 0)
	must(t, err)
	if len(s) != 1 || s[0].Decision != schemas.ActionAccept {
		t.Fatalf("settlements %+v", s)
	}
	orig := testItem("doc", KindReview)
	if s[0].Doc.Text != orig.Doc.Text || *s[0].Doc.Title != *orig.Doc.Title || len(s[0].Edited) != 0 {
		t.Fatalf("a lone edit reached the settlement: text %q title %q edited %v", s[0].Doc.Text, *s[0].Doc.Title, s[0].Edited)
	}
	if !slices.Equal(s[0].Disputed, []string{"text", "title"}) {
		t.Fatalf("disputed %v, want text and title", s[0].Disputed)
	}
	// Two qualified curators typing the same correction settle it.
	// (A correction of one word: a rewrite needs more, see
	// TestRewriteNeedsMoreAgreementOrAdjudication.)
	fix := "The council approved\nthe bridge on Tuesday. Work starts in spring and the road closes for a month. Residents asked for a footpath."
	want := "The council approved the bridge on Tuesday. Work starts in spring and the road closes for a month. Residents asked for a footpath."
	must(t, c.Receive(ctx, cur[0].vote(t, "doc2", schemas.ActionAccept, map[string]string{"text": fix}, false)))
	must(t, c.Receive(ctx, cur[1].vote(t, "doc2", schemas.ActionAccept, map[string]string{"text": "  " + want + " "}, false)))
	s, _, err = c.Settled(ctx, s[0].Seq)
	must(t, err)
	if len(s) != 1 || normaliseEdit(s[0].Doc.Text) != want || !slices.Equal(s[0].Edited, []string{"text"}) ||
		s[0].Doc.ContentSHA256 != schemas.SHA256Hex([]byte(s[0].Doc.Text)) {
		t.Fatalf("agreed edit: %+v", s)
	}
}

// TestGoldNeverLeavesTheOwner: what the owner gossips and backfills for a
// gold item has the same shape as a review item (same keys, kind review)
// and no answer ("gold answers travel on the wire inside the announced
// item"). A gold answer arriving on the wire is refused.
func TestGoldNeverLeavesTheOwner(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	spy := hubBus{h}
	spyCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := spy.Subscribe(spyCtx)
	must(t, err)
	var mu sync.Mutex
	var seen [][]byte
	go func() {
		for m := range ch {
			mu.Lock()
			seen = append(seen, m)
			mu.Unlock()
		}
	}()
	ownerKey, owner := newKey(t)
	c := openTest(t, Config{Key: ownerKey, Bus: hubBus{h}})
	gold := testItem("g1", KindGold)
	gold.Gold.Note = "secret note"
	must(t, c.Enqueue(ctx, gold, testItem("r1", KindReview)))
	// An item queued without a bus is announced at backfill time.
	quiet := openTest(t, Config{})
	must(t, quiet.Enqueue(ctx, testItem("g2", KindGold), testItem("r2", KindReview)))
	testutil.Eventually(t, curatorWait, "announcements", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 2 })
	page, err := c.BackfillPage(ctx, "", 0)
	must(t, err)
	page2, err := quiet.BackfillPage(ctx, "", 0)
	must(t, err)
	mu.Lock()
	msgs := append(append(slices.Clone(seen), page.Messages...), page2.Messages...)
	mu.Unlock()
	shapes := map[string]string{}
	for _, m := range msgs {
		if bytes.Contains(bytes.ToLower(m), []byte("gold")) || bytes.Contains(m, []byte("secret note")) {
			t.Fatalf("a message names gold: %s", m)
		}
		cm, err := VerifyMessage(m)
		must(t, err)
		var fields map[string]json.RawMessage
		must(t, json.Unmarshal(cm.Item.Item, &fields))
		var it Item
		must(t, json.Unmarshal(cm.Item.Item, &it))
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range fields {
				if !yield(k) {
					return
				}
			}
		})
		shapes[it.ID] = fmt.Sprint(keys, it.Kind)
	}
	if shapes["g1"] != shapes["r1"] || shapes["g2"] != shapes["r2"] || shapes["g1"] == "" {
		t.Fatalf("gold and review items differ on the wire: %v", shapes)
	}
	// The owner still knows the answer.
	if it, _, err := c.item(ctx, "g1"); err != nil || it.Gold == nil || it.Gold.Decision != schemas.ActionReject {
		t.Fatalf("the owner lost the gold answer: %+v %v", it, err)
	}
	// A source that sends a gold answer anyway is refused.
	r := openTest(t, Config{ItemSources: []string{owner}})
	body, _ := json.Marshal(gold)
	a := schemas.ItemAnnouncement{Source: owner, SentAt: time.Now(), Nonce: newNonce(), Item: body}
	a.Signature, _ = ownerKey.Sign(a.SigningBytes())
	if err := r.Receive(ctx, wire(t, schemas.CurationMessage{Item: &a})); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("gold answer on the wire: %v, want ErrUntrusted", err)
	}
}

// TestSybilsCannotChangeRules: a rule signed by a fresh key, or by a
// curator who qualified by gold but is not trusted, is refused whatever
// version it claims ("any curator's signed rule with the highest version
// overrides extraction rules"); among trusted authors the order is the
// one this process (the coordinator's) accepted them in.
func TestSybilsCannotChangeRules(t *testing.T) {
	ctx := context.Background()
	authors := sybils(t, 2)
	c := openTest(t, Config{Trusted: []string{authors[0].id, authors[1].id}})
	rule := func(s sybil, version int, body string) []byte {
		r := schemas.ExtractionRule{Version: 1, Domain: "news.example.org", RuleVersion: version, Body: body,
			Author: s.id, CreatedAt: time.Now().UTC(), Nonce: newNonce()}
		sig, err := s.key.Sign(r.SigningBytes())
		must(t, err)
		r.Signature = sig
		return wire(t, schemas.CurationMessage{Rule: &r})
	}
	qualified := sybils(t, 1)[0]
	for i := range 3 {
		id := fmt.Sprintf("g%d", i)
		must(t, c.Enqueue(ctx, testItem(id, KindGold)))
		must(t, c.Receive(ctx, qualified.vote(t, id, schemas.ActionReject, nil, false)))
	}
	for _, s := range append(sybils(t, 5), qualified) {
		if err := c.Receive(ctx, rule(s, 1_000_000, ".ads")); !errors.Is(err, ErrUntrusted) {
			t.Fatalf("rule by %s: %v, want ErrUntrusted", s.id, err)
		}
	}
	if rs, _ := c.Rules(ctx); len(rs) != 0 {
		t.Fatalf("untrusted rules in force: %+v", rs)
	}
	must(t, c.Receive(ctx, rule(authors[0], 50, "article")))
	must(t, c.Receive(ctx, rule(authors[1], 1, "main")))
	rs, err := c.Rules(ctx)
	must(t, err)
	if len(rs) != 1 || rs[0].Body != "main" || rs[0].RuleVersion != 2 || rs[0].Author != authors[1].id {
		t.Fatalf("rules in force %+v, want the later accepted one at version 2", rs)
	}
	hist, err := c.RuleHistory(ctx, "news.example.org")
	must(t, err)
	if len(hist) != 2 || hist[0].RuleVersion != 2 || hist[1].RuleVersion != 1 {
		t.Fatalf("history %+v", hist)
	}
}

// TestStoreV1MigratesRuleVersions: a store from before assigned versions
// keeps its rules, numbered in the order version 1 ranked them (highest
// claimed version last), so the rule in force does not change.
func TestStoreV1MigratesRuleVersions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := Open(ctx, dir, Config{Logger: quietLogger()})
	must(t, err)
	must(t, c.Close())
	db, err := openDB(ctx, dir+"/curator.db")
	must(t, err)
	_, err = db.Exec(`ALTER TABLE rules DROP COLUMN assigned`)
	must(t, err)
	for i, body := range []string{"article", "main"} {
		r := schemas.ExtractionRule{Version: 1, Domain: "news.example.org", RuleVersion: 9 - i, Body: body,
			Author: "a", CreatedAt: time.Now().UTC(), Nonce: newNonce()}
		raw, _ := json.Marshal(r)
		_, err = db.Exec(`INSERT INTO rules(domain, rule_version, author, nonce, created_at, raw) VALUES(?,?,?,?,?,?)`,
			r.Domain, r.RuleVersion, r.Author, r.Nonce, r.CreatedAt.UnixNano(), raw)
		must(t, err)
	}
	_, err = db.Exec(`PRAGMA user_version = 1`)
	must(t, err)
	must(t, db.Close())
	c2, err := Open(ctx, dir, Config{Logger: quietLogger()})
	must(t, err)
	defer c2.Close()
	rs, err := c2.Rules(ctx)
	must(t, err)
	if len(rs) != 1 || rs[0].Body != "article" || rs[0].RuleVersion != 2 {
		t.Fatalf("rules after the upgrade: %+v", rs)
	}
	hist, err := c2.RuleHistory(ctx, "news.example.org")
	must(t, err)
	if len(hist) != 2 || hist[1].Body != "main" || hist[1].RuleVersion != 1 {
		t.Fatalf("history after the upgrade: %+v", hist)
	}
}

// TestQuorumBeatsAWaitingAdjudication: an adjudication sent early does not
// override curators who then reach the quorum.
func TestQuorumBeatsAWaitingAdjudication(t *testing.T) {
	ctx := context.Background()
	judgeKey, judge := newKey(t)
	voters := sybils(t, 2)
	c := openTest(t, Config{MaxVotes: 2, Adjudicators: []string{judge}, Trusted: []string{voters[0].id, voters[1].id}})
	must(t, c.Enqueue(ctx, testItem("doc", KindReview)))
	must(t, c.Receive(ctx, sybil{judgeKey, judge}.vote(t, "doc", schemas.ActionReject, nil, true)))
	must(t, c.Receive(ctx, voters[0].vote(t, "doc", schemas.ActionAccept, nil, false)))
	must(t, c.Receive(ctx, voters[1].vote(t, "doc", schemas.ActionAccept, nil, false)))
	s, _, err := c.Settled(ctx, 0)
	must(t, err)
	if len(s) != 1 || s[0].Adjudicated || s[0].Decision != schemas.ActionAccept {
		t.Fatalf("settlement %+v, want the quorum's accept", s)
	}
}

// TestOwnerVouchesAtRunTime: the queue's owner can vouch for a curator
// from its UI (PUT /api/trusted); the vouch persists, counts at once for
// open items, and nobody but the owner may vouch.
func TestOwnerVouchesAtRunTime(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := Open(ctx, dir, Config{Logger: quietLogger(), UndoWindow: time.Hour})
	must(t, err)
	must(t, c.Enqueue(ctx, testItem("doc", KindReview)))
	friend := sybils(t, 1)[0]
	must(t, c.Receive(ctx, friend.vote(t, "doc", schemas.ActionAccept, nil, false)))
	decideAndFlush(t, c, Input{ItemID: "doc", Action: schemas.ActionAccept})
	if got := itemState(t, c, "doc"); got != StateOpen {
		t.Fatalf("owner + newcomer: %s", got)
	}
	h := c.Handler()
	if w := request(t, h, "PUT", "/api/trusted", "127.0.0.1:7790", map[string]any{"vouched": []string{"nope"}}, true); w.Code != 400 {
		t.Fatalf("vouching for a non-peer-id: %d %s", w.Code, w.Body)
	}
	if w := request(t, h, "PUT", "/api/trusted", "127.0.0.1:7790", map[string]any{"vouched": []string{friend.id}}, false); w.Code != 403 {
		t.Fatalf("vouching without the UI header: %d", w.Code)
	}
	w := request(t, h, "PUT", "/api/trusted", "127.0.0.1:7790", map[string]any{"vouched": []string{friend.id}}, true)
	if w.Code != 200 {
		t.Fatalf("vouching: %d %s", w.Code, w.Body)
	}
	if got := itemState(t, c, "doc"); got != StateSettled {
		t.Fatalf("after vouching for the second voter: %s, want settled", got)
	}
	must(t, c.Close())
	c, err = Open(ctx, dir, Config{Logger: quietLogger()})
	must(t, err)
	defer c.Close()
	if v := c.Vouched(); !slices.Equal(v, []string{friend.id}) {
		t.Fatalf("vouched after reopening: %v", v)
	}
	// A curator that follows an owner may not vouch.
	_, owner := newKey(t)
	follower := openTest(t, Config{ItemSources: []string{owner}})
	if err := follower.SetVouched(ctx, []string{friend.id}); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("a follower vouching: %v, want ErrUntrusted", err)
	}
}
