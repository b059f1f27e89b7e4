package coordinator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/schemas"
)

// Vocabulary of the test articles.
var (
	testAdjectives = strings.Fields("old new small large quiet busy local regional public private early late bright narrow wide famous modern ancient careful tired")
	testNouns      = strings.Fields("council market bridge library school river harbour museum garden station theatre bakery festival committee orchestra hospital stadium newspaper farmer teacher")
	testVerbs      = strings.Fields("repaired visited praised criticised opened closed described funded welcomed inspected photographed painted discussed planned rebuilt measured")
	testPlaces     = strings.Fields("Riverton Ashford Millbrook Kingsley Westhaven Oakridge Brampton Fairview Lakeside Northgate")
)

// article renders a news page whose main text is made of sentences drawn
// at random from seed, so two seeds give two different articles; ad and
// stamp fill an advertisement box and a "last updated" line, which differ
// between two fetches of the same page.
func article(seed int, ad, stamp string) []byte {
	r := rand.New(rand.NewPCG(uint64(seed), 42))
	pick := func(ws []string) string { return ws[r.IntN(len(ws))] }
	var b strings.Builder
	fmt.Fprintf(&b, `<!doctype html><html lang="en"><head><title>Report %d</title></head><body>`, seed)
	b.WriteString(`<header><nav><a href="/">Home</a> <a href="/news">News</a></nav></header>`)
	fmt.Fprintf(&b, `<aside class="ad">%s</aside>`, ad)
	fmt.Fprintf(&b, `<main><article><h1>The %s %s of %s</h1><p class="meta">Last updated %s</p>`,
		pick(testAdjectives), pick(testNouns), pick(testPlaces), stamp)
	templates := []string{
		"The %s %s %s the %s %s in %s last week.",
		"According to the %s, the %s %s was %s by people from %s.",
		"Many residents of %s said that they have %s the %s %s with their families.",
		"On Friday a %s %s from %s %s a %s %s for the first time.",
		"Nobody expected that the %s %s would be %s so soon, said a %s from %s.",
		"In %s, a %s %s has %s what the %s %s promised years ago.",
		"Officials %s the %s %s while a %s %s waited outside in %s.",
		"It is not clear whether the %s %s in %s will be %s again.",
	}
	for p, order := 0, r.Perm(len(templates)); p < 4; p++ {
		b.WriteString("<p>")
		for s := 0; s < 2; s++ {
			tmpl := templates[order[p*2+s]]
			args := make([]any, strings.Count(tmpl, "%s"))
			for i := range args {
				args[i] = pick([][]string{testAdjectives, testNouns, testVerbs, testPlaces}[r.IntN(4)])
			}
			fmt.Fprintf(&b, tmpl+" ", args...)
		}
		b.WriteString("</p>")
	}
	b.WriteString(`</article></main><footer>Copyright the Riverton Courier</footer></body></html>`)
	return []byte(b.String())
}

// altered swaps neighbouring words inside every paragraph, as a node that
// rewrites pages would.
func altered(page []byte) []byte {
	s := string(page)
	var out strings.Builder
	for {
		i := strings.Index(s, "<p>")
		if i < 0 {
			out.WriteString(s)
			break
		}
		j := strings.Index(s[i:], "</p>")
		out.WriteString(s[:i+3])
		words := strings.Fields(s[i+3 : i+j])
		for k := 1; k+1 < len(words)-1; k += 2 {
			words[k], words[k+1] = words[k+1], words[k]
		}
		out.WriteString(strings.Join(words, " "))
		s = s[i+j:]
	}
	return []byte(out.String())
}

func htmlCapture(job, url, node string, body []byte) *schemas.Capture {
	return &schemas.Capture{
		Version: schemas.CaptureVersion, JobID: job, URL: url, Status: 200,
		ContentType: "text/html; charset=utf-8", Body: body, BodySize: int64(len(body)),
		BodySHA256: schemas.SHA256Hex(body), FetchedAt: time.Now(), NodePeerID: node,
	}
}

