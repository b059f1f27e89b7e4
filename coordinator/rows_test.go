package coordinator

import (
	"context"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/schemas"
)

// TestEveryRowNamesItsCapture: every document a crawl accepts (what the
// dataset stores and the feed is handed) names, by capture_cid, a capture
// record in the coordinator's store holding the signed capture it came
// from; its ID is the job's ID of its URL, so a re-fetch keeps it.
func TestEveryRowNamesItsCapture(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := openTest(t, dir+"/frontier.db", frontier.Config{DefaultHostPolicy: frontier.HostPolicy{MinDelay: 0, MaxConcurrency: 8}})
	c, st, _ := newCoordinatorOn(t, dir, f, 0)
	var seeds []string
	for i := range 5 {
		seeds = append(seeds, fmt.Sprintf("http://127.0.0.1:9/report/%d", i))
	}
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "cid", Dataset: "cid", Seeds: seeds,
		Scope: schemas.Scope{Domains: []string{"127.0.0.1:9"}}, MaxDepth: 1, TDMPolicy: schemas.TDMSkip}
	if _, err := c.Submit(ctx, spec); err != nil {
		t.Fatal(err)
	}
	var docs []schemas.Document
	c.OnAccept(func(d schemas.Document) { docs = append(docs, d) })
	node := testPeer(t)
	// A new identity is on probation and leases a few URLs at a time.
	var items []schemas.LeaseItem
	for range 10 {
		resp := c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 10})
		items = append(items, resp.Items...)
		if len(items) >= len(seeds) || len(resp.Items) == 0 {
			break
		}
	}
	if len(items) != len(seeds) {
		t.Fatalf("leased %d items, want %d", len(items), len(seeds))
	}
	sent := map[string]*schemas.Capture{}
	for i, it := range items {
		capt := htmlCapture("cid", it.URL, node.String(), article(100+i, "ad", "now"))
		capt.Signature = []byte("sig-" + it.URL) // kept verbatim in the record
		sent[it.URL] = capt
		if err := c.Ingest(ctx, capt); err != nil {
			t.Fatal(err)
		}
	}
	if len(docs) == 0 {
		t.Fatal("no document accepted")
	}
	p, err := c.Progress(ctx, "cid")
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(docs)) != p.Accepted {
		t.Errorf("%d documents emitted, progress says %d accepted", len(docs), p.Accepted)
	}
	for _, d := range docs {
		if d.CaptureCID == "" {
			t.Fatalf("row %s has no capture_cid", d.URL)
		}
		root, err := cid.Decode(d.CaptureCID)
		if err != nil {
			t.Fatalf("row %s: capture_cid %q: %v", d.URL, d.CaptureCID, err)
		}
		got, err := st.ReadCapture(ctx, root)
		if err != nil {
			t.Fatalf("row %s: %v", d.URL, err)
		}
		want := sent[d.URL]
		if got.URL != want.URL || got.BodySHA256 != want.BodySHA256 || string(got.Signature) != string(want.Signature) || string(got.SigningBytes()) != string(want.SigningBytes()) {
			t.Errorf("row %s names the capture of %s, not the signed capture it came from", d.URL, got.URL)
		}
		if schemas.SHA256Hex(got.Body) != want.BodySHA256 {
			t.Errorf("row %s: capture record lost the inline body", d.URL)
		}
		norm, _ := NormalizeURL(d.URL)
		if d.ID != schemas.DocumentID("cid", norm) {
			t.Errorf("row %s has ID %s, want the job's ID of its URL", d.URL, d.ID)
		}
	}
}
