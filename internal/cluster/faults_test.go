package cluster

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/coordinator"
	"github.com/swardnet/sward/examples/site"
	"github.com/swardnet/sward/internal/faults"
	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/network"
	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// TestMain lets the fault tests re-execute this test binary as a
// coordinator they can SIGKILL (see internal/faults).
func TestMain(m *testing.M) {
	if faults.IsChild() {
		os.Exit(faults.ChildMain())
	}
	os.Exit(m.Run())
}

// faultDepth is the crawl depth of the fault tests' jobs.
const faultDepth = 4

// crawlLog records what a coordinator saw: captured pages (by URL and by
// final URL) and accepted documents, all normalised, and which of those
// are in the dataset now (accepted, and not excluded since: an excluded
// page is fetched again, and its new fetch may be rejected, as a
// near-duplicate of a page accepted meanwhile).
type crawlLog struct {
	mu       sync.Mutex
	captured map[string]bool
	accepted map[string]bool
	current  map[string]bool
	byID     map[string]string
	count    int
}

func newCrawlLog() *crawlLog {
	return &crawlLog{captured: map[string]bool{}, accepted: map[string]bool{}, current: map[string]bool{}, byID: map[string]string{}}
}

func (l *crawlLog) capture(t *testing.T, rawURL, finalURL string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count++
	for _, u := range []string{rawURL, finalURL} {
		if u == "" {
			continue
		}
		n, err := coordinator.NormalizeURL(u)
		if err != nil {
			t.Errorf("captured URL %q does not normalise: %v", u, err)
			continue
		}
		l.captured[n] = true
	}
}

func (l *crawlLog) accept(t *testing.T, u, id string) {
	n, err := coordinator.NormalizeURL(u)
	if err != nil {
		t.Errorf("accepted URL %q does not normalise: %v", u, err)
		return
	}
	l.mu.Lock()
	l.accepted[n], l.current[n] = true, true
	l.byID[id] = n
	l.mu.Unlock()
}

// exclude records that the document id left the next version.
func (l *crawlLog) exclude(id string) {
	l.mu.Lock()
	if n, ok := l.byID[id]; ok {
		l.current[n] = false
	}
	l.mu.Unlock()
}

func (l *crawlLog) captures() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

// watch records cl's captures and accepted documents in l.
func (l *crawlLog) watch(t *testing.T, cl *Cluster) {
	cl.Coordinator().OnCapture(func(c *schemas.Capture) { l.capture(t, c.URL, c.FinalURL) })
	cl.Coordinator().OnAccept(func(d schemas.Document) { l.accept(t, d.URL, d.ID) })
	cl.Coordinator().OnExclude(func(_, id string) { l.exclude(id) })
}