func TestSamplingIsDeterministicByHash(t *testing.T) {
	a := newVerifier([]byte("secret one"))
	a2 := newVerifier([]byte("secret one"))
	b := newVerifier([]byte("secret two"))
	const n = 4000
	tests := []struct {
		rate     float64
		min, max int
	}{
		{0, 0, 0},
		{0.05, n * 3 / 100, n * 7 / 100},
		{0.5, n * 45 / 100, n * 55 / 100},
		{1, n, n},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.rate), func(t *testing.T) {
			count, differ := 0, 0
			for i := 0; i < n; i++ {
				u := fmt.Sprintf("http://127.0.0.1/page/%d", i)
				got := a.sampled("job", u, tc.rate)
				if got != a.sampled("job", u, tc.rate) || got != a2.sampled("job", u, tc.rate) {
					t.Fatalf("%s: sampling is not reproducible for one secret", u)
				}
				if got != b.sampled("job", u, tc.rate) {
					differ++
				}
				if got {
					count++
				}
			}
			if count < tc.min || count > tc.max {
				t.Errorf("sampled %d of %d at rate %v, want %d..%d", count, n, tc.rate, tc.min, tc.max)
			}
			if tc.rate > 0 && tc.rate < 1 && differ == 0 {
				t.Error("another secret samples exactly the same URLs: the draw ignores the secret")
			}
		})
	}
	if a.sampleDraw("job-a", "http://127.0.0.1/x") == a.sampleDraw("job-b", "http://127.0.0.1/x") {
		t.Error("the draw ignores the job")
	}
}

func TestAgreementTolerance(t *testing.T) {
	v := newVerifier([]byte("k"))
	fp := func(body []byte, status int) fingerprint {
		c := htmlCapture("j", "http://127.0.0.1/a", "n", body)
		c.Status = status
		return v.fingerprintOf(c)
	}
	page := article(3, "Buy the new Phone X today at the corner shop", "2026-11-25 10:00")
	tests := []struct {
		name string
		a, b fingerprint
		want bool
	}{
		{"same page, other ad and timestamp", fp(page, 200),
			fp(article(3, "Holiday deals on flights to the coast, book before Friday", "2026-11-25 10:07"), 200), true},
		{"identical", fp(page, 200), fp(page, 200), true},
		{"words swapped", fp(page, 200), fp(altered(page), 200), false},
		{"another article", fp(page, 200), fp(article(4, "", ""), 200), false},
		{"text against an empty page", fp(page, 200), fp([]byte("<html><body></body></html>"), 200), false},
		{"two empty pages, same status", fp(nil, 404), fp(nil, 404), true},
		{"two empty pages, other status", fp(nil, 404), fp(nil, 410), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, sim := agree(tc.a, tc.b)
			if got != tc.want {
				t.Errorf("agree = %v (similarity %.3f), want %v", got, sim, tc.want)
			}
		})
	}
}

// newCheck opens a check of url by orig with the given page.
func newCheck(v *verifier, url, orig string, body []byte, at time.Time) checkKey {
	key := checkKey{job: "j", url: url}
	v.add(&check{key: key, url: url, host: "127.0.0.1", orig: orig,
		origFP: v.fingerprintOf(htmlCapture("j", url, orig, body)), origBytes: int64(len(body)), created: at})
	return key
}

// fetchAs assigns key to node and records its fetch of body.
func fetchAs(t *testing.T, v *verifier, key checkKey, node string, body []byte, now time.Time) verdict {
	t.Helper()
	got := v.assign(node, []offer{{key: key}}, now, now.Add(time.Minute))
	if len(got) != 1 {
		t.Fatalf("check %s not assignable to %s", key.url, node)
	}
	vd, ok := v.record(key, node, v.fingerprintOf(htmlCapture("j", key.url, node, body)), int64(len(body)), false)
	if !ok {
		t.Fatalf("fetch of %s by %s not recorded", key.url, node)
	}
	return vd
}

