package coordinator

import (
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

// Redirects across a coordinator restart. Seen in internal/cluster's
// crash test: checks restored without the redirect their fetches saw took
// every honest re-fetch of a redirecting URL for a contradiction, and
// convicted and quarantined honest nodes; and a redirected document held
// for its check was lost with the process while its URL stayed done.

const (
	redirOld = "http://127.0.0.1:9/old/report"
	redirNew = "http://127.0.0.1:9/archive/report.html"
)

// redirectEnv is a coordinator on dir with job "r" over redirOld and
// redirNew, every capture sampled.
func redirectEnv(t *testing.T, dir string, seeds ...string) *persistEnv {
	t.Helper()
	env := openPersistEnv(t, dir)
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "r", Dataset: "r", Seeds: seeds,
		Scope: schemas.Scope{Domains: []string{"127.0.0.1:9"}}, MaxDepth: 0, VerifySampleRate: 1, TDMPolicy: schemas.TDMSkip}
	if _, err := env.c.Submit(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	return env
}

// restart closes env's store and database and opens dir again, as a
// restarted coordinator process does.
func restart(t *testing.T, env *persistEnv, dir string) *persistEnv {
	t.Helper()
	if err := env.st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := env.f.Close(); err != nil {
		t.Fatal(err)
	}
	return openPersistEnv(t, dir)
}

// leaseAll leases every queued URL to node.
func leaseAll(t *testing.T, c *Coordinator, node peer.ID) []string {
	t.Helper()
	resp := c.HandleLease(context.Background(), node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 10})
	if resp.Error != "" {
		t.Fatalf("lease for %s: %s", node, resp.Error)
	}
	var urls []string
	for _, it := range resp.Items {
		if !isCheckItem(c, node, it) {
			urls = append(urls, it.URL)
		}
	}
	return urls
}

// redirected is node's capture of redirOld, redirected to redirNew.
func redirected(node peer.ID, body []byte) *schemas.Capture {
	capt := htmlCapture("r", redirOld, node.String(), body)
	capt.FinalURL = redirNew
	return capt
}

// verifyRedirect has node re-fetch redirOld for its open check and see the
// redirect to redirNew.
func verifyRedirect(t *testing.T, c *Coordinator, node peer.ID, body []byte) {
	t.Helper()
	verifyAs(t, c, node, redirected(node, body))
}

// verifyAs gives node the open check of redirOld and ingests capt, node's
// re-fetch.
func verifyAs(t *testing.T, c *Coordinator, node peer.ID, capt *schemas.Capture) {
	t.Helper()
	key := checkKey{job: "r", url: mustNorm(t, redirOld)}
	now := time.Now()
	if got := c.verify.assign(node.String(), []offer{{key: key, url: redirOld}}, now, now.Add(time.Minute)); len(got) != 1 {
		t.Fatalf("the check of %s cannot be given to %s", redirOld, node)
	}
	if err := c.Ingest(context.Background(), capt); err != nil {
		t.Fatal(err)
	}
}

// TestRestoredRedirectCheckPassesHonestNode: an honest node's capture of a
// redirecting URL (a duplicate of the page it leads to, so nothing is
// held) is checked after a restart; the verifier sees the same redirect
// and the same page, and the node passes.
func TestRestoredRedirectCheckPassesHonestNode(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := redirectEnv(t, dir, redirNew, redirOld)
	orig, verifier := testPeer(t), testPeer(t)
	page := article(7, "ad", "2025-06-01")
	if got := leaseAll(t, env.c, orig); !slices.Equal(got, []string{redirNew, redirOld}) {
		t.Fatalf("leased %v", got)
	}
	if err := env.c.Ingest(ctx, htmlCapture("r", redirNew, orig.String(), page)); err != nil {
		t.Fatal(err)
	}
	if err := env.c.Ingest(ctx, redirected(orig, page)); err != nil {
		t.Fatal(err)
	}
	key := checkKey{job: "r", url: mustNorm(t, redirOld)}
	if !env.c.verify.isOpen(key) {
		t.Fatal("no check of the redirected capture")
	}

	env = restart(t, env, dir)
	c := env.c
	if !c.verify.isOpen(key) {
		t.Fatal("the check of the redirected capture did not survive the restart")
	}
	var quarantined []string
	c.OnQuarantine(func(p string, _ schemas.LedgerEntry) { quarantined = append(quarantined, p) })
	verifyRedirect(t, c, verifier, page)
	if c.verify.isOpen(key) {
		t.Error("the check is still open: the verifier's fetch did not agree with the original's")
	}
	if e := c.Ledger().Entry(orig.String()); e.Failed != 0 || e.Quarantined {
		t.Errorf("the honest original after its check: %+v", e)
	}
	if len(quarantined) != 0 {
		t.Errorf("quarantined %v", quarantined)
	}
}

