package curator

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

func TestUndo(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	var published []schemas.CurationMessage
	k, _ := newKey(t)
	c := openTest(t, Config{Key: k, Quorum: 1, Bus: hubBus{h}})
	sub, err := hubBus{h}.Subscribe(t.Context())
	must(t, err)
	must(t, c.Enqueue(ctx, testItem("a", KindReview), testItem("b", KindReview), testItem("c", KindReview)))

	// Inside the undo window a decision never leaves the process.
	must(t, c.Decide(ctx, Input{ItemID: "a", Action: schemas.ActionAccept}))
	reopened, err := c.Undo(ctx)
	must(t, err)
	if !reflect.DeepEqual(reopened, []string{"a"}) {
		t.Fatalf("reopened %v", reopened)
	}
	must(t, c.Flush(ctx))
	if got := itemState(t, c, "a"); got != StateOpen {
		t.Fatalf("undone decision settled the item: %s", got)
	}
	if q, _ := c.Queue(ctx, Filter{}, 0); !containsItem(q, "a") {
		t.Fatal("undone item not back in the queue")
	}

	// A skip is undone too.
	must(t, c.Decide(ctx, Input{ItemID: "b", Action: ActionSkip}))
	if q, _ := c.Queue(ctx, Filter{}, 0); containsItem(q, "b") {
		t.Fatal("skipped item still queued")
	}
	_, err = c.Undo(ctx)
	must(t, err)
	if q, _ := c.Queue(ctx, Filter{}, 0); !containsItem(q, "b") {
		t.Fatal("un-skipped item not queued")
	}

	// Once published and settled, undo is refused.
	must(t, c.Decide(ctx, Input{ItemID: "c", Action: schemas.ActionReject, Reason: "spam"}))
	must(t, c.Flush(ctx))
	if got := itemState(t, c, "c"); got != StateSettled {
		t.Fatalf("quorum-1 decision: %s", got)
	}
	if _, err := c.Undo(ctx); !errors.Is(err, ErrSettled) {
		t.Fatalf("undo after settling: %v, want ErrSettled", err)
	}
	if _, err := c.Undo(ctx); !errors.Is(err, ErrNothingToUndo) {
		t.Fatalf("empty history: %v, want ErrNothingToUndo", err)
	}
	// Exactly one decision reached the bus: the undone one never did.
	deadline := time.After(2 * time.Second)
	for len(published) < 4 { // three items and one decision
		select {
		case data := <-sub:
			m, err := VerifyMessage(data)
			must(t, err)
			published = append(published, *m)
		case <-deadline:
			t.Fatalf("messages on the bus: %d", len(published))
		}
	}
	decisions := 0
	for _, m := range published {
		if m.Decision != nil {
			decisions++
			if m.Decision.ItemID != "c" {
				t.Errorf("decision on %s was gossiped", m.Decision.ItemID)
			}
		}
	}
	select {
	case data := <-sub:
		t.Fatalf("unexpected message %s", data)
	case <-time.After(200 * time.Millisecond):
	}
	if decisions != 1 {
		t.Fatalf("%d decisions gossiped, want 1", decisions)
	}
}

func TestRetractionAfterPublishing(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, Config{})
	must(t, c.Enqueue(ctx, testItem("a", KindReview)))
	must(t, c.Decide(ctx, Input{ItemID: "a", Action: schemas.ActionAccept}))
	must(t, c.Flush(ctx))
	if v, _ := c.View(ctx, "a"); v.Votes != 1 {
		t.Fatalf("votes %d", v.Votes)
	}
	_, err := c.Undo(ctx)
	must(t, err)
	if v, _ := c.View(ctx, "a"); v.Votes != 0 {
		t.Fatalf("retracted vote still counted: %d", v.Votes)
	}
	// The retracted curator can vote again.
	must(t, c.Decide(ctx, Input{ItemID: "a", Action: schemas.ActionReject, Reason: "spam"}))
	must(t, c.Flush(ctx))
	v, _ := c.View(ctx, "a")
	if v.Votes != 1 {
		t.Fatalf("votes after re-voting: %d", v.Votes)
	}
}

func TestDecideValidation(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, Config{})
	must(t, c.Enqueue(ctx, testItem("a", KindReview)))
	tests := []struct {
		name string
		in   Input
	}{
		{"unknown item", Input{ItemID: "nope", Action: schemas.ActionAccept}},
		{"reject without reason", Input{ItemID: "a", Action: schemas.ActionReject}},
		{"unknown action", Input{ItemID: "a", Action: "maybe"}},
		{"unknown field", Input{ItemID: "a", Action: schemas.ActionAccept, Edits: map[string]string{"colour": "red"}}},
		{"unknown structured field", Input{ItemID: "a", Action: schemas.ActionAccept, Edits: map[string]string{"field:colour": "red"}}},
		{"bad date", Input{ItemID: "a", Action: schemas.ActionAccept, Edits: map[string]string{"published_at": "soon"}}},
		{"adjudication of an open item", Input{ItemID: "a", Action: schemas.ActionAccept, Adjudication: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Decide(ctx, tt.in); err == nil {
				t.Fatal("Decide accepted it")
			}
		})
	}
	if q, _ := c.Queue(ctx, Filter{}, 0); !containsItem(q, "a") {
		t.Fatal("a refused decision hid the item")
	}
}

