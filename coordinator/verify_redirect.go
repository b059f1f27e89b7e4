package coordinator

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

// Admission of a capture's claims: its size is what the coordinator
// measured, and its final URL is trusted only as far as the job's scope
// and a verifier's fetch allow.

// setupTrust finishes New: the ledger's vesting, the receipt key, and the
// trust state and receipts an earlier process saved.
func (c *Coordinator) setupTrust(ctx context.Context) error {
	c.ledger.SetVesting(c.cfg.Trust.Vesting)
	c.ledger.SetVestChecks(c.cfg.Trust.VestChecks)
	key := c.cfg.Trust.ReceiptKey
	if len(key) == 0 {
		// One key for the life of the data directory: receipts issued
		// before a restart still verify against the published key.
		seed, err := loadSecret(ctx, c.frontier, receiptSeedKey, rand.Read)
		if err != nil {
			return fmt.Errorf("coordinator: %w", err)
		}
		key = ed25519.NewKeyFromSeed(seed)
	}
	c.receipts = newReceiptBook(key)
	c.verify.window = c.cfg.Trust.LieWindow
	c.verify.designateFor = c.cfg.LeaseTTL
	if err := c.loadTrust(ctx); err != nil {
		return err
	}
	if err := c.loadHeld(ctx); err != nil {
		return fmt.Errorf("coordinator: %w", err)
	}
	return c.loadReceipts(ctx)
}

// admitCapture replaces what a capture declares about itself with what
// the coordinator can check: the body's size and hash are measured, and
// a redirect out of the job's scope becomes an error answer (no text, no
// links). Ingest calls it before anything else reads the capture.
func (c *Coordinator) admitCapture(j *jobState, capt *schemas.Capture) {
	if j != nil && j.id != LiveJobID && falseClaim(capt) {
		// An honest node's capture always states the size and hash of the
		// body it carries, and signs them: a node that claims other bytes
		// lied, provably. The capture earns nothing (an error answer,
		// fetched again by another node) and counts as a failed check.
		c.log.Warn("capture claims a body it does not carry; treated as an error answer", logkey.URL, capt.URL, logkey.Node, capt.NodePeerID,
			"claimed_bytes", capt.BodySize, "bytes", len(capt.Body))
		c.trust.failedCheck(capt.NodePeerID)
		c.ledger.Verified(capt.NodePeerID, 0, false)
		capt.Error = fmt.Sprintf("false claim: %d bytes declared, %d carried", capt.BodySize, len(capt.Body))
		capt.Body, capt.BodySHA256 = nil, ""
		capt.Outlinks, capt.OutlinkLastMod = nil, nil
	}
	capt.BodySize = int64(len(capt.Body))
	if len(capt.Body) > 0 {
		capt.BodySHA256 = schemas.SHA256Hex(capt.Body)
	}
	if j != nil && j.id != LiveJobID {
		c.admitFinalURL(j, capt)
	}
}

// falseClaim reports a capture whose declared body size or hash is not
// that of the body it carries (loaded over bitswap when not inline).
func falseClaim(capt *schemas.Capture) bool {
	if capt.BodySize != int64(len(capt.Body)) {
		return true
	}
	return capt.BodySHA256 != "" && len(capt.Body) > 0 && capt.BodySHA256 != schemas.SHA256Hex(capt.Body)
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
	// review is set for a document the pipeline sent to review: released,
	// it goes to the curators (capt and res are what they are shown).
	review bool
	capt   *schemas.Capture
	res    pipeline.Result
}

// heldRedirects holds redirected documents by the node that delivered
// them and the check of their leased URL: a document is released only by
// the verdict of a check of its own capture, never by a check of another
// node's capture of the same URL. Held documents are saved with the
// verification state (held_persist.go); one that a restart lost (its
// saved form unreadable, or its check not restored) leaves a contribution
// with no document ID, and requeueLostHeld queues its leased URL again.
type heldRedirects struct {
	mu    sync.Mutex
	docs  map[contribKey]heldDoc
	dirty map[contribKey]struct{} // changed since saveState took them
}

func (h *heldRedirects) put(k contribKey, d heldDoc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.docs == nil {
		h.docs = make(map[contribKey]heldDoc)
	}
	h.docs[k] = d
	h.markLocked(k)
}

func (h *heldRedirects) take(k contribKey) (heldDoc, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.docs[k]
	if ok {
		delete(h.docs, k)
		h.markLocked(k)
	}
	return d, ok
}

// takeIf removes and returns every held document for which drop is true.
func (h *heldRedirects) takeIf(drop func(contribKey) bool) []heldDoc {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []heldDoc
	for k, d := range h.docs {
		if drop(k) {
			out = append(out, d)
			delete(h.docs, k)
			h.markLocked(k)
		}
	}
	return out
}

// dropHeld forgets held documents that no check can release any more:
// those of a quarantined node (node != "") or, with node "", those whose
// check ended without a verdict (timed out, or dropped). Their texts leave
// the dedup index so an honest fetch of the page is not a "duplicate".
func (c *Coordinator) dropHeld(node string) {
	ds := c.held.takeIf(func(k contribKey) bool {
		if node != "" {
			return k.peer == node
		}
		return c.verify.openOrig(k.key) != k.peer
	})
	for _, d := range ds {
		c.forgetHeld(d)
	}
}

