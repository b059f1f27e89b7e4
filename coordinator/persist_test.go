package coordinator

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// persistEnv is a coordinator over a frontier database and block store in
// dir, as a coordinator process would open them.
type persistEnv struct {
	f   *frontier.Frontier
	st  *storage.Store
	net *fakeNet
	c   *Coordinator
}

// openPersistEnv opens dir's frontier (fsync on every commit, the
// production default), store and a fresh pipeline and network, as a
// restarted coordinator process does.
func openPersistEnv(t *testing.T, dir string) *persistEnv {
	t.Helper()
	f := openTest(t, filepath.Join(dir, "frontier.db"), frontier.Config{Synchronous: frontier.SyncFull,
		DefaultHostPolicy: frontier.HostPolicy{MinDelay: 0, MaxConcurrency: 1}})
	c, st, net := newCoordinatorOn(t, dir, f, time.Minute)
	c.log = quietLogger()
	// The test's nodes take whole leases though they are new.
	c.trust.cfg.ProbationLeaseItems = 64
	return &persistEnv{f: f, st: st, net: net, c: c}
}

// stateSnapshot is the verification state of a coordinator in comparable
// form.
type stateSnapshot struct {
	Ledger      []schemas.LedgerEntry
	Quarantined []string
	// Contribs and Checks map "peer job url" and "job url" to their
	// fields.
	Contribs map[string]string
	Checks   map[string]string
}

func snapshotState(c *Coordinator) stateSnapshot {
	s := stateSnapshot{Ledger: c.Ledger().All(), Contribs: map[string]string{}, Checks: map[string]string{}}
	sort.Slice(s.Ledger, func(i, j int) bool { return s.Ledger[i].Peer < s.Ledger[j].Peer })
	c.quarMu.RLock()
	for p := range c.quarantined {
		s.Quarantined = append(s.Quarantined, p)
	}
	c.quarMu.RUnlock()
	sort.Strings(s.Quarantined)
	c.contribMu.Lock()
	for p, m := range c.contrib {
		for k, ct := range m {
			var dedup []byte
			if ct.dedup != nil {
				dedup = ct.dedup.Marshal()
			}
			s.Contribs[p+" "+k.job+" "+k.url] = fmt.Sprintf("url=%s depth=%d doc=%s decision=%s verified=%v at=%d dedup=%x",
				ct.url, ct.depth, ct.docID, ct.decision, ct.verified, ct.at.UnixNano(), dedup)
		}
	}
	c.contribMu.Unlock()
	c.verify.mu.Lock()
	for k, ck := range c.verify.checks {
		var b strings.Builder
		fmt.Fprintf(&b, "url=%s host=%s depth=%d orig=%s fp=%d/%x bytes=%d created=%d fetches=",
			ck.url, ck.host, ck.depth, ck.orig, ck.origFP.status, encodeSig(ck.origFP.sig), ck.origBytes, ck.created.UnixNano())
		for _, fr := range ck.fetches {
			fmt.Fprintf(&b, "[%s %d/%x %d]", fr.node, fr.fp.status, encodeSig(fr.fp.sig), fr.bytes)
		}
		var tried []string
		for n := range ck.tried {
			tried = append(tried, n)
		}
		sort.Strings(tried)
		fmt.Fprintf(&b, " tried=%v", tried)
		s.Checks[k.job+" "+k.url] = b.String()
	}
	c.verify.mu.Unlock()
	return s
}

// TestVerificationStateSurvivesRestart drives a coordinator through
// ledger credits, failed checks that quarantine one node, a check left
// open half-way and contributions of another lying node, then opens a
// new coordinator on the same database (after Close, and after a crash
// that skips Close) and checks that the ledger, the quarantine, the
// contributions and the open checks are as they were, and that the
// second liar, quarantined only after the restart, loses the pages it
// contributed before it.
func TestVerificationStateSurvivesRestart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := "close"
		if crash {
			name = "crash"
		}
		t.Run(name, func(t *testing.T) { testStateSurvivesRestart(t, crash) })
	}
}

