package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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
	if _, err := cl.Coordinator().FetchURL(ctx, article); err != nil {
		t.Errorf("second live fetch of %s: %v", article, err)
	}

	if _, err := cl.Coordinator().FetchURL(ctx, disallowed); !errors.Is(err, feed.ErrRefused) {
		t.Errorf("fetch of a robots-disallowed page: got %v, want ErrRefused", err)
	}
	if _, err := cl.Coordinator().FetchURL(ctx, optout); !errors.Is(err, feed.ErrRefused) || !strings.Contains(err.Error(), "tdm") {
		t.Errorf("fetch of an AI opt-out page: got %v, want ErrRefused naming the TDM reservation", err)
	}
}