func TestBulkOnFilteredSet(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, Config{Quorum: 1})
	spam1, spam2, good := testItem("s1", KindReview), testItem("s2", KindAudit), testItem("g", KindReview)
	spam1.Reasons = []string{"spam score high"}
	spam2.Reasons = []string{"quality: low", "spam score high"}
	gold := testItem("gold", KindGold)
	gold.Reasons = []string{"spam score high"}
	must(t, c.Enqueue(ctx, spam1, spam2, good, gold))
	n, err := c.Bulk(ctx, Filter{Reason: "SPAM"}, schemas.ActionReject, "spam", 100)
	must(t, err)
	if n != 2 {
		t.Fatalf("bulk decided %d, want 2 (gold left out)", n)
	}
	q, _ := c.Queue(ctx, Filter{}, 0)
	if len(q) != 2 || !containsItem(q, "g") || !containsItem(q, "gold") {
		t.Fatalf("queue after bulk: %v", q)
	}
	// One undo takes back the whole bulk action.
	reopened, err := c.Undo(ctx)
	must(t, err)
	if len(reopened) != 2 {
		t.Fatalf("undo reopened %v", reopened)
	}
	n, err = c.Bulk(ctx, Filter{Reason: "spam", Kind: KindAudit}, schemas.ActionReject, "spam", 100)
	must(t, err)
	must(t, c.Flush(ctx))
	s, _, err := c.Settled(ctx, 0)
	must(t, err)
	if n != 1 || len(s) != 1 || s[0].ItemID != "s2" || s[0].Decision != schemas.ActionReject || s[0].Reason != "spam" {
		t.Fatalf("bulk reject of audit items: n=%d settled %+v", n, s)
	}
	if _, err := c.Bulk(ctx, Filter{}, ActionSkip, "", 10); err == nil {
		t.Fatal("bulk skip accepted")
	}
}

func TestSettledCursorAndEdits(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, Config{Quorum: 1})
	must(t, c.Enqueue(ctx, testItem("a", KindReview), testItem("b", KindReview)))
	must(t, c.Decide(ctx, Input{ItemID: "a", Action: schemas.ActionAccept, Edits: map[string]string{
		"text": "Clean text", "published_at": "2024-05-06", "author": "Ada",
	}}))
	must(t, c.Flush(ctx))
	s, cur, err := c.Settled(ctx, 0)
	must(t, err)
	if len(s) != 1 {
		t.Fatalf("settled %d", len(s))
	}
	d := s[0].Doc
	if d.Text != "Clean text" || d.ContentSHA256 != schemas.SHA256Hex([]byte("Clean text")) ||
		d.Author == nil || *d.Author != "Ada" || d.PublishedAt == nil || d.PublishedAt.Format("2006-01-02") != "2024-05-06" {
		t.Fatalf("edited doc %+v", d)
	}
	if !reflect.DeepEqual(s[0].Edited, []string{"author", "published_at", "text"}) {
		t.Errorf("edited = %v", s[0].Edited)
	}
	must(t, c.Decide(ctx, Input{ItemID: "b", Action: schemas.ActionAccept}))
	must(t, c.Flush(ctx))
	s2, cur2, err := c.Settled(ctx, cur)
	must(t, err)
	if len(s2) != 1 || s2[0].ItemID != "b" || cur2 <= cur {
		t.Fatalf("after cursor %d: %+v next %d", cur, s2, cur2)
	}
	if s3, cur3, _ := c.Settled(ctx, cur2); len(s3) != 0 || cur3 != cur2 {
		t.Fatalf("nothing new expected: %v %d", s3, cur3)
	}
}

func TestReopenKeepsPendingDecisions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := Open(ctx, dir, Config{Quorum: 1, UndoWindow: time.Hour, Logger: quietLogger()})
	must(t, err)
	id := c.PeerID()
	must(t, c.Enqueue(ctx, testItem("a", KindReview)))
	must(t, c.Decide(ctx, Input{ItemID: "a", Action: schemas.ActionAccept}))
	must(t, c.Close())
	c2, err := Open(ctx, dir, Config{Quorum: 1, UndoWindow: time.Millisecond, Logger: quietLogger()})
	must(t, err)
	defer c2.Close()
	if c2.PeerID() != id {
		t.Fatalf("identity changed across restarts: %s then %s", id, c2.PeerID())
	}
	must(t, c2.Flush(ctx))
	if s, _, _ := c2.Settled(ctx, 0); len(s) != 1 {
		t.Fatal("a decision made before the restart was lost")
	}
}