func testStateSurvivesRestart(t *testing.T, crash bool) {
	ctx := context.Background()
	dir := t.TempDir()
	env := openPersistEnv(t, dir)
	c := env.c

	const pages = 9
	urls := make([]string, pages)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://127.0.0.1:9/report/%d", i)
	}
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "p", Dataset: "p", Seeds: urls,
		Scope: schemas.Scope{Domains: []string{"127.0.0.1:9"}}, MaxDepth: 0, VerifySampleRate: 1, TDMPolicy: schemas.TDMSkip}
	if _, err := c.Submit(ctx, spec); err != nil {
		t.Fatal(err)
	}
	liarA, liarB, h1, h2, h3 := testPeer(t), testPeer(t), testPeer(t), testPeer(t), testPeer(t)
	index := make(map[string]int, pages)
	for i, u := range urls {
		index[u] = i
	}
	honest := func(i int) []byte {
		return article(100+i, fmt.Sprintf("ad %d", time.Now().UnixNano()), time.Now().Format(time.RFC3339Nano))
	}
	liars := map[string]bool{liarA.String(): true, liarB.String(): true}
	body := func(node peer.ID, i int) []byte {
		if liars[node.String()] {
			return altered(honest(i))
		}
		return honest(i)
	}
	// crawl leases max URLs to node and ingests its captures of them.
	crawl := func(c *Coordinator, node peer.ID, max int) []string {
		t.Helper()
		resp := c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: max})
		if resp.Error != "" {
			t.Fatalf("lease for %s: %s", node, resp.Error)
		}
		var got, verify []string
		for _, it := range resp.Items {
			if isCheckItem(c, node, it) {
				// The test gives re-fetches out itself (verifyAs).
				verify = append(verify, it.URL)
				continue
			}
			got = append(got, it.URL)
			if err := c.Ingest(ctx, htmlCapture("p", it.URL, node.String(), body(node, index[it.URL]))); err != nil {
				t.Fatal(err)
			}
		}
		c.verify.release(node.String(), verify)
		return got
	}
	// verifyAs has node re-fetch page i for its open check.
	verifyAs := func(c *Coordinator, node peer.ID, i, status int) {
		t.Helper()
		n, err := NormalizeURL(urls[i])
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if got := c.verify.assign(node.String(), []offer{{key: checkKey{job: "p", url: n}, url: urls[i]}}, now, now.Add(time.Minute)); len(got) != 1 {
			t.Fatalf("check of page %d cannot be given to %s", i, node)
		}
		capt := htmlCapture("p", urls[i], node.String(), body(node, i))
		if status != 200 {
			capt.Status, capt.Body, capt.BodySize, capt.BodySHA256 = status, nil, 0, ""
		}
		if err := c.Ingest(ctx, capt); err != nil {
			t.Fatal(err)
		}
	}

	// liarA fetches pages 0-3, liarB 4-7, h1 page 8; every capture is
	// sampled.
	if got := crawl(c, liarA, 4); !slices.Equal(got, urls[0:4]) {
		t.Fatalf("liarA leased %v", got)
	}
	if got := crawl(c, liarB, 4); !slices.Equal(got, urls[4:8]) {
		t.Fatalf("liarB leased %v", got)
	}
	if got := crawl(c, h1, 1); !slices.Equal(got, urls[8:9]) {
		t.Fatalf("h1 leased %v", got)
	}
	var quarantined []string
	c.OnQuarantine(func(p string, _ schemas.LedgerEntry) { quarantined = append(quarantined, p) })
	// One confirmed lie quarantines liarA; its other pages go with it.
	verifyAs(c, h2, 0, 200)
	verifyAs(c, h3, 0, 200)
	if !slices.Equal(quarantined, []string{liarA.String()}) {
		t.Fatalf("quarantined %v, want liarA", quarantined)
	}
	// liarB fails once as a verifier (page 8, which h1 fetched honestly
	// and h2 confirms).
	verifyAs(c, liarB, 8, 200)
	verifyAs(c, h2, 8, 200)
	// Page 5: h2's fetch fails transiently, h3 contradicts liarB; the
	// check waits for a third fetch. Pages 4, 6 and 7 are not checked yet.
	verifyAs(c, h2, 5, 503)
	verifyAs(c, h3, 5, 200)

	if e := c.Ledger().Entry(liarB.String()); e.Failed != 1 || e.VerifiedPages != 0 || e.Quarantined {
		t.Fatalf("liarB before the restart: %+v", e)
	}
	if e := c.Ledger().Entry(h1.String()); e.VerifiedPages != 1 || e.Failed != 0 {
		t.Fatalf("h1 before the restart: %+v", e)
	}
	before := snapshotState(c)
	if len(before.Checks) != 4 || len(before.Quarantined) != 1 {
		t.Fatalf("before the restart: %d checks open, quarantined %v; want pages 4-7 open, liarA", len(before.Checks), before.Quarantined)
	}
	// Not liarA's and liarB's excluded pages: liarB's unchecked ones
	// and h1's verified one.
	wantContribs := []string{liarB.String() + " p " + mustNorm(t, urls[4]), liarB.String() + " p " + mustNorm(t, urls[5]), liarB.String() + " p " + mustNorm(t, urls[6]),
		liarB.String() + " p " + mustNorm(t, urls[7]), h1.String() + " p " + mustNorm(t, urls[8])}
	if got := sortedKeys(before.Contribs); !slices.Equal(got, sortedKeysOf(wantContribs)) {
		t.Fatalf("contributions before the restart %v, want %v", got, sortedKeysOf(wantContribs))
	}
	var mode int
	if err := env.f.Update(ctx, "read the synchronous mode", func(tx *sql.Tx) error {
		return tx.QueryRow("PRAGMA synchronous").Scan(&mode)
	}); err != nil || mode != 2 {
		t.Fatalf("frontier synchronous mode %d (%v) of an update after saving, want FULL (2)", mode, err)
	}
	secret := c.verify.secret
	pendingBefore := c.job("p").dataset.Pending()

	// Restart. A crash leaves the old database handles open; the block
	// store is closed either way (it allows one opener at a time).
	if err := env.st.Close(); err != nil {
		t.Fatal(err)
	}
	if !crash {
		if err := env.f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	env2 := openPersistEnv(t, dir)
	c2 := env2.c
	after := snapshotState(c2)
	if !reflect.DeepEqual(after.Ledger, before.Ledger) {
		t.Errorf("ledger after the restart:\n%+v\nwant\n%+v", after.Ledger, before.Ledger)
	}
	if !slices.Equal(after.Quarantined, before.Quarantined) {
		t.Errorf("quarantined after the restart %v, want %v", after.Quarantined, before.Quarantined)
	}
	if !reflect.DeepEqual(after.Contribs, before.Contribs) {
		t.Errorf("contributions after the restart:\n%v\nwant\n%v", after.Contribs, before.Contribs)
	}
	if !reflect.DeepEqual(after.Checks, before.Checks) {
		t.Errorf("checks after the restart:\n%v\nwant\n%v", after.Checks, before.Checks)
	}
	if string(c2.verify.secret) != string(secret) {
		t.Error("the restarted coordinator samples with another secret")
	}
	// liarA stays refused everywhere.
	if !env2.net.IsQuarantined(liarA) {
		t.Error("the network does not quarantine liarA after the restart")
	}
	if resp := c2.HandleLease(ctx, liarA, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 3}); resp.Error == "" {
		t.Error("liarA gets leases after the restart")
	}
	if err := c2.AddReviewed(ctx, schemas.Document{ID: "x", JobID: "p", NodePeerID: liarA.String()}); !errors.Is(err, ErrQuarantined) {
		t.Errorf("a document of liarA was reviewed in after the restart: %v", err)
	}
	if env2.net.IsQuarantined(liarB) {
		t.Error("liarB is quarantined before any confirmed lie")
	}
	// The open check of page 5 goes neither to its original node nor to
	// the nodes that answered it; h1 may take it.
	n5 := mustNorm(t, urls[5])
	for _, p := range []peer.ID{liarB, h2, h3} {
		for _, o := range c2.verify.candidates(p.String(), time.Now(), 10, nil) {
			if o.key.url == n5 {
				t.Errorf("the check of page 5 is offered to %s again", p)
			}
		}
	}
	if prog, err := c2.Progress(ctx, "p"); err != nil || prog.Verifying != 4 {
		t.Errorf("progress after the restart %+v (%v), want 4 checks open", prog, err)
	}

	// The third fetch of page 5 sides with h3: liarB's lie is confirmed
	// and it is quarantined; page 5 (the verdict) and pages 4, 6 and 7
	// (contributions recorded before the restart) leave the dataset, and
	// every excluded URL is queued again.
	var excluded []string
	c2.OnExclude(func(_, docID string) { excluded = append(excluded, docID) })
	var quarantined2 []string
	c2.OnQuarantine(func(p string, _ schemas.LedgerEntry) { quarantined2 = append(quarantined2, p) })
	verifyAs(c2, h1, 5, 200)
	if !slices.Equal(quarantined2, []string{liarB.String()}) {
		t.Fatalf("quarantined after the restart %v, want liarB", quarantined2)
	}
	if e := c2.Ledger().Entry(liarB.String()); e.Failed != 3 || !e.Quarantined {
		t.Errorf("liarB after its confirmed lie: %+v", e)
	}
	wantExcluded := []string{DocumentID("p", mustNorm(t, urls[4])), DocumentID("p", mustNorm(t, urls[5])), DocumentID("p", mustNorm(t, urls[6])), DocumentID("p", mustNorm(t, urls[7]))}
	if !slices.Equal(sortedKeysOf(excluded), sortedKeysOf(wantExcluded)) {
		t.Errorf("excluded %v, want pages 4 to 7 %v", excluded, wantExcluded)
	}
	// Each page left one record (document or reject) in the dataset
	// unless the pipeline sent it to review.
	records := 0
	for _, k := range []int{4, 5, 6, 7} {
		if !strings.Contains(before.Contribs[liarB.String()+" p "+mustNorm(t, urls[k])], "decision=review") {
			records++
		}
	}
	if got := c2.job("p").dataset.Pending(); got != pendingBefore-records {
		t.Errorf("%d records pending after liarB's exclusion, want %d - %d", got, pendingBefore, records)
	}
	if s := snapshotState(c2); len(s.Checks) != 0 {
		t.Errorf("checks of liarB's pages still open: %v", s.Checks)
	}
	// h1 is on probation: it takes a few URLs a lease.
	var requeued []string
	for range 4 {
		resp := c2.HandleLease(ctx, h1, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 20})
		for _, it := range resp.Items {
			if !isCheckItem(c2, h1, it) {
				requeued = append(requeued, it.URL)
			}
		}
	}
	if want := urls[0:8]; !slices.Equal(sortedKeysOf(requeued), sortedKeysOf(want)) {
		t.Errorf("queued again %v, want every page of the two liars %v", requeued, want)
	}

	// A third process sees liarB quarantined too, and nothing of it left
	// to take out; contributions in a published version stay on record
	// until they vest (a later conviction retracts them).
	if _, _, err := c2.Publish(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if err := env2.st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := env2.f.Close(); err != nil {
		t.Fatal(err)
	}
	env3 := openPersistEnv(t, dir)
	s3 := snapshotState(env3.c)
	if !slices.Equal(s3.Quarantined, sortedKeysOf([]string{liarA.String(), liarB.String()})) || !env3.net.IsQuarantined(liarB) {
		t.Errorf("quarantined in a third process: %v", s3.Quarantined)
	}
	if len(s3.Contribs) == 0 {
		t.Error("publishing forgot the contributions it covers; a later conviction could not retract them")
	}
	for k := range s3.Contribs {
		if strings.HasPrefix(k, liarA.String()) || strings.HasPrefix(k, liarB.String()) {
			t.Errorf("a liar's contribution is still on record: %s", k)
		}
	}
}

