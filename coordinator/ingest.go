package coordinator

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

// Ingest handles one capture: it runs the pipeline, stores the outcome and
// then marks the URL done, so a crash in between repeats work but loses
// nothing. Ingesting the same capture twice is harmless: dataset rows are
// keyed by document ID. A capture by a node that was asked to re-fetch the
// URL for verification is compared with the original instead (see
// docs/verification.md); captures of quarantined nodes are dropped.
//
// It runs in four steps: admit (is this capture one the job should take?),
// record (count it), route (its links to the frontier, its body through
// the pipeline to a decision) and commit (store the outcome, then mark the
// URL done).
func (c *Coordinator) Ingest(ctx context.Context, capt *schemas.Capture) error {
	j, err := c.receive(ctx, capt)
	if j == nil {
		return err
	}
	// Shared from the quarantine test until the URL is marked done (see
	// quarMu): every capture of a peer being quarantined is either
	// dropped here or in contrib when its pages are excluded.
	c.quarMu.RLock()
	defer c.quarMu.RUnlock()
	in, err := c.admit(ctx, j, capt)
	if in == nil {
		return err
	}
	c.record(in)
	if err := c.route(ctx, in); err != nil {
		return err
	}
	return c.commit(ctx, in)
}

// ingestion is one capture on its way through Ingest: what admit learned
// about it, and what route decided.
type ingestion struct {
	j    *jobState
	capt *schemas.Capture
	// pageURL is where the page ended up (the final URL of a redirect) and
	// norm its normalised form, which names the document.
	pageURL, norm string
	// depth is the depth the frontier stored for the leased URL: the one
	// its links are counted from, whatever depth the capture claims.
	depth int
	// res and captureCID are set by route.
	res        pipeline.Result
	captureCID string
}

// receive is the part of admission that runs before the quarantine lock:
// it finds the capture's job (nil when unknown, and the capture is
// dropped), loads a body sent by CID, notes the sender's address and
// hands a verification re-fetch to ingestVerify (nil when it took the
// capture).
func (c *Coordinator) receive(ctx context.Context, capt *schemas.Capture) (*jobState, error) {
	j := c.job(capt.JobID)
	if j == nil {
		c.log.Debug("capture for unknown job dropped", logkey.Job, capt.JobID, logkey.URL, capt.URL)
		return nil, nil
	}
	if len(capt.Body) == 0 && capt.BodyCID != "" {
		if err := c.loadBody(ctx, capt); err != nil {
			// Dropped, not failed: the URL stays leased and comes back to
			// the queue when the lease expires.
			c.log.Warn("capture body not loaded; dropping the capture", logkey.URL, capt.URL, logkey.Node, capt.NodePeerID, logkey.Err, err)
			return nil, nil
		}
	}
	c.admitCapture(j, capt)
	if j.id != LiveJobID {
		if handled, err := c.ingestVerify(ctx, capt); handled {
			return nil, err
		}
	}
	return j, nil
}

// admit decides whether the job takes the capture; it is called with the
// quarantine read-locked. It returns nil (and the capture is dropped) when
// its node is quarantined or does not hold the URL's lease, and nil with
// the outcome of backOff when the host asked to slow down.
func (c *Coordinator) admit(ctx context.Context, j *jobState, capt *schemas.Capture) (*ingestion, error) {
	if c.quarantined[capt.NodePeerID] {
		c.log.Debug("capture of a quarantined node dropped", logkey.Job, capt.JobID, logkey.URL, capt.URL, logkey.Node, capt.NodePeerID)
		return nil, nil
	}
	// Only the node the URL is leased to may deliver it: any peer can sign a
	// capture, but none can inject pages (or their links) into a job it was
	// not given. A capture that arrives after its lease expired is dropped;
	// the URL is fetched again by whoever holds it now.
	lease, err := c.frontier.LeasedURL(ctx, j.id, capt.URL)
	if err != nil {
		return nil, err
	}
	if lease.Node != capt.NodePeerID {
		c.log.Debug("capture without a lease dropped", logkey.Job, capt.JobID, logkey.URL, capt.URL, logkey.Node, capt.NodePeerID, "holder", lease.Node)
		c.unleased.Add(1)
		return nil, nil
	}
	// A redirected page is known by where it ended up: its document ID and
	// done mark follow the final URL, so a page reached both directly and
	// through a redirect is stored once.
	pageURL := capt.URL
	if capt.FinalURL != "" {
		pageURL = capt.FinalURL
	}
	norm, err := NormalizeURL(pageURL)
	if err != nil {
		return nil, fmt.Errorf("normalising %q: %w", pageURL, err)
	}
	if capt.Status == 429 || capt.Status == 503 {
		// The host asks the network to slow down: back it off for every
		// node and fetch this page again after the wait, rather than
		// storing the error page or losing the URL.
		return nil, c.backOff(ctx, j.id, capt)
	}
	return &ingestion{j: j, capt: capt, pageURL: pageURL, norm: norm, depth: lease.Depth}, nil
}

