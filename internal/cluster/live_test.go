package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/swardnet/sward/examples/site"
	"github.com/swardnet/sward/feed"
)

// TestLiveFetchGoesThroughTheNetwork asks the coordinator for pages no job
// has crawled: a node fetches each under its guards and the pipeline cleans
// it, so the answer carries the node's provenance; robots.txt and AI
// opt-outs are refused with the feed's error kinds.
func TestLiveFetchGoesThroughTheNetwork(t *testing.T) {
	cl := startSmall(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var article, disallowed, optout string
	for _, u := range cl.Site().Reachable(4) {
		switch cl.Site().Kind(u) {
		case site.KindArticle:
			if article == "" {
				article = u
			}
		case site.KindOptOut:
			if optout == "" && cl.Site().Info(u).Variant == site.OptOutHeader {
				optout = u
			}
		}
	}
	disallowed = cl.Site().Seeds()[0] + "private/"
	if article == "" || optout == "" {
		t.Fatalf("example site lacks an article or a header opt-out page (article %q, optout %q)", article, optout)
	}

	doc, err := cl.Coordinator().FetchURL(ctx, article)
	if err != nil {
		t.Fatalf("live fetch of %s: %v", article, err)
	}
	if doc.URL == "" || doc.Text == "" || doc.NodePeerID == "" || doc.ContentSHA256 == "" {
		t.Errorf("live document lacks text or provenance: %+v", doc)
	}
	var fromNode bool
	for _, n := range cl.Nodes() {
		fromNode = fromNode || n.Host.ID().String() == doc.NodePeerID
	}
	if !fromNode {
		t.Errorf("document fetched by %q, not one of the cluster's nodes", doc.NodePeerID)
	}
	// A second request for the same URL is fetched again, not refused as
	// already seen.
	// It keeps its document ID, so a citation of the first stays valid.
	if again, err := cl.Coordinator().FetchURL(ctx, article); err != nil {
		t.Errorf("second live fetch of %s: %v", article, err)
	} else if again.ID != doc.ID {
		t.Errorf("the second live fetch of %s has ID %s, the first %s: citations of the first break", article, again.ID, doc.ID)
	}

	if _, err := cl.Coordinator().FetchURL(ctx, disallowed); !errors.Is(err, feed.ErrRefused) {
		t.Errorf("fetch of a robots-disallowed page: got %v, want ErrRefused", err)
	}
	if _, err := cl.Coordinator().FetchURL(ctx, optout); !errors.Is(err, feed.ErrRefused) || !strings.Contains(err.Error(), "tdm") {
		t.Errorf("fetch of an AI opt-out page: got %v, want ErrRefused naming the TDM reservation", err)
	}
}

// TestLargeBodyTravelsByBitswap: a page over the gossip inline limit is
// stored on the fetching node, announced by CID, fetched by the coordinator
// over bitswap and checked against the signed hash; the document cites
// that CID.
func TestLargeBodyTravelsByBitswap(t *testing.T) {
	// A modern page: a heavy inline script first, the article after it, so
	// a body cut at the 1 MiB inline limit would lose the article.
	var page strings.Builder
	page.WriteString("<html><head><title>The long report</title><script>var state = [")
	for page.Len() < 1200<<10 {
		fmt.Fprintf(&page, "%q,", fmt.Sprintf("%x", page.Len()*2654435761))
	}
	page.WriteString("0];</script></head><body><article><h1>The long report</h1>")
	for i := range 400 {
		fmt.Fprintf(&page, "<p>Section %d of the report looks at how the river authority spent budget line %d, "+
			"which contractors were hired in district %d, and what the residents said at meeting %d.</p>\n", i, i*13, i%97, i*7)
	}
	page.WriteString("<p>The final section closes the report.</p></article></body></html>")
	body := page.String()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/report.html" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, body)
	}))
	defer srv.Close()

	cl := startSmall(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	doc, err := cl.Coordinator().FetchURL(ctx, srv.URL+"/report.html")
	if err != nil {
		t.Fatalf("live fetch of a %d-byte page: %v", len(body), err)
	}
	// The document cites the stored capture record, which names the body
	// that travelled by bitswap (docs/FORMATS.md, "Capture records").
	root, err := cid.Decode(doc.CaptureCID)
	if err != nil {
		t.Fatalf("document cites capture CID %q: %v", doc.CaptureCID, err)
	}
	rec, err := cl.store.ReadCapture(ctx, root)
	if err != nil {
		t.Fatalf("capture record %s: %v", root, err)
	}
	if !strings.HasPrefix(rec.BodyCID, "bafy") || len(rec.Body) != 0 {
		t.Errorf("capture record names body %q (inline %d bytes), want the body's UnixFS CID only", rec.BodyCID, len(rec.Body))
	}
	if !strings.Contains(doc.Text, "The final section closes the report.") {
		t.Errorf("the article after the first MiB is missing (%d bytes of text): the body was cut, not fetched whole", len(doc.Text))
	}
}