func nodesOf(ps []party) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.node)
	}
	return out
}

func TestThirdFetchBreaksTie(t *testing.T) {
	page := article(5, "ad one", "10:00")
	other := article(5, "ad two", "10:05")
	lie := altered(page)
	tests := []struct {
		name               string
		orig, first, third []byte
		wantLied           bool
		wantVerified       bool
		wantInconclusive   bool
		wantPass, wantFail []string
	}{
		{"the first verifier lied", page, lie, other, false, true, false, []string{"O", "V2"}, []string{"V1"}},
		{"the original lied", lie, page, other, true, false, false, []string{"V1", "V2"}, []string{"O"}},
		{"nobody agrees", page, lie, article(8, "", ""), false, false, true, []string{"V1", "V2"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier([]byte("k"))
			now := time.Now()
			key := newCheck(v, "http://127.0.0.1/a", "O", tc.orig, now)
			vd := fetchAs(t, v, key, "V1", tc.first, now)
			if vd.done {
				t.Fatalf("one disagreeing fetch settled the check: %+v", vd)
			}
			if c := v.candidates("V1", now, 10, nil); len(c) != 0 {
				t.Fatal("the third fetch was offered to the first verifier")
			}
			if c := v.candidates("O", now, 10, nil); len(c) != 0 {
				t.Fatal("the third fetch was offered to the original node")
			}
			vd = fetchAs(t, v, key, "V2", tc.third, now)
			if !vd.done || vd.origLied != tc.wantLied || vd.origVerified != tc.wantVerified || vd.inconclusive != tc.wantInconclusive {
				t.Fatalf("verdict %+v", vd)
			}
			if got := fmt.Sprint(nodesOf(vd.pass)); got != fmt.Sprint(tc.wantPass) {
				t.Errorf("passed %s, want %v", got, tc.wantPass)
			}
			if got := fmt.Sprint(nodesOf(vd.fail)); got != fmt.Sprint(tc.wantFail) {
				t.Errorf("failed %s, want %v", got, tc.wantFail)
			}
			if v.pending("") != 0 {
				t.Error("a settled check is still pending")
			}
		})
	}
}

func TestVerifierNeverGoesToTheSameNode(t *testing.T) {
	v := newVerifier([]byte("k"))
	now := time.Now()
	page := article(1, "", "")
	key := newCheck(v, "http://127.0.0.1/a", "O", page, now)
	if c := v.candidates("O", now, 10, nil); len(c) != 0 {
		t.Fatalf("the original node is offered its own page: %+v", c)
	}
	if got := v.assign("O", []offer{{key: key}}, now, now.Add(time.Minute)); len(got) != 0 {
		t.Fatal("the original node was assigned its own page")
	}
	if got := v.assign("A", v.candidates("A", now, 10, nil), now, now.Add(time.Minute)); len(got) != 1 {
		t.Fatalf("A got %d checks, want 1", len(got))
	}
	if c := v.candidates("B", now, 10, nil); len(c) != 0 {
		t.Fatal("a check assigned to A was offered to B")
	}
	if _, ok := v.record(key, "B", fingerprint{}, 0, false); ok {
		t.Fatal("a capture by an unassigned node was taken as a verification")
	}
	// A gives up (lease released): someone else may take it, A never
	// again.
	v.release("A", []string{"http://127.0.0.1/a"})
	if c := v.candidates("B", now, 10, nil); len(c) != 1 {
		t.Fatal("a released check is not offered again")
	}
	if c := v.candidates("A", now, 10, nil); len(c) != 0 {
		t.Fatal("a released check is offered again to the node that gave it back")
	}
	vd := fetchAs(t, v, key, "B", page, now)
	if !vd.done || !vd.origVerified {
		t.Fatalf("an agreeing re-fetch did not verify the original: %+v", vd)
	}
	// A transient failure is set aside and the node is not asked again.
	key2 := newCheck(v, "http://127.0.0.1/b", "O", page, now)
	v.assign("A", []offer{{key: key2}}, now, now.Add(time.Minute))
	if vd, ok := v.record(key2, "A", fingerprint{}, 0, true); !ok || vd.done {
		t.Fatalf("transient fetch: ok=%v verdict %+v", ok, vd)
	}
	if c := v.candidates("A", now, 10, nil); len(c) != 0 {
		t.Fatal("a node that already answered is asked again")
	}
	// An assignment that ran out goes to another node.
	v.assign("B", []offer{{key: key2}}, now, now.Add(time.Second))
	if c := v.candidates("C", now.Add(2*time.Second), 10, nil); len(c) != 1 {
		t.Fatal("an expired assignment is not offered again")
	}
	if c := v.candidates("B", now.Add(2*time.Second), 10, nil); len(c) != 0 {
		t.Fatal("a lapsed check is offered again to the node that let it lapse")
	}
	if l := v.takeLapses(now.Add(2 * time.Second)); len(l) != 1 || l[0].node != "B" {
		t.Fatalf("lapses %+v, want one of B", l)
	}
	if n := v.expire(now.Add(time.Hour), time.Minute); n != 1 || v.pending("j") != 0 {
		t.Fatalf("expire dropped %d, %d pending", n, v.pending("j"))
	}
}