// checkDataset asserts the fault tests' invariant on a published version:
// its rows are accepted pages, each once, every page accepted and not
// excluded since among them, and every page a
// correct crawler must reach was captured. It returns the dataset's URLs.
func checkDataset(t *testing.T, store *storage.Store, root string, l *crawlLog, reachable []string) map[string]bool {
	t.Helper()
	c, err := cid.Decode(root)
	if err != nil {
		t.Fatalf("published CID %q: %v", root, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	docs, err := faults.DatasetDocuments(ctx, store, c)
	if err != nil {
		t.Fatalf("reading the published dataset: %v", err)
	}
	if len(docs) == 0 {
		t.Fatal("the published dataset is empty")
	}
	rows := map[string]bool{}
	ids := map[string]bool{}
	for _, d := range docs {
		n, err := coordinator.NormalizeURL(d.URL)
		if err != nil {
			t.Errorf("dataset row URL %q does not normalise: %v", d.URL, err)
			continue
		}
		if rows[n] {
			t.Errorf("dataset holds %s twice", n)
		}
		if ids[d.ID] {
			t.Errorf("dataset holds document ID %s twice", d.ID)
		}
		rows[n], ids[d.ID] = true, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var extra, lost, missing []string
	for u := range rows {
		if !l.accepted[u] {
			extra = append(extra, u)
		}
	}
	for u, in := range l.current {
		if in && !rows[u] {
			lost = append(lost, u)
		}
	}
	for _, u := range reachable {
		n, err := coordinator.NormalizeURL(u)
		if err != nil {
			t.Fatalf("reachable URL %q does not normalise: %v", u, err)
		}
		if !l.captured[n] {
			missing = append(missing, u)
		}
	}
	for _, p := range []struct {
		what string
		urls []string
	}{
		{"dataset rows the pipeline never accepted", extra},
		{"accepted pages missing from the dataset", lost},
		{"reachable pages never captured", missing},
	} {
		if len(p.urls) > 0 {
			sort.Strings(p.urls)
			t.Errorf("%d %s, e.g. %v", len(p.urls), p.what, p.urls[:min(5, len(p.urls))])
		}
	}
	return rows
}

// TestCrawlSurvivesKilledNodes kills three of ten nodes mid-crawl: their
// leases expire and other nodes fetch the URLs, so the dataset still holds
// every accepted page exactly once.
func TestCrawlSurvivesKilledNodes(t *testing.T) {
	cl := startSmall(t, 10)
	log := newCrawlLog()
	log.watch(t, cl)
	reachable := cl.Site().Reachable(faultDepth)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	spec := cl.Site().JobSpec("killed-nodes", faultDepth, 1000)
	spec.VerifySampleRate = 0
	id, err := cl.Coordinator().Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, left(ctx), "a quarter of the pages", func() bool { return log.captures() >= len(reachable)/4 })
	nodes := cl.Nodes()
	for _, n := range nodes[2:5] {
		n.Kill()
	}
	if got := log.captures(); got >= len(reachable) {
		t.Fatalf("the crawl was over (%d captures) before the nodes were killed", got)
	}
	res, err := cl.WaitAndPublish(ctx, id, testutil.LogWriter(t))
	if err != nil {
		t.Fatal(err)
	}
	rows := checkDataset(t, cl.store, res.CID, log, reachable)
	if int64(len(rows)) != res.Manifest.Rows {
		t.Errorf("manifest says %d rows, shards hold %d distinct pages", res.Manifest.Rows, len(rows))
	}
}

// TestCoordinatorCrashResumes SIGKILLs the coordinator (a child process)
// mid-crawl and starts it again on the same data directory, identity and
// port. The nodes rejoin by themselves; the crawl completes and the
// dataset holds every page accepted in either run exactly once.
func TestCoordinatorCrashResumes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := site.New(smallSite)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reachable := s.Reachable(faultDepth)
	spec := s.JobSpec("crash", faultDepth, 1000)
	spec.VerifySampleRate = 0

	dir := t.TempDir()
	cfg := faults.CoordinatorConfig{
		DataDir:   filepath.Join(dir, "coordinator"),
		Listen:    fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t)),
		LeaseTTL:  3 * time.Second,
		HostDelay: 10 * time.Millisecond,
		Job:       spec,
	}
	child, err := faults.StartChild(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Kill() }()
	addr, err := child.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*faults.Node
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()
	for i := range 4 {
		n, err := faults.StartNode(ctx, faults.NodeConfig{
			DataDir: filepath.Join(dir, fmt.Sprintf("node%d", i+1)), IP: fmt.Sprintf("127.0.0.%d", i+2),
			Coordinator: addr, HostDelay: 10 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}

	events := filepath.Join(cfg.DataDir, faults.EventsFile)
	countAccepted := func() int {
		evs, err := faults.ReadEvents(events)
		if err != nil {
			return 0
		}
		n := 0
		for _, e := range evs {
			if e.Kind == "accept" {
				n++
			}
		}
		return n
	}
	testutil.Eventually(t, left(ctx), "a sixth of the pages accepted", func() bool { return countAccepted() >= len(reachable)/6 })
	if err := child.Kill(); err != nil {
		t.Fatal(err)
	}
	before := countAccepted()
	t.Logf("killed the coordinator after %d accepted documents", before)

	cfg.Publish = true
	child, err = faults.StartChild(cfg)
	if err != nil {
		t.Fatal(err)
	}
	restarted := child
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("restarted coordinator's log (tail):\n%s", restarted.LogTail(30000))
		}
	})
	if err := child.Wait(ctx); err != nil {
		t.Fatalf("restarted coordinator: %v\n%s", err, child.LogTail(4000))
	}
	res, err := child.Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.Close()
	}
	nodes = nil

	evs, err := faults.ReadEvents(events)
	if err != nil {
		t.Fatal(err)
	}
	log := newCrawlLog()
	for _, e := range evs {
		switch e.Kind {
		case "capture":
			log.capture(t, e.URL, e.FinalURL)
		case "accept":
			log.accept(t, e.URL, e.ID)
		case "exclude":
			log.exclude(e.ID)
		}
	}
	if len(log.accepted) <= before {
		t.Errorf("no page was accepted after the restart (%d before the kill, %d in all): the kill came too late to test resuming", before, len(log.accepted))
	}
	store, err := storage.Open(ctx, filepath.Join(cfg.DataDir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rows := checkDataset(t, store, res.CID, log, reachable)
	if int64(len(rows)) != res.Rows {
		t.Errorf("manifest says %d rows, shards hold %d distinct pages", res.Rows, len(rows))
	}
}

// TestCaptureFloodIsHarmless crawls the same site twice at once, once
// while a rogue peer floods the captures topic with garbage, oversized,
// stale, replayed and misattributed messages. Both crawls capture the same
// pages and publish exactly their accepted pages, and the rogue peer ends
// with a negative score at the coordinator.
func TestCaptureFloodIsHarmless(t *testing.T) {
	var (
		mu       sync.Mutex
		captured = map[string]map[string]bool{}
	)
	for _, flood := range []bool{false, true} {
		name := "calm"
		if flood {
			name = "flooded"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cl := startSmall(t, 3)
			log := newCrawlLog()
			log.watch(t, cl)
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			var rogue *flooder
			if flood {
				var err error
				rogue, err = startFlooder(ctx, t, cl)
				if err != nil {
					t.Fatal(err)
				}
				cl.Coordinator().OnCapture(rogue.observe)
				go rogue.run()
			}
			spec := cl.Site().JobSpec("flood", faultDepth, 1000)
			spec.VerifySampleRate = 0
			id, err := cl.Coordinator().Submit(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			res, err := cl.WaitAndPublish(ctx, id, testutil.LogWriter(t))
			if err != nil {
				t.Fatal(err)
			}
			if rogue != nil {
				sent := rogue.stop()
				if sent < 50 {
					t.Errorf("the flooder sent only %d messages", sent)
				}
				if sc := cl.CoordinatorHost().Score(rogue.h.ID()); sc >= 0 {
					t.Errorf("the flooder's score at the coordinator is %v, want negative", sc)
				}
			}
			checkDataset(t, cl.store, res.CID, log, cl.Site().Reachable(faultDepth))
			mu.Lock()
			captured[name] = log.captured
			mu.Unlock()
		})
	}
	if t.Failed() {
		return
	}
	calm, flooded := captured["calm"], captured["flooded"]
	for u := range calm {
		if !flooded[u] {
			t.Errorf("the flooded crawl never captured %s", u)
		}
	}
	for u := range flooded {
		if !calm[u] {
			t.Errorf("the flooded crawl captured %s, the calm one did not", u)
		}
	}
}

// flooder is a plain go-libp2p host with its own gossipsub that joins the
// captures topic and publishes junk to the coordinator and every node.
type flooder struct {
	t      *testing.T
	h      interface{ ID() peer.ID }
	key    crypto.PrivKey
	topic  *pubsub.Topic
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	real   [][]byte // encoded real captures, to replay verbatim
	sent   int
	close  func()
}

func startFlooder(ctx context.Context, t *testing.T, cl *Cluster) (*flooder, error) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		return nil, err
	}
	fctx, cancel := context.WithCancel(ctx)
	ps, err := pubsub.NewGossipSub(fctx, h, pubsub.WithMaxMessageSize(schemas.MaxMessageSize+1<<20))
	if err != nil {
		cancel()
		_ = h.Close()
		return nil, err
	}
	topic, err := ps.Join(schemas.TopicCaptures)
	if err != nil {
		cancel()
		_ = h.Close()
		return nil, err
	}
	sub, err := topic.Subscribe()
	if err != nil {
		cancel()
		_ = h.Close()
		return nil, err
	}
	addrs := []string{cl.CoordinatorAddr()}
	for _, n := range cl.Nodes() {
		addrs = append(addrs, n.Host.Addrs()[0])
	}
	for _, a := range addrs {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil {
			cancel()
			_ = h.Close()
			return nil, err
		}
		if err := h.Connect(fctx, *ai); err != nil {
			cancel()
			_ = h.Close()
			return nil, fmt.Errorf("flooder connecting to %s: %w", a, err)
		}
	}
	f := &flooder{t: t, h: h, key: key, topic: topic, ctx: fctx, cancel: cancel, done: make(chan struct{})}
	f.close = func() {
		sub.Cancel()
		_ = topic.Close()
		_ = h.Close()
	}
	return f, nil
}

