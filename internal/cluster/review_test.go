package cluster

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/swardnet/sward/coordinator"
	"github.com/swardnet/sward/curator"
	"github.com/swardnet/sward/internal/roles"
	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/network"
	"github.com/swardnet/sward/schemas"
)

// TestSettledReviewReachesNextVersion checks the human loop end to end: an
// item in the review queue, decided by two curators on separate libp2p
// hosts, settles by quorum, and the next dataset version contains it and
// names the previous version as its parent.
func TestSettledReviewReachesNextVersion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := Start(ctx, Options{
		DataDir: t.TempDir(), Nodes: 2, Site: smallSite, CuratorAddr: "127.0.0.1:0",
		HostDelay: 10 * time.Millisecond, LeaseTTL: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	spec := cl.Site().JobSpec("reviewed", 4, 1000)
	spec.VerifySampleRate = 0
	id, err := cl.Coordinator().Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := cl.WaitAndPublish(ctx, id, testutil.LogWriter(t))
	if err != nil {
		t.Fatal(err)
	}

	// A page the pipeline was unsure about, as it would route to review.
	page := cl.Site().Seeds()[0] + "reviewed-by-people.html"
	norm, err := coordinator.NormalizeURL(page)
	if err != nil {
		t.Fatal(err)
	}
	title := "Council approves the new river footbridge"
	doc := schemas.Document{
		ID: coordinator.DocumentID(id, norm), URL: page, JobID: id, Title: &title,
		Text:     "The council approved the new river footbridge on Tuesday after a long debate about its cost.",
		Language: "en", LanguageScore: 0.9, TokenCount: 18, Host: "127.0.0.10", FetchedAt: time.Now().UTC(),
		Date: time.Now().UTC().Format(time.RFC3339), ContentSHA256: schemas.SHA256Hex([]byte("x")),
	}
	// The item is queued before a second curator exists: it joins late, on
	// its own host, and catches up by backfill from the queue's host.
	first := cl.Curator()
	if err := first.Enqueue(ctx, curator.Item{ID: doc.ID, Kind: curator.KindReview, Doc: doc,
		HTML: "<p>" + doc.Text + "</p>", Reasons: []string{"review:low_confidence"}}); err != nil {
		t.Fatal(err)
	}
	h, err := network.New(ctx, network.Config{Bootstrap: []string{cl.CoordinatorAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// The role joins the decisions topic and serves backfill on h; the
	// test keeps h to wait for the topic's peers.
	role, err := roles.StartCurator(ctx, roles.CuratorConfig{Dir: t.TempDir(), Host: h,
		Curator: curator.Config{ItemSources: []string{first.PeerID()}, UndoWindow: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer role.Close()
	second := role.Curator
	// Decisions travel by gossip: both sides must see each other in the
	// topic before the votes.
	if err := h.WaitTopicPeers(ctx, schemas.TopicDecisions, 1); err != nil {
		t.Fatal(err)
	}
	if err := cl.coordHost.WaitTopicPeers(ctx, schemas.TopicDecisions, 1); err != nil {
		t.Fatal(err)
	}

	// The second curator is a fresh key: its votes count at the queue's
	// owner only once it has answered enough gold items right (curator
	// trust, issue 13). The gold items reach it as plain review items.
	for i := range 3 {
		g := doc
		g.ID = fmt.Sprintf("%s-g%d", doc.ID, i)
		if err := first.Enqueue(ctx, curator.Item{ID: g.ID, Kind: curator.KindGold, Doc: g, HTML: "<p>" + g.Text + "</p>",
			Reasons: []string{"review:low_confidence"}, Gold: &curator.GoldAnswer{Decision: schemas.ActionReject}}); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, left(ctx), "a gold item at the second curator", func() bool {
			v, err := second.View(ctx, g.ID)
			return err == nil && v != nil
		})
		if err := second.Decide(ctx, curator.Input{ItemID: g.ID, Action: schemas.ActionReject, Reason: "duplicate"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := second.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, left(ctx), "the second curator to qualify at the owner", func() bool {
		reps, err := first.Reputations(ctx)
		return err == nil && slices.ContainsFunc(reps, func(r curator.Reputation) bool {
			return r.Curator == second.PeerID() && r.Role == curator.RoleQualified
		})
	})

	// The crawl itself may have routed pages to review too: look for this
	// item, not for a queue of one.
	testutil.Eventually(t, left(ctx), "the second curator to backfill the item", func() bool {
		q, err := second.Queue(ctx, curator.Filter{}, 0)
		return err == nil && slices.ContainsFunc(q, func(it curator.QueueItem) bool { return it.ID == doc.ID })
	})
	if err := first.Decide(ctx, curator.Input{ItemID: doc.ID, Action: schemas.ActionAccept}); err != nil {
		t.Fatal(err)
	}
	if err := second.Decide(ctx, curator.Input{ItemID: doc.ID, Action: schemas.ActionAccept}); err != nil {
		t.Fatal(err)
	}
	if err := first.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := second.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, left(ctx), "the settled document to reach the job", func() bool {
		p, err := cl.Coordinator().Progress(ctx, id)
		return err == nil && p.Accepted == v1.Progress.Accepted+1
	})
	cid2, m2, err := cl.Coordinator().Publish(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Rows != v1.Manifest.Rows+1 {
		t.Errorf("next version has %d rows, want %d + the reviewed one", m2.Rows, v1.Manifest.Rows)
	}
	if m2.Parent != v1.CID {
		t.Errorf("next version %s has parent %q, want %s", cid2, m2.Parent, v1.CID)
	}
}