func TestReputation(t *testing.T) {
	tests := []struct {
		passed, failed int64
		want           float64
		quarantine     bool
	}{
		{0, 0, 1, false},
		{0, 1, 2.0 / 3, false},
		{0, 2, 0.5, false},
		{0, 3, 0.4, true},
		{100, 5, 1, false}, // an honest node that was unlucky a few times
		{10, 30, 22.0 / 42, false},
		{10, 33, 22.0 / 45, true},
	}
	for _, tc := range tests {
		got := Reputation(tc.passed, tc.failed)
		if diff := got - tc.want; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("Reputation(%d, %d) = %v, want %v", tc.passed, tc.failed, got, tc.want)
		}
		if q := ShouldQuarantine(schemas.LedgerEntry{Reputation: got}); q != tc.quarantine {
			t.Errorf("Reputation(%d, %d) = %v: quarantine %v, want %v", tc.passed, tc.failed, got, q, tc.quarantine)
		}
	}
	for _, p := range []int64{0, 1, 2, 10, 1000} {
		if got := FailuresToQuarantine(p); got != 3*p+3 {
			t.Errorf("FailuresToQuarantine(%d) = %d, want %d", p, got, 3*p+3)
		}
	}

	// An honest node checked many times stays at the top.
	l := NewLedger()
	for i := 0; i < 200; i++ {
		l.Credit("honest", 1000)
		if i%4 == 0 {
			l.Verified("honest", 1000, true)
		}
	}
	e := l.Verified("honest", 1000, false)
	if e.Reputation != 1 || e.VerifiedPages != 50 || e.Failed != 1 || e.Quarantined {
		t.Errorf("honest node after 50 passed checks and 1 failed: %+v", e)
	}
	if e.Points <= 200 {
		t.Errorf("honest node has %.1f points for 200 pages", e.Points)
	}
}

// fakeNet is the coordinator's network without libp2p.
type fakeNet struct {
	id peer.ID
	mu sync.Mutex
	q  map[peer.ID]bool
}

func (f *fakeNet) ID() peer.ID { return f.id }
func (f *fakeNet) SubscribeCaptures(ctx context.Context) (<-chan *schemas.Capture, error) {
	return make(chan *schemas.Capture), nil
}
func (f *fakeNet) Quarantine(p peer.ID) { f.mu.Lock(); f.q[p] = true; f.mu.Unlock() }
func (f *fakeNet) IsQuarantined(p peer.ID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.q[p]
}

