package coordinator

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// The adversary suite drives the real coordinator (HandleLease, Ingest,
// the SQLite frontier, the pipeline and the block store) with honest
// nodes and one modified client per test, as issue 13 reproduced the
// attacks: 4 honest nodes, 600 pages, 5% sample rate.

// advPages and advHosts shape the simulated site.
const (
	advPages = 600
	advHosts = 20
	advRate  = 0.05
)

// advURL is page i of the simulated site.
func advURL(i int) string { return fmt.Sprintf("http://127.0.0.%d:9/report/%d", 1+i%advHosts, i) }

// pageIndex is the page number of a simulated URL.
func pageIndex(u string) int {
	var i int
	fmt.Sscanf(u[strings.LastIndex(u, "/")+1:], "%d", &i)
	return i
}

// honestPage is page i as the site serves it now: a new ad and timestamp
// on every fetch.
func honestPage(i int) []byte {
	return article(1000+i, fmt.Sprintf("ad %d", time.Now().UnixNano()), time.Now().Format(time.RFC3339Nano))
}

// spam is text an attacker injects.
const spamSentence = "Cheap replica watches ship overnight from our trusted partner store with free returns. "

// injectSpam adds spam worth about share of the page's article text as a
// paragraph of its own.
func injectSpam(page []byte, share float64) []byte {
	s := string(page)
	words := 0
	for _, p := range strings.Split(s, "<p>")[1:] {
		words += len(strings.Fields(p[:strings.Index(p, "</p>")]))
	}
	want := int(float64(words) * share / (1 - share))
	per := len(strings.Fields(spamSentence))
	spam := strings.Repeat(spamSentence, max(1, (want+per-1)/per))
	i := strings.LastIndex(s, "</article>")
	return []byte(s[:i] + "<p>" + spam + "</p>" + s[i:])
}

// advNode is one simulated node. fetch turns a leased item into the
// capture it delivers (nil: none); isCheck is what an oracle attacker
// may use (the real coordinator gives nodes no way to tell).
type advNode struct {
	id     peer.ID
	addr   netip.Addr
	honest bool
	fetch  func(s *advSim, n *advNode, it schemas.LeaseItem, isCheck bool) *schemas.Capture
	// fetched counts the captures the node delivered.
	fetched int
	// quitAfter, when not zero, makes the node stop asking for work once
	// it delivered that many captures (a hit-and-run identity); it
	// finishes the lease it holds.
	quitAfter int
}

// advSim is one simulated crawl.
type advSim struct {
	t     testing.TB
	ctx   context.Context
	c     *Coordinator
	net   *fakeNet
	nodes []*advNode

	mu sync.Mutex
	// lies holds the doc IDs of pages an attacker altered, by node.
	lies map[string]map[string]bool
	// live holds, per node, the doc IDs of its pages now in the next
	// version (accepted and not excluded since).
	live        map[string]map[string]bool
	quarantined map[string]bool
	// seed, when not zero, makes the nodes' keys reproducible (their
	// sample draws and lie placements follow from them).
	seed  uint64
	added int
	// afterIngest, when set, is called after each capture a node
	// delivered was ingested (isCheck: it answered a check).
	afterIngest func(n *advNode, it schemas.LeaseItem, isCheck bool)
}

// advAddrNet is a fakeNet that also knows each peer's address.
type advAddrNet struct {
	*fakeNet
	mu    sync.Mutex
	addrs map[peer.ID]netip.Addr
}

func (a *advAddrNet) PeerAddr(p peer.ID) (netip.Addr, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ad, ok := a.addrs[p]
	return ad, ok
}

// newAdvSim starts a coordinator over a fresh frontier, store and
// pipeline with the site's job, and a trusted fetcher when trusted.
func newAdvSim(t testing.TB, rate float64, trusted bool, tune func(*Config)) *advSim {
	t.Helper()
	return newAdvSimN(t, advPages, rate, trusted, tune)
}

