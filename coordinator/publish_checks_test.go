package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// TestFullVerificationPublishesOnlySettledPages: a job that checks every
// capture (verify_sample_rate 1) publishes no version while a check is
// open, not even one racing the ingest of a capture whose check is not
// open yet, so a liar's page is never in a version: once its check
// convicts the liar, the version holds the honest pages only, and the
// liar's page when an honest node fetched it again and that check
// settled too. The job API answers 409 meanwhile.
func TestFullVerificationPublishesOnlySettledPages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := openTest(t, filepath.Join(dir, "frontier.db"), frontier.Config{DefaultHostPolicy: frontier.HostPolicy{MinDelay: 0, MaxConcurrency: 1}})
	c, st, _ := newCoordinatorOn(t, dir, f, time.Minute)
	c.log = quietLogger()
	c.trust.cfg.ProbationLeaseItems = 64
	const pages = 3
	urls := make([]string, pages)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://127.0.0.1:9/report/%d", i)
	}
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "full", Dataset: "full", Seeds: urls,
		Scope: schemas.Scope{Domains: []string{"127.0.0.1:9"}}, MaxDepth: 0, VerifySampleRate: 1, TDMPolicy: schemas.TDMSkip}
	if _, err := c.Submit(ctx, spec); err != nil {
		t.Fatal(err)
	}
	liar, h1, h2, h3 := testPeer(t), testPeer(t), testPeer(t), testPeer(t)
	page := func(node peer.ID, u string) []byte {
		body := article(pageIndex(u), fmt.Sprintf("ad %d", time.Now().UnixNano()), time.Now().Format(time.RFC3339Nano))
		if node == liar {
			return altered(body)
		}
		return body
	}
	// crawl leases max URLs to node and ingests its captures of them.
	crawl := func(node peer.ID, max int) {
		t.Helper()
		resp := c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: max})
		if resp.Error != "" || len(resp.Items) == 0 {
			t.Fatalf("lease for %s: %q %+v", node, resp.Error, resp.Items)
		}
		var checks []string
		for _, it := range resp.Items {
			if isCheckItem(c, node, it) {
				// The test gives re-fetches out itself (verify).
				checks = append(checks, it.URL)
				continue
			}
			if err := c.Ingest(ctx, htmlCapture("full", it.URL, node.String(), page(node, it.URL))); err != nil {
				t.Fatal(err)
			}
		}
		c.verify.release(node.String(), checks)
	}
	// verify has node re-fetch page i for its open check.
	verify := func(node peer.ID, i int) {
		t.Helper()
		key := checkKey{job: "full", url: mustNorm(t, urls[i])}
		now := time.Now()
		if got := c.verify.assign(node.String(), []offer{{key: key, url: urls[i]}}, now, now.Add(time.Minute)); len(got) != 1 {
			t.Fatalf("the check of page %d cannot be given to %s", i, node)
		}
		if err := c.Ingest(ctx, htmlCapture("full", urls[i], node.String(), page(node, urls[i]))); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(when string) {
		t.Helper()
		if _, _, err := c.Publish(ctx, "full"); !errors.Is(err, ErrChecksOpen) {
			t.Errorf("publish %s: %v, want %v", when, err, ErrChecksOpen)
		}
	}
	// published publishes and returns the version's rows by node.
	published := func() map[string][]string {
		t.Helper()
		root, _, err := c.Publish(ctx, "full")
		if err != nil {
			t.Fatal(err)
		}
		rows := map[string][]string{}
		for _, d := range versionDocs(t, st, root) {
			rows[d.NodePeerID] = append(rows[d.NodePeerID], d.URL)
		}
		return rows
	}

	// A publish that comes while the liar's capture is being committed
	// (its document is stored, its check not open yet) waits for the
	// commit, and then finds the check open.
	raced := make(chan error, 1)
	early, racing := false, false
	c.OnAccept(func(d schemas.Document) {
		if d.NodePeerID != liar.String() || racing {
			return
		}
		racing = true
		go func() {
			_, _, err := c.Publish(ctx, "full")
			raced <- err
		}()
		select {
		case err := <-raced:
			early = true
			raced <- err
		case <-time.After(time.Second):
		}
	})
	crawl(liar, 1)
	if !c.verify.isOpen(checkKey{job: "full", url: mustNorm(t, urls[0])}) {
		t.Fatal("the liar did not fetch page 0")
	}
	if early {
		t.Error("a publish returned while a capture's document was stored and its check not open yet")
	}
	select {
	case err := <-raced:
		if !errors.Is(err, ErrChecksOpen) {
			t.Errorf("publish racing the liar's capture: %v, want %v", err, ErrChecksOpen)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no publish raced the liar's capture (its page was not accepted)")
	}
	crawl(h1, 2)
	refused("with every check open")
	if _, err := st.Head(ctx, "full"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a version was published: head %v", err)
	}
	srv := httptest.NewServer(newTestAPI(t, c, "0123456789abcdef0123456789abcdef").Handler())
	defer srv.Close()
	if code, out := apiCall(t, srv.URL, "POST", "/v1/jobs/full/publish", "", "0123456789abcdef0123456789abcdef"); code != http.StatusConflict {
		t.Errorf("publish over the API with checks open: %d %v, want 409", code, out)
	}

	// The honest pages pass; the liar is convicted by two re-fetches.
	verify(h2, 1)
	verify(h2, 2)
	refused("with the liar's check open")
	verify(h2, 0)
	verify(h3, 0)
	if !c.isQuarantined(liar.String()) {
		t.Fatal("the liar was not convicted")
	}
	rows := published()
	if len(rows[liar.String()]) != 0 || len(rows[h1.String()]) != 2 {
		t.Errorf("version after the conviction: %v, want h1's 2 pages and none of the liar", rows)
	}

	// The liar's page, fetched again by an honest node, is published once
	// its check settled.
	crawl(h2, 1)
	refused("with the re-fetch's check open")
	verify(h3, 0)
	rows = published()
	if len(rows[h2.String()]) != 1 || rows[h2.String()][0] != urls[0] || len(rows[liar.String()]) != 0 {
		t.Errorf("version after the re-fetch: %v, want page 0 from h2", rows)
	}
	if done, _ := c.Finished(ctx, "full"); !done {
		t.Error("the job is not finished")
	}
}

// versionDocs reads every row of the main table of the dataset version
// root.
func versionDocs(t *testing.T, st *storage.Store, root string) []schemas.Document {
	t.Helper()
	ctx := context.Background()
	rc, err := cid.Decode(root)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.Manifest(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	var docs []schemas.Document
	for _, sh := range m.Shards {
		f, err := st.OpenFile(ctx, rc, sh.Path)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(f)
		_ = f.Close()
		if err != nil {
			t.Fatal(err)
		}
		pf, err := file.NewParquetReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1024}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tr := array.NewTableReader(tbl, 1024)
		for tr.Next() {
			got, err := schemas.DocumentsFromRecord(tr.RecordBatch())
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, got...)
		}
		tr.Release()
		tbl.Release()
		_ = pf.Close()
	}
	if int64(len(docs)) != m.Rows {
		t.Fatalf("version %s: read %d rows, the manifest says %d", root, len(docs), m.Rows)
	}
	return docs
}
