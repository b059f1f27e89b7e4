package coordinator

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

// Admission of a capture's claims: its size is what the coordinator
// measured, and its final URL is trusted only as far as the job's scope
// and a verifier's fetch allow.

// setupTrust finishes New: the ledger's vesting and the receipt key.
func (c *Coordinator) setupTrust() {
	c.ledger.SetVesting(c.cfg.Trust.Vesting)
	c.receipts = newReceiptBook(c.cfg.Trust.ReceiptKey)
	c.verify.window = c.cfg.Trust.LieWindow
	c.verify.designateFor = c.cfg.LeaseTTL
}

// admitCapture replaces what a capture declares about itself with what
// the coordinator can check: the body's size and hash are measured, and
// a redirect out of the job's scope becomes an error answer (no text, no
// links). Ingest calls it before anything else reads the capture.
func (c *Coordinator) admitCapture(j *jobState, capt *schemas.Capture) {
	capt.BodySize = int64(len(capt.Body))
	if len(capt.Body) > 0 {
		capt.BodySHA256 = schemas.SHA256Hex(capt.Body)
	}
	if j != nil && j.id != LiveJobID {
		c.admitFinalURL(j, capt)
	}
}

// admitFinalURL turns a capture redirected out of j's scope into an
// error answer for its leased URL.
func (c *Coordinator) admitFinalURL(j *jobState, capt *schemas.Capture) {
	if j == nil || capt.FinalURL == "" || j.spec.InScope(capt.FinalURL) {
		return
	}
	capt.Error = fmt.Sprintf("redirected out of the job's scope to %s", capt.FinalURL)
	capt.FinalURL = ""
	capt.Body, capt.BodySize, capt.BodySHA256 = nil, 0, ""
	capt.Outlinks, capt.OutlinkLastMod = nil, nil
}

// heldDoc is a document filed under another URL than the one leased,
// waiting for a verifier to see the same redirect.
type heldDoc struct {
	node  string
	doc   schemas.Document
	bytes int64
	dedup *pipeline.DedupKey
}

// heldRedirects holds redirected documents by the check of their leased
// URL. Held documents live in memory only: a restart drops them and the
// leased URL is fetched again only if its check fails.
type heldRedirects struct {
	mu   sync.Mutex
	docs map[checkKey]heldDoc
}

func (h *heldRedirects) put(k checkKey, d heldDoc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.docs == nil {
		h.docs = make(map[checkKey]heldDoc)
	}
	h.docs[k] = d
}

func (h *heldRedirects) take(k checkKey) (heldDoc, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.docs[k]
	delete(h.docs, k)
	return d, ok
}

// holdRedirect keeps an accepted document whose fetch ended under
// another URL of the job out of the dataset until a verifier's fetch of
// the leased URL ends at the same URL with the same text: a check of the
// leased URL opens whatever the sample rate. It reports whether it held
// the document; Ingest then only records the leased URL done.
func (c *Coordinator) holdRedirect(j *jobState, capt *schemas.Capture, pageURL string, res pipeline.Result) bool {
	if j.id == LiveJobID || res.Doc == nil || res.Decision != pipeline.Accept {
		return false
	}
	key, err := leasedKey(j.id, capt.URL)
	if err != nil {
		return false
	}
	if n, err := NormalizeURL(pageURL); err != nil || n == key.url {
		return false
	}
	c.held.put(key, heldDoc{node: capt.NodePeerID, doc: *res.Doc, bytes: capt.BodySize, dedup: res.DedupKey})
	c.recordContribution(j, capt, res.Doc.ID, res, time.Now())
	if !c.openCheck(j, capt, time.Now()) {
		// A check of the URL is running already (a second capture): the
		// earlier one decides; this document waits with it.
		c.log.Debug("redirected document waits for the open check", "url", capt.URL)
	}
	return true
}

// finishHeld ends the ingest of a capture whose document holdRedirect
// held: the state is saved and the leased URL, only it, marked done.
func (c *Coordinator) finishHeld(ctx context.Context, j *jobState, capt *schemas.Capture) error {
	if err := c.saveState(ctx); err != nil {
		return err
	}
	if _, err := c.frontier.MarkDone(ctx, j.id, capt.URL); err != nil {
		return fmt.Errorf("marking %s done: %w", capt.URL, err)
	}
	return nil
}

// settleHeld stores or drops the document held for a settled check.
func (c *Coordinator) settleHeld(ctx context.Context, vd verdict) error {
	h, ok := c.held.take(vd.key)
	if !ok {
		return nil
	}
	j := c.job(vd.key.job)
	if !vd.origVerified || j == nil {
		if f, ok := c.pipe.(dedupForgetter); ok && h.dedup != nil {
			f.ForgetDedup(*h.dedup)
		}
		c.log.Info("redirected document dropped: no verifier saw the same redirect", "job", vd.key.job, "url", vd.key.url, "node", h.node)
		return nil
	}
	n, err := j.dataset.AddNew(ctx, h.doc)
	if err != nil {
		return fmt.Errorf("storing redirected document of %s: %w", vd.key.url, err)
	}
	if n == 1 {
		j.accepted.Add(1)
		c.emitAccepted(h.doc)
	}
	c.creditCapture(h.node, vd.key, h.doc.URL, h.bytes, "", time.Now())
	return nil
}