// record tells the capture hooks of an admitted capture and counts it
// against its job and node.
func (c *Coordinator) record(in *ingestion) {
	c.hooksMu.RLock()
	for _, fn := range c.onCapture {
		fn(in.capt)
	}
	c.hooksMu.RUnlock()
	in.j.captured.Add(1)
	in.j.bytes.Add(in.capt.BodySize)
	in.j.noteNode(in.capt.NodePeerID, time.Now())
}

// route sends what the capture found where it belongs: the in-scope links
// of a successful fetch to the frontier (within the bounds of
// sitemap_bounds.go), and the capture through the pipeline and the
// curators' rules to a decision, whose capture record it stores.
func (c *Coordinator) route(ctx context.Context, in *ingestion) error {
	capt := in.capt
	if capt.Error == "" && capt.Status >= 200 && capt.Status < 400 {
		if err := c.followLinks(ctx, in.j, capt, in.depth); err != nil {
			return err
		}
	}
	in.res = c.pipe.Process(capt, in.j.spec)
	c.applyRule(ctx, capt, in.pageURL, &in.res)
	cid, err := c.finishRow(ctx, in.j, capt, in.norm, in.pageURL, &in.res)
	if err != nil {
		return err
	}
	in.captureCID = cid
	return nil
}

// commit stores the decision (a dataset row, a review item or a reject),
// saves the credit and any sampled check, and only then marks the leased
// URL done. A live fetch is answered to its waiters instead; a redirect
// held for verification waits for its verifier.
func (c *Coordinator) commit(ctx context.Context, in *ingestion) error {
	j, capt, res := in.j, in.capt, in.res
	if j.id == LiveJobID {
		if err := c.saveState(ctx); err != nil {
			return err
		}
		// Done before the waiters hear of it: a waiter that asks for the
		// same URL again at once must find it done, or its Requeue would
		// leave the still-leased URL alone and this MarkDone swallow it.
		_, err := c.frontier.MarkDone(ctx, j.id, capt.URL)
		c.notifyLive(in.norm, capt, res)
		if res.Decision == pipeline.Accept {
			c.emitAccepted(*res.Doc)
		}
		return err
	}
	if j.verifiesAll() {
		// Until the check of this capture is open (noteCapture), Publish
		// must not count the job's open checks: its document would be in
		// the version unchecked.
		j.publishMu.RLock()
		defer j.publishMu.RUnlock()
	}
	if c.holdRedirect(j, capt, in.pageURL, res) {
		return c.finishHeld(ctx, j, capt)
	}
	switch res.Decision {
	case pipeline.Accept:
		n, err := j.dataset.AddNew(ctx, *res.Doc)
		if err != nil {
			return fmt.Errorf("storing document: %w", err)
		}
		if n == 1 {
			// A page stored already (reached again through a redirect, or
			// re-fetched after its lease expired) is counted once.
			j.accepted.Add(1)
			c.emitAccepted(*res.Doc)
		}
	case pipeline.Review:
		j.review.Add(1)
		j.inReview.Store(res.Doc.ID, struct{}{})
		c.hooksMu.RLock()
		for _, fn := range c.onReview {
			fn(capt, res)
		}
		c.hooksMu.RUnlock()
	default:
		if capt.Error != "" {
			j.failed.Add(1)
		}
		if capt.Status == http.StatusNotFound || capt.Status == http.StatusGone {
			c.hooksMu.RLock()
			for _, fn := range c.onGone {
				fn(capt.URL, capt.FetchedAt)
			}
			c.hooksMu.RUnlock()
		}
		j.rejected.Add(1)
		if err := j.dataset.AddRejects(ctx, rejectRow(j, capt, in.norm, in.captureCID, res)); err != nil {
			return fmt.Errorf("storing reject: %w", err)
		}
	}
	c.noteCapture(j, capt, DocumentID(j.id, in.norm), res)
	// The credit, the contribution and a sampled check are saved before
	// the URL is marked done: after a crash the URL is either fetched
	// again or its contribution known.
	if err := c.saveState(ctx); err != nil {
		return err
	}
	// Only the leased URL is marked done: a node cannot close a URL it
	// was not given by claiming a redirect to it.
	if _, err := c.frontier.MarkDone(ctx, j.id, capt.URL); err != nil {
		return fmt.Errorf("marking %s done: %w", capt.URL, err)
	}
	return nil
}
