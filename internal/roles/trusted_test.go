package roles

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/coordinator"
	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/node"
	"github.com/swardnet/sward/schemas"
)

// trustedArticle is a page long enough for the pipeline to extract.
func trustedArticle(words string) string {
	var b strings.Builder
	b.WriteString("<html><head><title>Harbour report</title></head><body><article><h1>Harbour report</h1>")
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&b, "<p>In paragraph %d the harbour authority reported that %s ferries crossed the bay on schedule while crews repaired the northern pier and inspectors counted the cargo that arrived from the islands during the week of storms.</p>", i, words)
	}
	b.WriteString("</article></body></html>")
	return b.String()
}

// TestTrustedFetcherConvictsALiarAlone: a coordinator role started with
// CoordinatorConfig.TrustedFetcher fetches checks itself when no other
// node can: a lying node that is the only node of the network is
// convicted by the coordinator's own fetches (two that agree against it).
func TestTrustedFetcherConvictsALiarAlone(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		hits++
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, trustedArticle("twelve"))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)

	coord, _, _ := startCoordinator(t, CoordinatorConfig{
		Coordinator:    coordinator.Config{LeaseTTL: time.Second},
		TrustedFetcher: &node.Config{AllowPrivate: true, MinHostDelay: time.Millisecond},
	})
	convicted := make(chan string, 1)
	coord.Coord.OnQuarantine(func(p string, _ schemas.LedgerEntry) { convicted <- p })
	ctx := context.Background()
	page := srv.URL + "/report"
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "trusted", Dataset: "trusted", Seeds: []string{page},
		Scope: schemas.Scope{Domains: []string{u.Host}}, MaxDepth: 0, VerifySampleRate: 1, TDMPolicy: schemas.TDMSkip}
	jobID, err := coord.Coord.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	liar, _ := peer.IDFromPrivateKey(key)
	var resp *schemas.LeaseResponse
	testutil.Eventually(t, 10*time.Second, "the liar to lease a URL", func() bool {
		resp = coord.Coord.HandleLease(ctx, liar, &schemas.LeaseRequest{Version: schemas.WireVersion, Op: schemas.LeaseAcquire, Max: 4})
		return len(resp.Items) > 0
	})
	if len(resp.Items) != 1 {
		t.Fatalf("lease: %+v", resp)
	}
	// The liar injects spam worth a third of the article.
	spam := strings.Repeat("<p>Cheap replica watches ship overnight from our trusted partner store with free returns and a discount code for every reader of this report.</p>", 4)
	body := []byte(strings.Replace(trustedArticle("twelve"), "</article>", spam+"</article>", 1))
	capt := &schemas.Capture{Version: schemas.CaptureVersion, JobID: jobID, URL: resp.Items[0].URL, Status: 200,
		ContentType: "text/html; charset=utf-8", Body: body, BodySize: int64(len(body)),
		BodySHA256: schemas.SHA256Hex(body), FetchedAt: time.Now(), NodePeerID: liar.String()}
	if err := coord.Coord.Ingest(ctx, capt); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-convicted:
		if p != liar.String() {
			t.Fatalf("quarantined %s, want the liar %s", p, liar)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the liar was not convicted by the trusted fetcher (site hits %d, open checks %d)", hits, coord.Coord.OpenChecks(jobID))
	}
	if hits < 2 {
		t.Errorf("the trusted fetcher fetched the page %d times, want 2 (two fetches convict)", hits)
	}
}

// TestTrustedFetchKeepsTheGuard: the trusted fetcher is a node Fetcher
// with its address guard: without AllowPrivate it refuses a loopback
// page, and reports the refusal as an error answer, not a page.
func TestTrustedFetchKeepsTheGuard(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, trustedArticle("nine"))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		allowPrivate bool
		wantErr      bool
	}{{false, true}, {true, false}} {
		f, err := node.NewFetcher(node.Config{DataDir: t.TempDir(), AllowPrivate: tc.allowPrivate, MinHostDelay: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		capt, err := TrustedFetch(f)(context.Background(), srv.URL+"/x")
		_ = f.Close()
		if err != nil || capt == nil {
			t.Fatalf("allow private %v: %v", tc.allowPrivate, err)
		}
		if got := capt.Error != ""; got != tc.wantErr {
			t.Errorf("allow private %v: capture error %q, status %d", tc.allowPrivate, capt.Error, capt.Status)
		}
		if !tc.wantErr && !strings.Contains(string(capt.Body), "harbour authority") {
			t.Errorf("allow private %v: body %q", tc.allowPrivate, capt.Body)
		}
	}
}