// forgetHeld takes a held document's text back out of the dedup index.
func (c *Coordinator) forgetHeld(d heldDoc) {
	if f, ok := c.pipe.(dedupForgetter); ok && d.dedup != nil {
		f.ForgetDedup(*d.dedup)
	}
}

// holdRedirect keeps a document (accepted, or sent to review) whose fetch ended under
// another URL of the job out of the dataset until a verifier's fetch of
// the leased URL ends at the same URL with the same text: a check of the
// leased URL opens whatever the sample rate. It reports whether it held
// the document; Ingest then only records the leased URL done.
func (c *Coordinator) holdRedirect(j *jobState, capt *schemas.Capture, pageURL string, res pipeline.Result) bool {
	if j.id == LiveJobID || res.Doc == nil || (res.Decision != pipeline.Accept && res.Decision != pipeline.Review) {
		return false
	}
	key, err := leasedKey(j.id, capt.URL)
	if err != nil {
		return false
	}
	if n, err := NormalizeURL(pageURL); err != nil || n == key.url {
		return false
	}
	// Nothing is in the dataset until a check releases the document: the
	// contribution names no document (exclude then only queues the URL
	// again, and never removes another node's page of the final URL).
	c.recordContribution(j, capt, "", res, time.Now())
	if !c.openCheck(j, capt, time.Now()) {
		// A check of the URL is running already, of another capture: its
		// verdict says nothing of this one, so the document is dropped.
		// The leased URL is covered by the capture under check.
		c.log.Info("redirected document dropped: its URL is under a check of another capture", logkey.URL, capt.URL, logkey.Node, capt.NodePeerID)
		c.forgetHeld(heldDoc{dedup: res.DedupKey})
		return true
	}
	h := heldDoc{node: capt.NodePeerID, doc: *res.Doc, bytes: capt.BodySize, dedup: res.DedupKey}
	if res.Decision == pipeline.Review {
		h.review, h.capt, h.res = true, capt, res
	}
	c.held.put(contribKey{capt.NodePeerID, key}, h)
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
	h, ok := c.held.take(contribKey{vd.orig, vd.key})
	if !ok {
		return nil
	}
	j := c.job(vd.key.job)
	if !vd.origVerified || j == nil {
		c.forgetHeld(h)
		c.log.Info("redirected document dropped: no verifier saw the same redirect", logkey.Job, vd.key.job, logkey.URL, vd.key.url, logkey.Node, h.node)
		return nil
	}
	if h.review {
		// Sent to review: the curators decide, as for any other capture.
		j.review.Add(1)
		j.inReview.Store(h.doc.ID, struct{}{})
		c.hooksMu.RLock()
		for _, fn := range c.onReview {
			fn(h.capt, h.res)
		}
		c.hooksMu.RUnlock()
		c.setContributionDoc(h.node, vd.key, h.doc.ID)
		c.creditCapture(h.node, vd.key, h.doc.URL, h.bytes, "", time.Now())
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
	c.setContributionDoc(h.node, vd.key, h.doc.ID)
	c.creditCapture(h.node, vd.key, h.doc.URL, h.bytes, "", time.Now())
	return nil
}

// requeueLostHeld queues again the leased URLs of the documents an earlier
// process held when it stopped and loadHeld could not restore (their
// contributions name no document: setContributionDoc names it on
// release). The documents are gone with that process, and their URLs are
// done in the frontier: without this a
// page reached only through a redirect would never be fetched again. The
// check of each such capture ends, so that the next fetch opens its own,
// and the contribution is forgotten. New calls it, once the saved state
// is loaded and before anything is held in this process.
func (c *Coordinator) requeueLostHeld(ctx context.Context) error {
	type lost struct {
		key contribKey
		ct  *contribution
	}
	var ls []lost
	c.contribMu.Lock()
	for node, m := range c.contrib {
		for k, ct := range m {
			if ct.docID == "" && !c.held.isHeld(contribKey{node, k}) {
				ls = append(ls, lost{contribKey{node, k}, ct})
				delete(m, k)
				c.contribDirty[contribKey{node, k}] = struct{}{}
			}
		}
	}
	c.contribMu.Unlock()
	if len(ls) == 0 {
		return nil
	}
	var errs []error
	for _, l := range ls {
		c.verify.end(l.key.key, l.key.peer)
		if f, ok := c.pipe.(dedupForgetter); ok && l.ct.dedup != nil {
			f.ForgetDedup(*l.ct.dedup)
		}
		if c.job(l.key.key.job) == nil {
			continue
		}
		if err := c.frontier.Requeue(ctx, frontier.Candidate{JobID: l.key.key.job, URL: l.ct.url, Depth: l.ct.depth, Priority: 1}); err != nil {
			errs = append(errs, fmt.Errorf("queueing %s again: %w", l.ct.url, err))
		}
	}
	c.log.Info("redirected documents held when the coordinator stopped: their URLs are queued again", "pages", len(ls))
	if err := c.saveState(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