// TestSavedCheckKeepsRedirects: the redirects and error marks of a check's
// original and of its answers are saved and loaded with the check; in a
// row saved before they were recorded (NULL) the redirect loads as
// unknown, which the comparison leaves out, and the error mark follows
// the status.
func TestSavedCheckKeepsRedirects(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := redirectEnv(t, dir, redirOld)
	c := env.c
	final := mustNorm(t, redirNew)
	key := checkKey{job: "r", url: mustNorm(t, redirOld)}
	ck := &check{key: key, url: redirOld, host: "127.0.0.1:9", orig: "O", created: time.Now(),
		origFP: fingerprint{status: 200, sig: []uint64{1, 2, 3}, final: final}, tried: map[string]bool{}}
	if !c.verify.add(ck) {
		t.Fatal("check not added")
	}
	c.verify.mu.Lock()
	ck.fetches = append(ck.fetches, fetchResult{node: "A", fp: fingerprint{status: 200, sig: []uint64{1, 2, 3}, final: final}, bytes: 5},
		fetchResult{node: "B", fp: fingerprint{status: 200, sig: []uint64{1, 2, 4}}, bytes: 6},
		fetchResult{node: "C", fp: fingerprint{status: 200, failed: true}})
	ck.tried["A"], ck.tried["B"], ck.tried["C"] = true, true, true
	c.verify.dirty[key] = struct{}{}
	c.verify.mu.Unlock()
	if err := c.saveState(ctx); err != nil {
		t.Fatal(err)
	}
	cks, err := loadChecks(ctx, env.f)
	if err != nil {
		t.Fatal(err)
	}
	if len(cks) != 1 || len(cks[0].fetches) != 3 {
		t.Fatalf("loaded %+v", cks)
	}
	got := cks[0]
	if got.origFP.final != final || got.origFP.finalUnknown {
		t.Errorf("original's redirect loaded as %q (unknown %v), want %q", got.origFP.final, got.origFP.finalUnknown, final)
	}
	if f := got.fetches[0].fp; f.final != final || f.finalUnknown {
		t.Errorf("answer A's redirect loaded as %q (unknown %v), want %q", f.final, f.finalUnknown, final)
	}
	if f := got.fetches[1].fp; f.final != "" || f.finalUnknown || f.failed {
		t.Errorf("answer B (no redirect, no error) loaded as %q (unknown %v), failed %v", f.final, f.finalUnknown, f.failed)
	}
	if f := got.fetches[2].fp; !f.failed {
		t.Error("answer C, an error answer with status 200, loaded as a page")
	}

	// A check saved by a build before schema 4.
	if err := env.f.Update(ctx, "forget the redirects", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE checks SET orig_final = NULL, orig_failed = NULL, orig_status = 0`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE check_answers SET final = NULL, failed = NULL`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if cks, err = loadChecks(ctx, env.f); err != nil {
		t.Fatal(err)
	}
	old := cks[0].origFP
	if !old.finalUnknown {
		t.Fatal("a NULL redirect loads as known")
	}
	if !old.failed || cks[0].fetches[0].fp.failed {
		t.Errorf("rows before schema 4: status 0 loads failed %v, status 200 failed %v; want the status to tell", old.failed, cks[0].fetches[0].fp.failed)
	}
	old.failed, old.status = false, 200
	if ok, _ := agree(old, fingerprint{status: 200, sig: []uint64{1, 2, 3}, final: final}); !ok {
		t.Error("an original of unknown redirect disagrees with the same page seen through a redirect")
	}
	if ok, _ := agree(fingerprint{status: 200, sig: []uint64{1, 2, 3}}, fingerprint{status: 200, sig: []uint64{1, 2, 3}, final: final}); ok {
		t.Error("a fetch without the redirect agrees with one that saw it")
	}
}

// holdRedirected starts a coordinator on dir whose node orig delivers
// redirOld redirected to redirNew: the document is held for its check.
func holdRedirected(t *testing.T, dir string) (env *persistEnv, orig peer.ID, page []byte) {
	t.Helper()
	env = redirectEnv(t, dir, redirOld)
	orig, page = testPeer(t), article(9, "ad", "2025-06-01")
	if got := leaseAll(t, env.c, orig); !slices.Equal(got, []string{redirOld}) {
		t.Fatalf("leased %v", got)
	}
	if err := env.c.Ingest(context.Background(), redirected(orig, page)); err != nil {
		t.Fatal(err)
	}
	if got := env.c.job("r").dataset.Pending(); got != 0 {
		t.Fatalf("%d records pending: the redirected document was not held", got)
	}
	return env, orig, page
}

// TestHeldRedirectSurvivesRestart: a redirected document held for its
// check is saved with it; after a restart the check is open, the URL is
// not fetched again, and a verifier that sees the same redirect releases
// the document into the dataset.
func TestHeldRedirectSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env, orig, page := holdRedirected(t, dir)
	verifier := testPeer(t)
	key := checkKey{job: "r", url: mustNorm(t, redirOld)}

	env = restart(t, env, dir)
	c := env.c
	if !c.verify.isOpen(key) || !c.held.isHeld(contribKey{orig.String(), key}) {
		t.Fatalf("after the restart: check open %v, document held %v; want both", c.verify.isOpen(key), c.held.isHeld(contribKey{orig.String(), key}))
	}
	if st, _ := c.frontier.Stats(ctx, "r"); st.Queued != 0 || st.Done != 1 {
		t.Fatalf("frontier after the restart %+v, want the URL still done", st)
	}
	verifyRedirect(t, c, verifier, page)
	if got := c.job("r").dataset.Pending(); got != 1 {
		t.Fatalf("%d records pending after the verifier saw the redirect, want the held page", got)
	}
	// Released: a third process holds nothing and queues nothing.
	env = restart(t, env, dir)
	if env.c.held.isHeld(contribKey{orig.String(), key}) {
		t.Error("the released document is held again after a second restart")
	}
	if st, _ := env.c.frontier.Stats(ctx, "r"); st.Queued != 0 {
		t.Errorf("frontier after a second restart %+v, want nothing queued", st)
	}
}