func TestKappa(t *testing.T) {
	// Cohen: 50 items, 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no: 0.4.
	var a, b []string
	add := func(n int, x, y string) {
		for range n {
			a, b = append(a, x), append(b, y)
		}
	}
	add(20, "y", "y")
	add(5, "y", "n")
	add(10, "n", "y")
	add(15, "n", "n")
	if k, ok := CohenKappa(a, b); !ok || math.Abs(k-0.4) > 1e-9 {
		t.Errorf("Cohen = %v %v, want 0.4", k, ok)
	}
	if _, ok := CohenKappa([]string{"y", "y"}, []string{"y", "y"}); ok {
		t.Error("Cohen defined when both raters always agree on one label")
	}
	// Fleiss: the classic 10 subjects x 14 raters example, kappa 0.210.
	rows := [][]int{
		{0, 0, 0, 0, 14}, {0, 2, 6, 4, 2}, {0, 0, 3, 5, 6}, {0, 3, 9, 2, 0}, {2, 2, 8, 1, 1},
		{7, 7, 0, 0, 0}, {3, 2, 6, 3, 0}, {2, 5, 3, 2, 2}, {6, 5, 2, 1, 0}, {0, 2, 2, 3, 7},
	}
	var counts []map[string]int
	for _, r := range rows {
		m := map[string]int{}
		for j, n := range r {
			if n > 0 {
				m[string(rune('a'+j))] = n
			}
		}
		counts = append(counts, m)
	}
	if k, ok := FleissKappa(counts); !ok || math.Abs(k-0.20993) > 1e-4 {
		t.Errorf("Fleiss = %v %v, want 0.210", k, ok)
	}
	if _, ok := FleissKappa([]map[string]int{{"a": 1}}); ok {
		t.Error("Fleiss defined with a single rating")
	}
}

func TestWeightFor(t *testing.T) {
	tests := []struct {
		total, correct int
		want           float64
	}{
		{0, 0, 1},
		{1, 1, 1},
		{10, 10, 1},
		{4, 0, 0.5625},
		{20, 0, 0.1875},
	}
	for _, tt := range tests {
		if got := weightFor(tt.total, tt.correct); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("weightFor(%d, %d) = %v, want %v", tt.total, tt.correct, got, tt.want)
		}
	}
	if weightFor(1, 0) >= 1 || weightFor(1, 0) <= weightFor(4, 0) {
		t.Error("weight must fall with each wrong gold answer")
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []Config{
		{Quorum: -1},
		{Quorum: 4, MaxVotes: 3},
		{UndoWindow: -time.Second},
		{QualifyAfter: -1},
		{Trusted: []string{"not-a-peer-id"}},
		{Adjudicators: []string{""}},
		{Hotkeys: map[string]string{"dance": "d"}},
	}
	for i, c := range bad {
		c.Default()
		if err := c.Validate(); err == nil {
			t.Errorf("config %d accepted: %+v", i, c)
		}
	}
	var zero Config
	if err := zero.Validate(); err == nil {
		t.Error("a config without Default accepted")
	}
	zero.Default()
	if err := zero.Validate(); err != nil {
		t.Errorf("zero config after Default: %v", err)
	}
	if zero.Quorum != 2 || zero.MaxVotes != 3 || zero.QualifyAfter != 3 || zero.Logger == nil {
		t.Errorf("defaults: %+v", zero)
	}
	// Two errors are reported together.
	two := Config{Quorum: 4, MaxVotes: 3, Trusted: []string{"x"}}
	two.Default()
	if err := two.Validate(); err == nil || !strings.Contains(err.Error(), "max votes") || !strings.Contains(err.Error(), "not a peer ID") {
		t.Errorf("want both problems reported, got %v", err)
	}
}

func TestUndoAfterReplacingAPendingDecision(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, Config{})
	must(t, c.Enqueue(ctx, testItem("a", KindReview)))
	must(t, c.Decide(ctx, Input{ItemID: "a", Action: schemas.ActionAccept}))
	must(t, c.Decide(ctx, Input{ItemID: "a", Action: schemas.ActionReject, Reason: "spam"}))
	_, err := c.Undo(ctx) // the reject
	must(t, err)
	_, err = c.Undo(ctx) // the replaced accept: nothing left of it
	must(t, err)
	must(t, c.Flush(ctx))
	var n int
	must(t, c.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM decisions`).Scan(&n))
	if n != 0 {
		t.Fatalf("%d decisions left after undoing both; a spurious retraction was made", n)
	}
	if q, _ := c.Queue(ctx, Filter{}, 0); !containsItem(q, "a") {
		t.Fatal("item not back in the queue")
	}
}