// newAdvSimN is newAdvSim with a site of pages pages.
func newAdvSimN(t testing.TB, pages int, rate float64, trusted bool, tune func(*Config)) *advSim {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	f := openTest(t, filepath.Join(dir, "frontier.db"), frontier.Config{DefaultHostPolicy: frontier.HostPolicy{MinDelay: 0, MaxConcurrency: 1}})
	st, pipe, fnet := newParts(t, dir)
	anet := &advAddrNet{fakeNet: fnet, addrs: map[peer.ID]netip.Addr{}}
	cfg := Config{LeaseTTL: time.Minute, VerifyPerLease: 4}
	if trusted {
		cfg.TrustedFetch = func(_ context.Context, u string) (*schemas.Capture, error) {
			return htmlCapture("", u, trustedNode, honestPage(pageIndex(u))), nil
		}
	}
	if tune != nil {
		tune(&cfg)
	}
	c, err := New(ctx, cfg, anet, f, st, pipe)
	if err != nil {
		t.Fatal(err)
	}
	c.log = quietLogger()
	s := &advSim{t: t, ctx: ctx, c: c, net: fnet, lies: map[string]map[string]bool{}, live: map[string]map[string]bool{}, quarantined: map[string]bool{}}
	c.OnAccept(func(d schemas.Document) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.live[d.NodePeerID] == nil {
			s.live[d.NodePeerID] = map[string]bool{}
		}
		s.live[d.NodePeerID][d.ID] = true
	})
	c.OnExclude(func(_, id string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, m := range s.live {
			delete(m, id)
		}
	})
	c.OnQuarantine(func(p string, _ schemas.LedgerEntry) {
		s.mu.Lock()
		s.quarantined[p] = true
		s.mu.Unlock()
	})
	seeds := make([]string, pages)
	for i := range seeds {
		seeds[i] = advURL(i)
	}
	domains := make([]string, advHosts)
	for i := range domains {
		domains[i] = fmt.Sprintf("127.0.0.%d:9", 1+i)
	}
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "adv", Dataset: "adv", Seeds: seeds,
		Scope: schemas.Scope{Domains: domains}, MaxDepth: 0, VerifySampleRate: rate, TDMPolicy: schemas.TDMSkip}
	if _, err := c.Submit(ctx, spec); err != nil {
		t.Fatal(err)
	}
	s.c.net = anet
	return s
}

// addNode adds a node at address 10.0.<net>.<host> (distinct /24s unless
// two nodes are given the same net).
func (s *advSim) addNode(netNo, host int, honest bool, fetch func(*advSim, *advNode, schemas.LeaseItem, bool) *schemas.Capture) *advNode {
	id := testPeer(s.t)
	if s.seed != 0 {
		id = seededPeer(s.t, s.seed, s.added)
	}
	s.added++
	n := &advNode{id: id, addr: netip.AddrFrom4([4]byte{10, 0, byte(netNo), byte(host)}), honest: honest, fetch: fetch}
	an := s.c.net.(*advAddrNet)
	an.mu.Lock()
	an.addrs[n.id] = n.addr
	an.mu.Unlock()
	s.nodes = append(s.nodes, n)
	return n
}

// honestFetch delivers the page as the site serves it.
func honestFetch(_ *advSim, n *advNode, it schemas.LeaseItem, _ bool) *schemas.Capture {
	return htmlCapture(it.JobID, it.URL, n.id.String(), honestPage(pageIndex(it.URL)))
}

// lieDraw is a node's fixed draw in [0, 1) for a URL.
func lieDraw(node peer.ID, u string) float64 {
	h := fnv.New64a()
	h.Write([]byte(node.String() + "\x00" + u))
	return float64(h.Sum64()>>11) / float64(uint64(1)<<53)
}

// noteLie records that n delivered an altered page of u.
func (s *advSim) noteLie(n *advNode, u string) {
	norm, _ := NormalizeURL(u)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lies[n.id.String()] == nil {
		s.lies[n.id.String()] = map[string]bool{}
	}
	s.lies[n.id.String()][DocumentID("adv", norm)] = true
}

// liar returns a fetch that alters pages (alter) on a share q of its
// fetches (every 1/q-th, the first at a random offset), and on checks too
// unless honestOnChecks.
func liar(q float64, honestOnChecks bool, alter func([]byte) []byte) func(*advSim, *advNode, schemas.LeaseItem, bool) *schemas.Capture {
	return liarFrom(q, 0, honestOnChecks, alter)
}

// liarFrom is liar whose first lie is its first-th fetch (counted from
// 1; 0 draws the offset as liar does), every 1/q-th after it.
func liarFrom(q float64, first int, honestOnChecks bool, alter func([]byte) []byte) func(*advSim, *advNode, schemas.LeaseItem, bool) *schemas.Capture {
	every := int(1/q + 0.5)
	count := 0
	return func(s *advSim, n *advNode, it schemas.LeaseItem, isCheck bool) *schemas.Capture {
		body := honestPage(pageIndex(it.URL))
		if isCheck && honestOnChecks {
			return htmlCapture(it.JobID, it.URL, n.id.String(), body)
		}
		count++
		offset := first
		if offset == 0 {
			offset = int(lieDraw(n.id, "offset") * float64(every))
		}
		if count%every != offset%every {
			return htmlCapture(it.JobID, it.URL, n.id.String(), body)
		}
		s.noteLie(n, it.URL)
		return htmlCapture(it.JobID, it.URL, n.id.String(), alter(body))
	}
}