func testPeer(t testing.TB) peer.ID {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestVerificationThroughLeases drives the coordinator as nodes would:
// captures are ingested, verification re-fetches come back in leases of
// other nodes only, and a node that alters every page is quarantined at
// its third failed check, its pages taken out of the dataset and queued
// again. Every capture is checked (sample rate 1), so no version is
// published while a check is open: the liar's pages are never in one
// (pages published before a conviction are retracted from the next
// version: TestExcludeTakesOutANodesPages).
func TestVerificationThroughLeases(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := openTest(t, filepath.Join(dir, "frontier.db"), frontier.Config{DefaultHostPolicy: frontier.HostPolicy{MinDelay: 0, MaxConcurrency: 1}})
	c, _, net := newCoordinatorOn(t, dir, f, time.Minute)
	var quarantinedAt []schemas.LedgerEntry
	c.OnQuarantine(func(_ string, e schemas.LedgerEntry) { quarantinedAt = append(quarantinedAt, e) })
	excluded := map[string]bool{}
	c.OnExclude(func(_, docID string) { excluded[docID] = true })
	lastAccepted := map[string]string{} // doc ID -> node
	c.OnAccept(func(d schemas.Document) { lastAccepted[d.ID] = d.NodePeerID })

	const pages = 6
	var seeds []string
	for i := 0; i < pages; i++ {
		seeds = append(seeds, fmt.Sprintf("http://127.0.0.1:9/report/%d", i))
	}
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "v", Dataset: "v", Seeds: seeds,
		Scope: schemas.Scope{Domains: []string{"127.0.0.1:9"}}, MaxDepth: 1, VerifySampleRate: 1, TDMPolicy: schemas.TDMSkip}
	if _, err := c.Submit(ctx, spec); err != nil {
		t.Fatal(err)
	}
	liar, h1, h2, h3 := testPeer(t), testPeer(t), testPeer(t), testPeer(t)
	acquire := func(p peer.ID) *schemas.LeaseResponse {
		t.Helper()
		resp := c.HandleLease(ctx, p, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 3})
		if resp.Error != "" {
			t.Fatalf("lease for %s: %s", p, resp.Error)
		}
		return resp
	}
	page := func(u string) []byte {
		var i int
		fmt.Sscanf(u[strings.LastIndex(u, "/")+1:], "%d", &i)
		return article(i, fmt.Sprintf("ad %d", time.Now().UnixNano()), time.Now().Format(time.RFC3339Nano))
	}
	// deliver fetches every item of a lease as node p and ingests it; the
	// liar alters what it fetched. A node is never asked to verify a page
	// it fetched itself.
	origBy := map[string]peer.ID{}
	liarFetched := map[string]bool{}
	deliver := func(p peer.ID, resp *schemas.LeaseResponse) (verify int) {
		t.Helper()
		for _, it := range resp.Items {
			body := page(it.URL)
			if p == liar {
				body = altered(body)
			}
			if isCheckItem(c, p, it) {
				verify++
				if origBy[it.URL] == p {
					t.Fatalf("%s asked to verify its own capture of %s", p, it.URL)
				}
			} else {
				origBy[it.URL] = p
				liarFetched[it.URL] = liarFetched[it.URL] || p == liar
			}
			if err := c.Ingest(ctx, htmlCapture(it.JobID, it.URL, p.String(), body)); err != nil {
				t.Fatal(err)
			}
		}
		return verify
	}

	// The liar fetches the first three pages, an honest node the others.
	if n := deliver(liar, acquire(liar)); n != 0 {
		t.Fatalf("the liar got %d verification items before any check existed", n)
	}
	deliver(h1, acquire(h1))
	if got := c.verify.pending("v"); got != pages {
		t.Fatalf("%d checks open, want %d (sample rate 1)", got, pages)
	}
	prog, err := c.Progress(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	if prog.Accepted+prog.Review != pages {
		t.Fatalf("the pipeline did not keep the test pages: %+v", prog)
	}
	if done, _ := c.Finished(ctx, "v"); done {
		t.Fatal("job finished with verification checks open")
	}
	// The liar's pages are pending; no version may hold them before
	// their checks settle.
	liarRows := 0
	for _, node := range lastAccepted {
		if node == liar.String() {
			liarRows++
		}
	}
	if liarRows == 0 {
		t.Fatalf("%d accepted, none of the liar; the test needs some", prog.Accepted)
	}
	if _, _, err := c.Publish(ctx, "v"); !errors.Is(err, ErrChecksOpen) {
		t.Fatalf("publish with every check open: %v, want %v", err, ErrChecksOpen)
	}

	// Everyone asks in turn until no checks are left; a node is never
	// given a page it fetched itself.
	fetchedBy := map[string]map[string]bool{}
	for round := 0; round < 20 && c.verify.pending("v") > 0 && len(quarantinedAt) == 0; round++ {
		for _, p := range []peer.ID{h1, h2, liar, h3} {
			if net.IsQuarantined(p) {
				continue
			}
			resp := acquire(p)
			for _, it := range resp.Items {
				if !isCheckItem(c, p, it) {
					continue
				}
				if fetchedBy[it.URL][p.String()] {
					t.Fatalf("%s asked to verify %s twice", p, it.URL)
				}
				if fetchedBy[it.URL] == nil {
					fetchedBy[it.URL] = map[string]bool{}
				}
				fetchedBy[it.URL][p.String()] = true
			}
			deliver(p, resp)
		}
	}
	if len(quarantinedAt) != 1 {
		t.Fatalf("liar quarantined %d times; ledger %+v", len(quarantinedAt), c.Ledger().Entry(liar.String()))
	}
	if e := quarantinedAt[0]; e.Failed != FailuresToQuarantine(0) || e.VerifiedPages != 0 {
		t.Errorf("liar quarantined with %d failed and %d passed checks, want %d and 0", e.Failed, e.VerifiedPages, FailuresToQuarantine(0))
	}
	if !net.IsQuarantined(liar) {
		t.Error("the network does not quarantine the liar")
	}
	if resp := c.HandleLease(ctx, liar, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 3}); resp.Error == "" {
		t.Error("a quarantined node still gets leases")
	}
	for _, p := range []peer.ID{h1, h2, h3} {
		if e := c.Ledger().Entry(p.String()); e.Reputation != 1 || e.Failed != 0 {
			t.Errorf("honest node ledger %+v", e)
		}
	}
	// Drain: honest nodes fetch the pages again; the job then finishes and
	// the version holds every page once, none from the liar.
	for round := 0; round < 20; round++ {
		if done, _ := c.Finished(ctx, "v"); done {
			break
		}
		for _, p := range []peer.ID{h1, h2, h3} {
			deliver(p, acquire(p))
		}
	}
	if done, _ := c.Finished(ctx, "v"); !done {
		p, _ := c.Progress(ctx, "v")
		t.Fatalf("job not finished: %+v", p)
	}
	_, m, err := c.Publish(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	prog, _ = c.Progress(ctx, "v")
	if m.Rows != pages || prog.Accepted != pages {
		t.Errorf("version has %d rows, %d accepted, want %d", m.Rows, prog.Accepted, pages)
	}
	if m.Retracted != 0 {
		t.Errorf("the first version retracted %d rows, want none", m.Retracted)
	}
	// The liar's pages were taken out and accepted again from honest
	// fetches (same document IDs).
	var liarPages []string
	for u := range origBy {
		n, _ := NormalizeURL(u)
		id := DocumentID("v", n)
		if liarFetched[u] {
			liarPages = append(liarPages, u)
			if !excluded[id] {
				t.Errorf("the liar's page %s was not taken out", u)
			}
		}
		if lastAccepted[id] == liar.String() {
			t.Errorf("%s: the last accepted copy is the liar's", u)
		}
	}
	if len(liarPages) != 3 {
		t.Errorf("liar fetched %d pages, want 3", len(liarPages))
	}
}
