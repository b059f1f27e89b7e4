package cluster

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/swardnet/sward/coordinator"
	"github.com/swardnet/sward/internal/faults"
	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/network"
	"github.com/swardnet/sward/schemas"
)

// alterText rewrites the words of every text run of an HTML page between
// two tags: the first and last word of a run stay (so lines keep their
// capital and their full stop and the page still passes the quality
// filters), the words between swap places pairwise, and a two- or
// three-word run has its first two words swapped. Almost every 3-word
// shingle of the page changes, so an honest fetch of the page agrees with
// none of the altered one.
func alterText(page []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(page))
	for len(page) > 0 {
		lt := bytes.IndexByte(page, '<')
		if lt < 0 {
			lt = len(page)
		}
		out.Write(swapWords(page[:lt]))
		page = page[lt:]
		gt := bytes.IndexByte(page, '>')
		if gt < 0 {
			out.Write(page)
			break
		}
		out.Write(page[:gt+1])
		page = page[gt+1:]
	}
	return out.Bytes()
}

func swapWords(run []byte) []byte {
	words := strings.Fields(string(run))
	switch {
	case len(words) < 2:
		return run
	case len(words) <= 3:
		words[0], words[1] = words[1], words[0]
	default:
		for i := 1; i+1 < len(words)-1; i += 2 {
			words[i], words[i+1] = words[i+1], words[i]
		}
	}
	return []byte(" " + strings.Join(words, " ") + " ")
}

// lyingSigner plays a node that alters the text of every HTML page it
// fetches and signs the altered capture as its own.
func lyingSigner(key crypto.PrivKey, c *schemas.Capture) error {
	if len(c.Body) > 0 && strings.Contains(strings.ToLower(c.ContentType), "html") {
		c.Body = alterText(c.Body)
		c.BodySize = int64(len(c.Body))
		c.BodySHA256 = schemas.SHA256Hex(c.Body)
	}
	return network.SignCapture(key, c)
}

func TestAlterTextChangesWordsNotTags(t *testing.T) {
	in := `<html><p class="x">The quick brown fox jumps over the lazy dog.</p><h2>Latest news</h2></html>`
	got := string(alterText([]byte(in)))
	want := `<html><p class="x"> The brown quick jumps fox the over lazy dog. </p><h2> news Latest </h2></html>`
	if got != want {
		t.Errorf("alterText =\n%s\nwant\n%s", got, want)
	}
}