// round has every node not quarantined take one lease, deliver its
// captures and report it complete, then sweeps the checks. A node the
// lease rate limit refused waits, as a real node waits out RetryAfter:
// the round ends with one refill interval of the limiter, so rounds
// stay productive on a fast machine instead of spinning through refusals.
func (s *advSim) round() {
	s.t.Helper()
	limited := false
	for _, n := range s.nodes {
		if s.net.IsQuarantined(n.id) || (n.quitAfter > 0 && n.fetched >= n.quitAfter) {
			continue
		}
		resp := s.c.HandleLease(s.ctx, n.id, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 8})
		if strings.HasPrefix(resp.Error, "rate limited") {
			limited = true
			continue
		}
		if resp.Error != "" || resp.LeaseID == "" {
			continue
		}
		var done []string
		for _, it := range resp.Items {
			isCheck := isCheckItem(s.c, n.id, it)
			capt := n.fetch(s, n, it, isCheck)
			if capt == nil {
				continue
			}
			n.fetched++
			if err := s.c.Ingest(s.ctx, capt); err != nil {
				s.t.Fatal(err)
			}
			if s.afterIngest != nil {
				s.afterIngest(n, it, isCheck)
			}
			done = append(done, it.URL)
		}
		s.c.HandleLease(s.ctx, n.id, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseComplete, LeaseID: resp.LeaseID, URLs: done})
	}
	s.c.sweepChecks(s.ctx, time.Now())
	if limited {
		time.Sleep(time.Duration(float64(time.Second) / s.c.cfg.Trust.LeaseRate))
	}
}

// run crawls until the job is finished (or rounds run out), lets
// unanswered checks lapse, and publishes.
func (s *advSim) run(maxRounds int) {
	s.t.Helper()
	for r := 0; r < maxRounds; r++ {
		if s.step(r) {
			break
		}
	}
	if _, _, err := s.c.Publish(s.ctx, "adv"); err != nil {
		s.t.Fatal(err)
	}
}

// step runs round r and reports whether the job is finished. Every tenth
// round a lease period passes: assignments nobody answered lapse, and
// checks without an eligible verifier go to the trusted fetcher.
func (s *advSim) step(r int) bool {
	s.round()
	if r%10 == 9 {
		s.c.sweepChecks(s.ctx, time.Now().Add(2*s.c.cfg.LeaseTTL+s.c.cfg.CompleteGrace))
	}
	done, _ := s.c.Finished(s.ctx, "adv")
	return done
}

// advResult is what one strategy achieved.
type advResult struct {
	// pointsRatio is the attacker's points per capture delivered over
	// the honest nodes' points per capture.
	pointsRatio float64
	lies        int
	// published is how many of the attacker's lies are in the next
	// version.
	published   int
	quarantined bool
	honestQuar  int
}

// result measures attacker nodes against the honest ones.
func (s *advSim) result(attackers ...*advNode) advResult {
	now := time.Now()
	var hp, hf float64
	var r advResult
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.nodes {
		st := s.c.ledger.Statement(n.id.String(), now)
		if n.honest {
			hp += st.Points
			hf += float64(n.fetched)
			if s.quarantined[n.id.String()] {
				r.honestQuar++
			}
		}
	}
	var ap, af float64
	for _, a := range attackers {
		ap += s.c.ledger.Statement(a.id.String(), now).Points
		af += float64(a.fetched)
		r.quarantined = r.quarantined || s.quarantined[a.id.String()]
		for id := range s.lies[a.id.String()] {
			r.lies++
			if s.live[a.id.String()][id] {
				r.published++
			}
		}
	}
	if af > 0 && hf > 0 && hp > 0 {
		r.pointsRatio = (ap / af) / (hp / hf)
	}
	return r
}

// newParts builds the store, pipeline and fake network of a coordinator
// in dir.
func newParts(tb testing.TB, dir string) (*storage.Store, *pipeline.Pipeline, *fakeNet) {
	tb.Helper()
	st, err := storage.Open(context.Background(), filepath.Join(dir, "store"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	pipe, err := pipeline.New(pipeline.DefaultConfig())
	if err != nil {
		tb.Fatal(err)
	}
	return st, pipe, &fakeNet{id: testPeer(tb), q: map[peer.ID]bool{}}
}

// seededPeer is node i's identity in the run of seed: the same every time.
func seededPeer(t testing.TB, seed uint64, i int) peer.ID {
	t.Helper()
	var k [32]byte
	binary.LittleEndian.PutUint64(k[:], seed)
	binary.LittleEndian.PutUint64(k[8:], uint64(i))
	priv, _, err := crypto.GenerateEd25519Key(rand.NewChaCha8(k))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// skipUnderRace skips the adversary suite in a -race build. Its crawls
// are statistics of the ledger's economics over thousands of pages, not
// tests of concurrency (the ingest, lease and verification tests run the
// same code under -race), and under the race detector they take longer
// than the package's timeout on two cores. `make test` runs them in a
// pass of their own without -race.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("adversary crawl: run without -race (make test runs it in its own pass)")
	}
}
