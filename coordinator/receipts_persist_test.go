package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/swardnet/sward/schemas"
)

// TestReceiptsSurviveRestart: a node owner checks its points against its
// receipts. Before they were kept, a coordinator restart lost every
// receipt and drew a new signing key, so no receipt issued before it
// verified against the published key. Now the receipts (the newest
// maxReceiptsPerPeer of each peer) and the key survive, and numbering
// goes on.
func TestReceiptsSurviveRestart(t *testing.T) {
	defer func(n int) { maxReceiptsPerPeer = n }(maxReceiptsPerPeer)
	maxReceiptsPerPeer = 2
	ctx := context.Background()
	dir := t.TempDir()
	env := openPersistEnv(t, dir)
	var urls []string
	for i := range 4 {
		urls = append(urls, fmt.Sprintf("http://127.0.0.1:9/receipt/%d", i))
	}
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "rc", Dataset: "rc", Seeds: urls,
		Scope: schemas.Scope{Domains: []string{"127.0.0.1:9"}}, MaxDepth: 0, TDMPolicy: schemas.TDMSkip}
	if _, err := env.c.Submit(ctx, spec); err != nil {
		t.Fatal(err)
	}
	node := testPeer(t)
	resp := env.c.HandleLease(ctx, node, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 4})
	if len(resp.Items) != 4 {
		t.Fatalf("leased %d URLs, want 4", len(resp.Items))
	}
	ingest := func(c *Coordinator, i int) {
		t.Helper()
		if err := c.Ingest(ctx, htmlCapture("rc", resp.Items[i].URL, node.String(), article(200+i, "ad", "today"))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		ingest(env.c, i)
	}
	before := env.c.Receipts(node.String())
	if len(before) != 2 || before[0].Seq != 2 || before[1].Seq != 3 {
		t.Fatalf("receipts before the restart %+v, want the newest two of three", before)
	}
	key := env.c.ReceiptKey()

	env = restart(t, env, dir)
	c := env.c
	if !bytes.Equal(c.ReceiptKey(), key) {
		t.Fatal("the restarted coordinator signs receipts with another key")
	}
	after := c.Receipts(node.String())
	if len(after) != len(before) {
		t.Fatalf("receipts after the restart %+v, want %+v", after, before)
	}
	for i, r := range after {
		if r.Seq != before[i].Seq || r.URL != before[i].URL || r.Bytes != before[i].Bytes || !r.At.Equal(before[i].At) {
			t.Errorf("receipt %d after the restart %+v, want %+v", i, r, before[i])
		}
		if err := VerifyReceipt(c.ReceiptKey(), r); err != nil {
			t.Errorf("receipt %d after the restart: %v", r.Seq, err)
		}
	}
	var rows int
	if err := env.f.QueryRow(ctx, `SELECT count(*) FROM coord_receipts WHERE peer = ?`, node.String()).Scan(&rows); err != nil || rows != 2 {
		t.Errorf("%d saved receipts (%v), want the two kept", rows, err)
	}
	ingest(c, 3)
	if rs := c.Receipts(node.String()); len(rs) != 2 || rs[1].Seq != 4 {
		t.Errorf("receipts after a credit past the restart %+v, want numbering to go on at 4", rs)
	}
}