// TestLiarQuarantinedAndExcluded crawls the small site with three honest
// nodes and one that alters the text of every page it fetches, verifying
// every capture (verify_sample_rate 1).
//
// Bound. A confirmed lie (two re-fetches that agree with each other
// against the original, fetched close in time) quarantines the node at
// once and forfeits every point it has in escrow; the job's vesting
// period is longer than the test, so the liar ends with no page credited.
// As a verifier the liar fails its first check and is then never drawn
// as a verifier again; the checks it held already (at most
// VerifyIdlePerLease per lease, two leases in flight) may fail too, so it
// fails at most 1 + 2·VerifyIdlePerLease checks before its first
// confirmed lie as the original.
//
// Then none of its altered pages may be in the published dataset, and
// every reachable page must have been captured by an honest node.
func TestLiarQuarantinedAndExcluded(t *testing.T) {
	// One honest node and the liar get the job first, so the liar is sure
	// to capture pages before two more honest nodes join; with all four at
	// once, honest nodes' leases can take every host of the small site.
	cl := startSmall(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	liar, err := cl.AddNode(ctx, NodeOptions{HostDelay: 10 * time.Millisecond, Sign: lyingSigner})
	if err != nil {
		t.Fatal(err)
	}
	liarID := liar.Host.ID().String()

	var (
		mu       sync.Mutex
		atQuar   []schemas.LedgerEntry
		honest   = map[string]bool{}
		liarURLs = map[string]bool{}
	)
	coord := cl.Coordinator()
	coord.OnQuarantine(func(p string, e schemas.LedgerEntry) {
		mu.Lock()
		defer mu.Unlock()
		if p != liarID {
			t.Errorf("honest node %s quarantined (ledger %+v)", p, e)
		}
		atQuar = append(atQuar, e)
	})
	coord.OnCapture(func(c *schemas.Capture) {
		mu.Lock()
		defer mu.Unlock()
		for _, u := range []string{c.URL, c.FinalURL} {
			if u == "" {
				continue
			}
			n, err := coordinator.NormalizeURL(u)
			if err != nil {
				t.Errorf("captured URL %q does not normalise: %v", u, err)
				continue
			}
			if c.NodePeerID == liarID {
				liarURLs[n] = true
			} else {
				honest[n] = true
			}
		}
	})

	const depth = 4
	spec := cl.Site().JobSpec("liar", depth, 1000)
	spec.VerifySampleRate = 1
	id, err := coord.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, left(ctx), "the liar to capture a page", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(liarURLs) > 0
	})
	for range 2 {
		if _, err := cl.AddNode(ctx, NodeOptions{HostDelay: 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := cl.WaitAndPublish(ctx, id, testutil.LogWriter(t))
	if err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(liarURLs) == 0 {
		t.Fatal("the lying node captured nothing; the test proves nothing")
	}
	if len(atQuar) != 1 {
		t.Fatalf("liar quarantined %d times, want once", len(atQuar))
	}
	e := atQuar[0]
	t.Logf("liar captured %d URLs; quarantined with %d passed and %d failed checks (reputation %.2f)",
		len(liarURLs), e.VerifiedPages, e.Failed, e.Reputation)
	if e.Pages != 0 || e.Points != 0 {
		t.Errorf("liar keeps %d pages, %.1f points after its confirmed lie; want all forfeited", e.Pages, e.Points)
	}
	if st := coord.Ledger().Statement(liarID, time.Now()); st.Forfeit.Pages == 0 {
		t.Errorf("liar's statement shows nothing forfeited: %+v", st)
	}
	if e.Failed < coordinator.FailuresToQuarantine(e.VerifiedPages) {
		t.Errorf("liar's reputation survives its lie: %+v", e)
	}
	if !cl.CoordinatorHost().IsQuarantined(liar.Host.ID()) {
		t.Error("the coordinator's host does not quarantine the liar")
	}
	if le := coord.Ledger().Entry(liarID); !le.Quarantined {
		t.Errorf("ledger entry of the liar not marked quarantined: %+v", le)
	}
	for _, le := range coord.Ledger().All() {
		if le.Peer != liarID && le.Reputation < 0.99 {
			t.Errorf("honest node %s has reputation %.2f (%d passed, %d failed)", le.Peer, le.Reputation, le.VerifiedPages, le.Failed)
		}
	}

	// Every page the crawl must reach was fetched by an honest node.
	for _, u := range cl.Site().Reachable(depth) {
		n, _ := coordinator.NormalizeURL(u)
		if !honest[n] {
			t.Errorf("reachable page %s never captured by an honest node (liar had it: %v)", u, liarURLs[n])
		}
	}

	root, err := cid.Decode(res.CID)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := faults.DatasetDocuments(context.Background(), cl.store, root)
	if err != nil {
		t.Fatalf("reading the published dataset: %v", err)
	}
	if int64(len(docs)) != res.Progress.Accepted || len(docs) == 0 {
		t.Errorf("dataset has %d rows, progress says %d accepted", len(docs), res.Progress.Accepted)
	}
	urls := map[string]bool{}
	for _, d := range docs {
		if d.NodePeerID == liarID {
			t.Errorf("a page of the liar reached the dataset: %s", d.URL)
		}
		if urls[d.URL] {
			t.Errorf("%s is in the dataset twice", d.URL)
		}
		urls[d.URL] = true
	}
}