// TestHeldRedirectLostInRestartIsFetchedAgain: a held document a restart
// did not keep (here deleted, as in a database written before held
// documents were saved) leaves its leased URL queued again (it was done),
// the stale check gone, and the next fetch, once a verifier sees the same
// redirect, puts the page in the dataset.
func TestHeldRedirectLostInRestartIsFetchedAgain(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env, _, page := holdRedirected(t, dir)
	refetcher, verifier := testPeer(t), testPeer(t)
	key := checkKey{job: "r", url: mustNorm(t, redirOld)}
	if !env.c.verify.isOpen(key) {
		t.Fatal("no check of the held redirect")
	}
	if st, _ := env.c.frontier.Stats(ctx, "r"); st.Done != 1 {
		t.Fatalf("frontier before the restart %+v, want the leased URL done", st)
	}
	if err := env.c.frontier.Update(ctx, "lose held documents", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM coord_held`)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	env = restart(t, env, dir)
	c := env.c
	if c.verify.isOpen(key) {
		t.Error("the check of the lost document is still open: the next fetch could not open its own")
	}
	if s := snapshotState(c); len(s.Contribs) != 0 {
		t.Errorf("contributions after the restart %v, want the lost one forgotten", s.Contribs)
	}
	if got := leaseAll(t, c, refetcher); !slices.Equal(got, []string{redirOld}) {
		t.Fatalf("leased after the restart %v, want the URL of the lost document again", got)
	}
	if err := c.Ingest(ctx, redirected(refetcher, page)); err != nil {
		t.Fatal(err)
	}
	verifyRedirect(t, c, verifier, page)
	if got := c.job("r").dataset.Pending(); got != 1 {
		t.Errorf("%d records pending after the verified re-fetch, want the page", got)
	}
	// A third process has nothing to queue again: the contribution names
	// its document now.
	env = restart(t, env, dir)
	if st, _ := env.c.frontier.Stats(ctx, "r"); st.Queued != 0 {
		t.Errorf("frontier after a second restart %+v, want nothing queued", st)
	}
}

// TestRestoredErrorCheckSettles: an error answer (here a page the node may
// not fetch) is always checked; restored after a restart, the check still
// knows its original was an error, so a verifier's error answer settles it
// instead of being set aside until the check times out (seen in
// internal/cluster's crash test: every such check waited out
// VerifyTimeout).
func TestRestoredErrorCheckSettles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := redirectEnv(t, dir, redirOld)
	orig, verifier := testPeer(t), testPeer(t)
	refused := func(node peer.ID) *schemas.Capture {
		capt := htmlCapture("r", redirOld, node.String(), nil)
		capt.Status, capt.BodySize, capt.BodySHA256, capt.Error = 0, 0, "", "disallowed by robots.txt"
		return capt
	}
	if got := leaseAll(t, env.c, orig); !slices.Equal(got, []string{redirOld}) {
		t.Fatalf("leased %v", got)
	}
	if err := env.c.Ingest(ctx, refused(orig)); err != nil {
		t.Fatal(err)
	}
	key := checkKey{job: "r", url: mustNorm(t, redirOld)}
	if !env.c.verify.isOpen(key) {
		t.Fatal("no check of the error answer")
	}
	c := restart(t, env, dir).c
	verifyAs(t, c, verifier, refused(verifier))
	if c.verify.isOpen(key) {
		t.Error("the verifier's error answer was set aside: the restored check forgot its original was one")
	}
	if e := c.Ledger().Entry(orig.String()); e.Failed != 0 {
		t.Errorf("the original after its check: %+v", e)
	}
}

// reviewRedirectEnv is redirectEnv with job "r" over redirOld extracting a
// price and a date, so a verdict's Fields hold a pipeline.Price and a
// time.Time.
func reviewRedirectEnv(t *testing.T, dir string) *persistEnv {
	t.Helper()
	env := openPersistEnv(t, dir)
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "r", Dataset: "r", Seeds: []string{redirOld},
		Scope: schemas.Scope{Domains: []string{"127.0.0.1:9"}}, MaxDepth: 0, VerifySampleRate: 1, TDMPolicy: schemas.TDMSkip,
		Fields: []schemas.FieldSpec{
			{Name: "price", Type: schemas.FieldPrice, Selector: ".price"},
			{Name: "updated", Type: schemas.FieldDate, Selector: "time.updated", Attr: "datetime"},
			{Name: "section", Type: schemas.FieldString, Selector: ".section"},
		}}
	if _, err := env.c.Submit(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	return env
}

// reviewItem is what the OnReview hooks were given.
type reviewItem struct {
	capt *schemas.Capture
	res  pipeline.Result
}

// collectReviews records every review item c releases.
func collectReviews(c *Coordinator) *[]reviewItem {
	var got []reviewItem
	c.OnReview(func(capt *schemas.Capture, res pipeline.Result) { got = append(got, reviewItem{capt, res}) })
	return &got
}

// TestHeldReviewRedirectSurvivesRestart: a redirected document the
// pipeline sent to review (a truncated body) is held for its check like an
// accepted one, and saved with it: after a restart its URL is not queued
// again, and once a verifier sees the same redirect the curators are
// handed exactly what they would have been handed without the restart —
// the same capture and verdict, its structured fields with their types
// (a price, a date, a string). Until it was saved, the restart lost the
// document and queued its URL again.
func TestHeldReviewRedirectSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	orig, verifier := testPeer(t), testPeer(t)
	s := string(article(9, "ad", "2025-06-01"))
	i := strings.Index(s, "<main>") + len("<main>")
	page := []byte(s[:i] + `<p class="section">Harbour news</p><p>Entry <span class="price">€12.50</span>, ` +
		`<time class="updated" datetime="2025-06-01T08:30:00+02:00">this morning</time>.</p>` + s[i:])
	fetched := time.Now().UTC().Round(0)
	capture := func() *schemas.Capture {
		capt := redirected(orig, page)
		capt.Truncated = true // the pipeline sends a truncated body to review
		capt.FetchedAt = fetched
		return capt
	}
	key := checkKey{job: "r", url: mustNorm(t, redirOld)}
	held := contribKey{orig.String(), key}
	// hold has orig deliver the capture on a coordinator on dir.
	hold := func(dir string) *persistEnv {
		t.Helper()
		env := reviewRedirectEnv(t, dir)
		if got := leaseAll(t, env.c, orig); !slices.Equal(got, []string{redirOld}) {
			t.Fatalf("leased %v", got)
		}
		if err := env.c.Ingest(ctx, capture()); err != nil {
			t.Fatal(err)
		}
		if !env.c.held.isHeld(held) {
			t.Fatal("the redirected review document is not held")
		}
		return env
	}

	// Without a restart: what the curators are handed.
	env := hold(t.TempDir())
	want := collectReviews(env.c)
	verifyRedirect(t, env.c, verifier, page)
	if len(*want) != 1 {
		t.Fatalf("%d review items released without a restart, want 1", len(*want))
	}
	w := (*want)[0]
	if w.res.Decision != pipeline.Review || !slices.Contains(w.res.Reasons, "review:truncated_body") {
		t.Fatalf("the pipeline's verdict %v %v, want review:truncated_body", w.res.Decision, w.res.Reasons)
	}
	if _, ok := w.res.Fields["price"].(pipeline.Price); !ok {
		t.Fatalf("fields %#v: no price found; the test needs one", w.res.Fields)
	}
	if _, ok := w.res.Fields["updated"].(time.Time); !ok {
		t.Fatalf("fields %#v: no date found; the test needs one", w.res.Fields)
	}

	// With a restart between the hold and the verifier's fetch.
	dir := t.TempDir()
	env = restart(t, hold(dir), dir)
	c := env.c
	if !c.verify.isOpen(key) || !c.held.isHeld(held) {
		t.Fatalf("after the restart: check open %v, document held %v; want both", c.verify.isOpen(key), c.held.isHeld(held))
	}
	if st, _ := c.frontier.Stats(ctx, "r"); st.Queued != 0 || st.Done != 1 {
		t.Fatalf("frontier after the restart %+v, want the URL still done, not queued again", st)
	}
	got := collectReviews(c)
	verifyRedirect(t, c, verifier, page)
	if len(*got) != 1 {
		t.Fatalf("%d review items released after the restart, want 1", len(*got))
	}
	g := (*got)[0]
	if g.res.Doc.ID != w.res.Doc.ID || g.res.Doc.Text != w.res.Doc.Text {
		t.Errorf("released document %s (%d bytes of text), want %s (%d bytes)", g.res.Doc.ID, len(g.res.Doc.Text), w.res.Doc.ID, len(w.res.Doc.Text))
	}
	if !reflect.DeepEqual(*g.res.Doc, *w.res.Doc) {
		t.Errorf("released document after the restart\n%+v\nwant\n%+v", *g.res.Doc, *w.res.Doc)
	}
	if !reflect.DeepEqual(g.res.Fields, w.res.Fields) {
		t.Errorf("fields after the restart %#v, want %#v", g.res.Fields, w.res.Fields)
	}
	if g.res.DedupKey == nil || w.res.DedupKey == nil || !slices.Equal(g.res.DedupKey.Marshal(), w.res.DedupKey.Marshal()) {
		t.Errorf("dedup key after the restart %v, want %v", g.res.DedupKey, w.res.DedupKey)
	}
	gr, wr := g.res, w.res
	gr.Doc, gr.DedupKey, wr.Doc, wr.DedupKey = nil, nil, nil, nil
	if !reflect.DeepEqual(gr, wr) {
		t.Errorf("verdict after the restart\n%#v\nwant\n%#v", gr, wr)
	}
	if !reflect.DeepEqual(*g.capt, *w.capt) {
		t.Errorf("capture after the restart\n%+v\nwant\n%+v", *g.capt, *w.capt)
	}
	if n := c.job("r").review.Load(); n != 1 {
		t.Errorf("%d in review, want 1", n)
	}
	if s := snapshotState(c); !strings.Contains(s.Contribs[orig.String()+" r "+key.url], "doc="+w.res.Doc.ID) {
		t.Errorf("contribution after the release %q, want it to name %s", s.Contribs[orig.String()+" r "+key.url], w.res.Doc.ID)
	}
	if urls := leaseAll(t, c, testPeer(t)); len(urls) != 0 {
		t.Errorf("leased after the release %v, want nothing", urls)
	}
	// Released: a third process holds nothing and queues nothing.
	env = restart(t, env, dir)
	if env.c.held.isHeld(held) {
		t.Error("the released document is held again after a second restart")
	}
	if st, _ := env.c.frontier.Stats(ctx, "r"); st.Queued != 0 {
		t.Errorf("frontier after a second restart %+v, want nothing queued", st)
	}
}

// TestHeldRecordKeepsReviewVerdict: a held review document's saved form
// gives back the capture and verdict it was held with, field types
// included (plain JSON would not: a price comes back as a map, a date as
// a string), nil and empty apart; a verdict it cannot write is an error,
// not a wrong record.
func TestHeldRecordKeepsReviewVerdict(t *testing.T) {
	when := time.Date(2025, 6, 1, 6, 30, 0, 0, time.UTC)
	capt := htmlCapture("r", redirOld, "node", []byte("<p>body</p>"))
	capt.FetchedAt = when
	capt.FinalURL = redirNew
	doc := schemas.Document{ID: "d1", URL: redirNew, Text: "text", FetchedAt: when, JobID: "r"}
	key := pipeline.NewDedup(5, 14, 8).Key("the harbour authority opened the new bridge on friday morning")
	dedup := &key
	fields := map[string]any{"price": pipeline.Price{Amount: 12.5, Currency: "EUR"}, "updated": when, "section": "Harbour news", "rooms": 3.0}
	for _, tc := range []struct {
		name string
		res  pipeline.Result
	}{
		{"typed fields", pipeline.Result{Reasons: []string{"review:truncated_body"}, Detail: "review:truncated_body", Scores: map[string]float64{"language_score": 0.93, "tiny": 5e-324}, Fields: fields}},
		{"empty", pipeline.Result{Reasons: []string{}, Scores: map[string]float64{}, Fields: map[string]any{}}},
		{"nil", pipeline.Result{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := doc
			res := tc.res
			res.Decision, res.Doc, res.DedupKey = pipeline.Review, &d, dedup
			h := heldDoc{node: "node", doc: doc, bytes: 11, dedup: dedup, review: true, capt: capt, res: res}
			body, err := encodeHeld(h)
			if err != nil {
				t.Fatal(err)
			}
			back, err := decodeHeld("node", body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, h) {
				t.Errorf("decoded\n%#v\nwant\n%#v", back, h)
			}
		})
	}
	raw, _ := json.Marshal(fields)
	var naive map[string]any
	if err := json.Unmarshal(raw, &naive); err != nil || reflect.DeepEqual(naive, fields) {
		t.Errorf("plain JSON gives the fields back as %#v (%v); this test assumes it changes their types", naive, err)
	}
	for name, res := range map[string]pipeline.Result{
		"unknown field type": {Fields: map[string]any{"x": []int{1}}},
		"NaN score":          {Scores: map[string]float64{"x": math.NaN()}},
	} {
		if _, err := encodeHeld(heldDoc{doc: doc, review: true, capt: capt, res: res}); err == nil {
			t.Errorf("%s: encoded without an error", name)
		}
	}
}