func mustNorm(t *testing.T, u string) string {
	t.Helper()
	n, err := NormalizeURL(u)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedKeysOf(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// TestInterruptedQuarantineIsFinished: a coordinator that crashed after a
// node's quarantine was saved but before its pages were taken out (the
// contributions are still on record) finishes the job when it serves
// again: the pages leave the dataset and their URLs are queued again.
func TestInterruptedQuarantineIsFinished(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := openPersistEnv(t, dir)
	c := env.c
	urls := []string{"http://127.0.0.1:9/a", "http://127.0.0.1:9/b"}
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "q", Dataset: "q", Seeds: urls,
		Scope: schemas.Scope{Domains: []string{"127.0.0.1:9"}}, MaxDepth: 0, TDMPolicy: schemas.TDMSkip}
	if _, err := c.Submit(ctx, spec); err != nil {
		t.Fatal(err)
	}
	node := testPeer(t)
	resp := c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 2})
	if len(resp.Items) != 2 {
		t.Fatalf("lease %+v", resp.Items)
	}
	for i, it := range resp.Items {
		if err := c.Ingest(ctx, htmlCapture("q", it.URL, node.String(), article(200+i, "ad", "now"))); err != nil {
			t.Fatal(err)
		}
	}
	pending := c.job("q").dataset.Pending()
	records := 0
	for _, v := range snapshotState(c).Contribs {
		if !strings.Contains(v, "decision=review") {
			records++
		}
	}
	// The crash: the quarantine is saved, nothing else of Quarantine ran.
	c.quarMu.Lock()
	c.quarantined[node.String()] = true
	c.ledger.SetQuarantined(node.String())
	c.quarMu.Unlock()
	if err := c.saveState(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.st.Close(); err != nil {
		t.Fatal(err)
	}

	env2 := openPersistEnv(t, dir)
	c2 := env2.c
	if !env2.net.IsQuarantined(node) {
		t.Fatal("the node is not quarantined after the restart")
	}
	var excluded []string
	c2.OnExclude(func(_, id string) { excluded = append(excluded, id) })
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- c2.Serve(sctx) }()
	// Serve stops before the store closes, also when the wait fails.
	stopServing := sync.OnceValue(func() error { cancel(); return <-served })
	t.Cleanup(func() { _ = stopServing() })
	testutil.Eventually(t, 10*time.Second, "both URLs to be queued again", func() bool {
		p, err := c2.Progress(ctx, "q")
		if err != nil {
			t.Fatal(err)
		}
		return p.Queued == 2
	})
	if err := stopServing(); err != nil {
		t.Fatal(err)
	}
	if p, _ := c2.Progress(ctx, "q"); p.Queued != 2 || p.Done != 0 {
		t.Fatalf("after serving: %+v, want both URLs queued again", p)
	}
	if len(excluded) != 2 {
		t.Errorf("excluded %v, want both pages", excluded)
	}
	if got := c2.job("q").dataset.Pending(); got != pending-records {
		t.Errorf("%d records pending, want %d - %d", got, pending, records)
	}
	if s := snapshotState(c2); len(s.Contribs) != 0 {
		t.Errorf("contributions left after the quarantine was finished: %v", s.Contribs)
	}
}

