package feed

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/schemas"
)

func TestOfferBatchesAndIndexes(t *testing.T) {
	cfg := Config{}
	cfg.Default()
	f, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i := range 600 {
		d := schemas.Document{ID: fmt.Sprintf("d%d", i), URL: fmt.Sprintf("http://127.0.0.1/p%d", i),
			Text: fmt.Sprintf("river bridge council story number %d", i), FetchedAt: now, Language: "en"}
		if !f.Offer(d) {
			t.Fatalf("offer %d refused", i)
		}
	}
	if f.Offer(schemas.Document{URL: "http://127.0.0.1/no-id"}) {
		t.Error("a document without an id was accepted")
	}
	testutil.Eventually(t, 10*time.Second, "all 600 offered documents to be indexed", func() bool {
		n, err := f.Len()
		if err != nil {
			t.Fatal(err)
		}
		return n == 600
	})
	res, err := f.Search(context.Background(), SearchRequest{Query: "number 599", K: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) == 0 {
		t.Error("an offered document is not searchable")
	}
	// Closing with an offer still queued must neither hang nor race.
	f.Offer(schemas.Document{ID: "last", URL: "http://127.0.0.1/last", Text: "last one", FetchedAt: now})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveDocument(t *testing.T) {
	cfg := Config{}
	cfg.Default()
	f, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	d := schemas.Document{ID: "x1", URL: "http://127.0.0.1/x", Text: "altered text", FetchedAt: time.Now().UTC()}
	if err := f.Add(ctx, d); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.RemoveDocument(ctx, "x1", time.Now().UTC()); !ok || err != nil {
		t.Fatalf("RemoveDocument = %v, %v", ok, err)
	}
	if rec, err := f.Get(ctx, "x1"); err == nil && rec != nil {
		t.Errorf("removed document still served: %+v", rec)
	}
	if ok, _ := f.RemoveDocument(ctx, "unknown", time.Now().UTC()); ok {
		t.Error("removing an unknown id reported success")
	}
}