// observe keeps the encoded form of real captures for verbatim replays.
func (f *flooder) observe(c *schemas.Capture) {
	data, err := network.EncodeCaptureMessage(c)
	if err != nil {
		f.t.Errorf("encoding an observed capture: %v", err)
		return
	}
	f.mu.Lock()
	if len(f.real) < 64 {
		f.real = append(f.real, data)
	}
	f.mu.Unlock()
}

// junk returns the i-th flood message: it cycles through every kind.
func (f *flooder) junk(i int) []byte {
	switch i % 6 {
	case 0: // random bytes
		b := make([]byte, 512)
		_, _ = rand.Read(b)
		return b
	case 1: // a message over the size limit
		if i%60 != 1 {
			return []byte(`{"version":1,"capture":`)
		}
		return make([]byte, schemas.MaxMessageSize+1024)
	case 2: // a real capture replayed verbatim by another author
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.real) == 0 {
			return []byte("{}")
		}
		return f.real[i%len(f.real)]
	default: // captures signed by the flooder: one replayed again and again, stale ones, forged ones
		c := &schemas.Capture{
			Version: schemas.CaptureVersion, URL: "http://127.0.0.250/rogue", JobID: "no-such-job", Status: 200,
			FetchedAt: time.Now().Add(-time.Minute).UTC().Truncate(time.Second), Body: []byte("<html>rogue</html>"),
			ContentType: "text/html",
		}
		c.BodySize = int64(len(c.Body))
		c.BodySHA256 = schemas.SHA256Hex(c.Body)
		if i%6 == 4 {
			c.FetchedAt = c.FetchedAt.Add(-2 * network.DefaultReplayWindow)
		}
		if err := network.SignCapture(f.key, c); err != nil {
			f.t.Errorf("signing a rogue capture: %v", err)
			return []byte("{}")
		}
		if i%6 == 5 {
			c.Signature[0] ^= 0xff
		}
		data, err := network.EncodeCaptureMessage(c)
		if err != nil {
			f.t.Errorf("encoding a rogue capture: %v", err)
			return []byte("{}")
		}
		return data
	}
}

func (f *flooder) run() {
	defer close(f.done)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-f.ctx.Done():
			return
		case <-tick.C:
		}
		if err := f.topic.Publish(f.ctx, f.junk(i)); err != nil {
			if f.ctx.Err() != nil {
				return
			}
			continue
		}
		f.mu.Lock()
		f.sent++
		f.mu.Unlock()
	}
}

// stop ends the flood and returns the number of messages published.
func (f *flooder) stop() int {
	f.cancel()
	<-f.done
	f.close()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sent
}

// left is what remains of ctx's deadline (ctx must have one): the
// cluster tests wait for a state for as long as the test's budget lasts.
func left(ctx context.Context) time.Duration {
	d, _ := ctx.Deadline()
	return time.Until(d)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