// TestMigrateFromV2: a database written by the previous version (schema
// 2, frontier only) gains the verification tables; its jobs and URLs are
// untouched and a coordinator starts on it with an empty ledger.
func TestMigrateFromV2(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "frontier.db")
	// A schema 2 database: a fresh one without what schema 3 added.
	fresh, err := frontier.Open(ctx, path, frontier.Config{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var newest int
	if err := fresh.QueryRow(ctx, "PRAGMA user_version").Scan(&newest); err != nil {
		t.Fatal(err)
	}
	fresh.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	spec := `{"version":1,"name":"m","dataset":"m","seeds":["http://127.0.0.1:9/"],"scope":{"domains":["127.0.0.1:9"]},"tdm_policy":"skip"}`
	stmts := []string{
		`DROP TABLE coord_meta`, `DROP TABLE ledger`, `DROP TABLE contributions`, `DROP TABLE checks`, `DROP TABLE check_answers`,
		`PRAGMA user_version = 2`,
		`INSERT INTO jobs(jid, id, spec, state, created_ns, updated_ns, admitted) VALUES(1, 'm', '` + spec + `', 'running', 0, 0, 1)`,
		`INSERT INTO hosts(hid, name, queued) VALUES(1, '127.0.0.1:9', 1)`,
		`INSERT INTO job_hosts(job, host) VALUES(1, 1)`,
		`INSERT INTO urls(job, key, url, host, depth, priority, state) VALUES(1, x'01', 'http://127.0.0.1:9/', 1, 0, 1, 0)`,
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	db.Close()

	env := openPersistEnv(t, dir)
	var version int
	if err := env.f.QueryRow(ctx, "PRAGMA user_version").Scan(&version); err != nil || version != newest {
		t.Fatalf("schema version %d (%v), want %d", version, err, newest)
	}
	if got := env.c.Ledger().All(); len(got) != 0 {
		t.Errorf("ledger of a migrated database: %+v", got)
	}
	if p, err := env.c.Progress(ctx, "m"); err != nil || p.Queued != 1 {
		t.Errorf("job after migration: %+v (%v), want its URL queued", p, err)
	}
	node := testPeer(t)
	env.c.ledger.Credit(node.String(), 10)
	if err := env.c.saveState(ctx); err != nil {
		t.Fatal(err)
	}
	var pages int64
	if err := env.f.QueryRow(ctx, `SELECT pages FROM ledger WHERE peer = ?`, node.String()).Scan(&pages); err != nil || pages != 1 {
		t.Errorf("saved ledger row: %d pages (%v), want 1", pages, err)
	}
}

// TestSaveStateFailureKeepsChanges: a save that cannot be written leaves
// its changes marked, so they are written by the next save that can.
func TestSaveStateFailureKeepsChanges(t *testing.T) {
	ctx := context.Background()
	env := openPersistEnv(t, t.TempDir())
	c := env.c
	node := testPeer(t).String()
	c.ledger.Credit(node, 100)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.saveState(cancelled); err == nil {
		t.Fatal("a save with a cancelled context succeeded")
	}
	var n int
	if err := env.f.QueryRow(ctx, `SELECT count(*) FROM ledger`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d ledger rows (%v) after a failed save, want 0", n, err)
	}
	if err := c.saveState(ctx); err != nil {
		t.Fatal(err)
	}
	var bytes int64
	if err := env.f.QueryRow(ctx, `SELECT bytes FROM ledger WHERE peer = ?`, node).Scan(&bytes); err != nil || bytes != 100 {
		t.Fatalf("ledger row after the retry: %d bytes (%v), want 100", bytes, err)
	}
	var mode int
	if err := env.f.Update(ctx, "read the synchronous mode", func(tx *sql.Tx) error {
		return tx.QueryRow("PRAGMA synchronous").Scan(&mode)
	}); err != nil || mode != 2 {
		t.Fatalf("synchronous mode %d (%v) of an update after a failed save, want FULL (2)", mode, err)
	}
	if err := env.f.Close(); err != nil {
		t.Fatal(err)
	}
	c.ledger.Credit(node, 1)
	if err := c.saveState(ctx); !errors.Is(err, frontier.ErrClosed) {
		t.Fatalf("save after Close: %v, want frontier.ErrClosed", err)
	}
}

// FuzzDecodeSig: a stored signature decodes to what was encoded, and no
// blob makes the decoder panic.
func FuzzDecodeSig(f *testing.F) {
	f.Add([]byte{})
	f.Add(encodeSig([]uint64{1, 2, 1 << 63}))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		sig, err := decodeSig(b)
		if len(b)%8 != 0 {
			if err == nil {
				t.Fatalf("%d bytes decoded without an error", len(b))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := encodeSig(sig); len(b) > 0 && string(got) != string(b) {
			t.Fatalf("round trip %x -> %x", b, got)
		}
	})
}

// TestRestoredCheckTimeoutStartsAtRestore: the time a coordinator was down
// does not count against a restored check's timeout, but its age still
// orders it among the checks offered.
func TestRestoredCheckTimeoutStartsAtRestore(t *testing.T) {
	v := newVerifier([]byte("k"))
	now := time.Now()
	old := &check{key: checkKey{job: "j", url: "http://127.0.0.1/old"}, url: "http://127.0.0.1/old", orig: "O", created: now.Add(-time.Hour)}
	v.restore([]*check{old}, now)
	newer := newCheck(v, "http://127.0.0.1/new", "O", article(1, "", ""), now)
	if got := v.candidates("A", now, 10, nil); len(got) != 2 || got[0].key != old.key || got[1].key != newer {
		t.Fatalf("candidates %+v, want the restored check first", got)
	}
	if n := v.expire(now.Add(30*time.Second), time.Minute); n != 0 {
		t.Fatalf("%d checks expired within a minute of the restore", n)
	}
	if n := v.expire(now.Add(2*time.Minute), time.Minute); n != 2 {
		t.Fatalf("%d checks expired a minute after the restore, want 2", n)
	}
	if got := len(v.takeDirty()); got != 2 {
		t.Errorf("%d checks to save, want the new one and the expired restored one", got)
	}
}
