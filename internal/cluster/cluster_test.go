package cluster

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/swardnet/sward/coordinator"
	"github.com/swardnet/sward/examples/site"
	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// smallSite keeps end-to-end tests quick while still spanning several hosts,
// robots rules, duplicates, junk and the calendar trap.
var smallSite = site.Config{Hosts: 3, PagesPerHost: 20}

func startSmall(t *testing.T, nodes int) *Cluster {
	t.Helper()
	return startSmallWith(t, Options{Nodes: nodes})
}

// startSmallWith starts a cluster on smallSite with o's node settings.
func startSmallWith(t *testing.T, o Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	o.DataDir, o.Site, o.HostDelay, o.LeaseTTL = t.TempDir(), smallSite, 10*time.Millisecond, 3*time.Second
	cl, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("starting cluster: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestEveryPageCapturedOnce crawls a small site with three nodes on real
// libp2p hosts and checks that every page a correct crawler must reach was
// captured, and none twice. The nodes are not told the coordinator: they
// trust it and find the job in its announcements on the jobs topic.
func TestEveryPageCapturedOnce(t *testing.T) {
	cl := startSmallWith(t, Options{Nodes: 3, Discover: true})
	var mu sync.Mutex
	seen := map[string]int{}
	final := map[string]bool{}
	cl.Coordinator().OnCapture(func(c *schemas.Capture) {
		mu.Lock()
		seen[c.URL]++
		if c.FinalURL != "" {
			final[c.FinalURL] = true
		}
		mu.Unlock()
	})
	const depth = 4
	spec := cl.Site().JobSpec("once", depth, 1000)
	spec.VerifySampleRate = 0
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id, err := cl.Coordinator().Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cl.WaitAndPublish(ctx, id, testutil.LogWriter(t))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for u, n := range seen {
		if n != 1 {
			t.Errorf("%s captured %d times", u, n)
		}
	}
	captured := map[string]bool{}
	for u := range seen {
		n, err := coordinator.NormalizeURL(u)
		if err != nil {
			t.Fatalf("captured URL %q does not normalise: %v", u, err)
		}
		captured[n] = true
	}
	for u := range final {
		n, err := coordinator.NormalizeURL(u)
		if err != nil {
			t.Fatalf("final URL %q does not normalise: %v", u, err)
		}
		captured[n] = true
	}
	var missing []string
	for _, u := range cl.Site().Reachable(depth) {
		n, _ := coordinator.NormalizeURL(u)
		if !captured[n] {
			missing = append(missing, u)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d reachable pages never captured, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
	if res.Manifest.Rows != res.Progress.Accepted || res.Progress.Accepted == 0 {
		t.Errorf("dataset has %d rows, accepted %d", res.Manifest.Rows, res.Progress.Accepted)
	}
}

// TestDemoJobEndToEnd runs the demo's job on a small site and pulls the
// published version from a separate libp2p host, as `sward dataset pull`
// does from another terminal.
func TestDemoJobEndToEnd(t *testing.T) {
	cl := startSmall(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id, err := cl.Coordinator().Submit(ctx, cl.Site().JobSpec("demo", 6, 1000))
	if err != nil {
		t.Fatal(err)
	}
	res, err := cl.WaitAndPublish(ctx, id, testutil.LogWriter(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.PullCmd, res.CID) {
		t.Errorf("pull command %q does not name the CID", res.PullCmd)
	}
	root, err := cid.Decode(res.CID)
	if err != nil {
		t.Fatalf("published CID %q: %v", res.CID, err)
	}
	if root.Version() != 1 {
		t.Errorf("dataset CID is version %d, want CIDv1", root.Version())
	}

	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	maddr, err := ma.NewMultiaddr(cl.CoordinatorAddr())
	if err != nil {
		t.Fatal(err)
	}
	info, err := peer.AddrInfoFromP2pAddr(maddr)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "demo")
	m, err := storage.Pull(ctx, h, []peer.AddrInfo{*info}, root, out, nil)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if m.Rows != res.Progress.Accepted {
		t.Errorf("pulled manifest has %d rows, accepted %d", m.Rows, res.Progress.Accepted)
	}
	rows := countParquetRows(t, filepath.Join(out, "data"))
	if rows != res.Progress.Accepted {
		t.Errorf("parquet files hold %d rows, accepted %d", rows, res.Progress.Accepted)
	}
	if res.Progress.Rejected == 0 {
		t.Error("the example site's junk pages should be rejected, got none")
	}
}

func countParquetRows(t *testing.T, dir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".parquet") || !strings.HasPrefix(e.Name(), "train-") {
			continue
		}
		r, err := file.OpenParquetFile(filepath.Join(dir, e.Name()), false)
		if err != nil {
			t.Fatalf("opening %s: %v", e.Name(), err)
		}
		fr, err := pqarrow.NewFileReader(r, pqarrow.ArrowReadProperties{BatchSize: 1024}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// Every row must decode as a Document.
		tr := array.NewTableReader(tbl, 0)
		for tr.Next() {
			if _, err := schemas.DocumentsFromRecord(tr.RecordBatch()); err != nil {
				t.Fatalf("%s: %v", e.Name(), err)
			}
		}
		tr.Release()
		total += tbl.NumRows()
		tbl.Release()
		r.Close()
	}
	return total
}
