package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

// ErrQuarantined marks work refused because the peer that did it is
// quarantined.
var ErrQuarantined = errors.New("peer is quarantined")

// contribution is what one capture of a peer put into a job's dataset.
type contribution struct {
	url      string // as leased, to queue again
	depth    int
	docID    string
	decision pipeline.Decision
	verified bool
	at       time.Time
	// dedup is the text's key in the pipeline's dedup index, forgotten
	// when the page is excluded so the honest re-fetch is not a "duplicate".
	dedup *pipeline.DedupKey
	// checks is how many of its node's own captures had passed a check
	// when it was recorded (forgetVested); -1 when unknown (restored from
	// a database older than the count), until the next sweep sets it.
	checks int64
	// restored marks a contribution loaded from the database: an earlier
	// coordinator process counted it in its job's counters, which this
	// process started from zero, so excluding it undoes no count.
	restored bool
}

// contribKey names a contribution: the peer and the page it fetched.
type contribKey struct {
	peer string
	key  checkKey
}

// dedupForgetter is a Processor that can take a text back out of its
// dedup index; *pipeline.Pipeline is one.
type dedupForgetter interface {
	ForgetDedup(pipeline.DedupKey)
}

// OnQuarantine registers fn to be called when a peer is quarantined, with
// its ledger entry at that moment (for observers and tests).
func (c *Coordinator) OnQuarantine(fn func(peer string, entry schemas.LedgerEntry)) {
	c.hooksMu.Lock()
	c.onQuarantine = append(c.onQuarantine, fn)
	c.hooksMu.Unlock()
}

// OnExclude registers fn to be called with every document taken out of a
// job's next dataset version because its node lied (for the feed, which
// may have indexed it from OnAccept).
func (c *Coordinator) OnExclude(fn func(jobID, docID string)) {
	c.hooksMu.Lock()
	c.onExclude = append(c.onExclude, fn)
	c.hooksMu.Unlock()
}

// emitExcluded tells the OnExclude hooks that the documents docIDs of
// job jobID are out of its next dataset version.
func (c *Coordinator) emitExcluded(jobID string, docIDs []string) {
	c.hooksMu.RLock()
	defer c.hooksMu.RUnlock()
	for _, id := range docIDs {
		for _, fn := range c.onExclude {
			fn(jobID, id)
		}
	}
}

// OpenChecks is the number of verification checks of job jobID still
// waiting for fetches (AnnounceConfig.ExtraWork takes it).
func (c *Coordinator) OpenChecks(jobID string) int64 { return int64(c.verify.pending(jobID)) }

// leasedKey names the check of a capture: its job and the normalised URL
// that was leased.
func leasedKey(job, rawURL string) (checkKey, error) {
	n, err := NormalizeURL(rawURL)
	if err != nil {
		return checkKey{}, err
	}
	return checkKey{job: job, url: n}, nil
}

// noteCapture records what a (non-live) capture contributed, credits
// it (an error answer earns nothing) and, when the capture is in its
// node's sample, opens a verification check. Ingest calls it holding
// quarMu shared.
func (c *Coordinator) noteCapture(j *jobState, capt *schemas.Capture, docID string, res pipeline.Result) {
	now := time.Now()
	key, err := leasedKey(j.id, capt.URL)
	if err != nil {
		return
	}
	c.recordContribution(j, capt, docID, res, now)
	if !transient(capt) {
		c.creditCapture(capt.NodePeerID, key, capt.URL, capt.BodySize, capt.BodySHA256, now)
	}
	hasDoc := res.Doc != nil && res.Decision != pipeline.Reject
	rate := c.trust.sampleRate(capt.NodePeerID, j.spec.VerifySampleRate, hasDoc)
	if transient(capt) {
		// An error answer earns nothing and is always fetched again by
		// another node: a fake error cannot close a URL.
		rate = 1
	}
	if rate > 0 && c.verify.sampleDrawFor(j.id, key.url, capt.NodePeerID) < rate {
		c.openCheck(j, capt, now)
	}
}

// recordContribution files what capt put into j's dataset, so it can be
// taken out again if its node lied.
func (c *Coordinator) recordContribution(j *jobState, capt *schemas.Capture, docID string, res pipeline.Result, now time.Time) {
	key, err := leasedKey(j.id, capt.URL)
	if err != nil {
		return
	}
	// Read before contribMu: the ledger has its own lock, and every
	// ingest worker takes contribMu.
	own := c.ledger.OwnChecks(capt.NodePeerID)
	c.contribMu.Lock()
	defer c.contribMu.Unlock()
	m := c.contrib[capt.NodePeerID]
	if m == nil {
		m = make(map[checkKey]*contribution)
		c.contrib[capt.NodePeerID] = m
	}
	m[key] = &contribution{url: capt.URL, depth: capt.Depth, docID: docID, decision: res.Decision, at: now, dedup: res.DedupKey,
		checks: own}
	c.contribDirty[contribKey{capt.NodePeerID, key}] = struct{}{}
}

// setContributionDoc names the document node's contribution of key put
// into the dataset (a held redirect, once a check released it).
func (c *Coordinator) setContributionDoc(node string, key checkKey, docID string) {
	c.contribMu.Lock()
	defer c.contribMu.Unlock()
	if ct := c.contrib[node][key]; ct != nil {
		ct.docID = docID
		c.contribDirty[contribKey{node, key}] = struct{}{}
	}
}

// openCheck starts a verification check of capt; false when one of its
// URL is open already.
func (c *Coordinator) openCheck(j *jobState, capt *schemas.Capture, now time.Time) bool {
	key, err := leasedKey(j.id, capt.URL)
	if err != nil {
		return false
	}
	host, err := frontier.HostKey(capt.URL)
	if err != nil {
		return false
	}
	if !c.verify.add(&check{
		key: key, url: capt.URL, host: host, depth: capt.Depth,
		orig: capt.NodePeerID, origFP: c.verify.fingerprintOf(capt), origBytes: capt.BodySize,
		created: now,
	}) {
		return false
	}
	c.log.Debug("capture sampled for verification", logkey.Job, j.id, logkey.URL, capt.URL, logkey.Node, capt.NodePeerID)
	return true
}

// creditCapture credits node for one accepted fetch of measured bytes,
// into escrow, and signs a receipt for it.
func (c *Coordinator) creditCapture(node string, key checkKey, rawURL string, bytes int64, sha string, now time.Time) {
	c.ledger.CreditCapture(node, bytes, now)
	c.trust.credit(node)
	c.receipts.issue(Receipt{Peer: node, Job: key.job, URL: rawURL, SHA256: sha, Bytes: bytes,
		Points: PagePoints(bytes), At: now.UTC(), VestsAt: now.Add(c.cfg.Trust.Vesting).UTC()})
}

// forgetVested stops tracking the contributions a conviction of their
// node would no longer take out: those older than the vesting period and
// a check's lifetime after which RetainChecks (at least VestChecks) of
// the node's own captures passed a check, so their credits vested too.
// Until then a confirmed lie takes the page out, retracting it from a
// published version. The forgotten contributions are marked dirty, so
// the next saveState deletes them from the database too; sweepChecks
// runs it (forgetVestedIfDue) and saves.
func (c *Coordinator) forgetVested(now time.Time) {
	cut := now.Add(-max(c.cfg.Trust.Vesting, c.checkLife()))
	retain := max(c.cfg.Trust.RetainChecks, c.cfg.Trust.VestChecks, 0)
	n := 0
	c.contribMu.Lock()
	for node, m := range c.contrib {
		own := c.ledger.OwnChecks(node)
		for k, ct := range m {
			if ct.checks < 0 {
				ct.checks = own
				c.contribDirty[contribKey{node, k}] = struct{}{}
			}
			if ct.at.Before(cut) && own-ct.checks >= retain {
				delete(m, k)
				c.contribDirty[contribKey{node, k}] = struct{}{}
				n++
			}
		}
		if len(m) == 0 {
			delete(c.contrib, node)
		}
	}
	c.contribMu.Unlock()
	if n > 0 {
		c.log.Debug("contributions forgotten", "contributions", n)
	}
}

// forgetVestedEvery is how often the sweep forgets vested contributions:
// the scan walks every tracked contribution under contribMu.
const forgetVestedEvery = time.Minute

// forgetVestedIfDue runs forgetVested when forgetVestedEvery has passed
// since it last ran (or since New).
func (c *Coordinator) forgetVestedIfDue(now time.Time) {
	c.contribMu.Lock()
	due := now.Sub(c.forgotAt) >= forgetVestedEvery
	if due {
		c.forgotAt = now
	}
	c.contribMu.Unlock()
	if due {
		c.forgetVested(now)
	}
}

// ingestVerify handles a capture that a node made because it was asked to
// verify the URL. handled is false for every other capture.
func (c *Coordinator) ingestVerify(ctx context.Context, capt *schemas.Capture) (handled bool, err error) {
	key, err := leasedKey(capt.JobID, capt.URL)
	if err != nil || !c.verify.isAssigned(key, capt.NodePeerID) {
		return false, nil
	}
	if c.isQuarantined(capt.NodePeerID) {
		return true, nil
	}
	// A verification fetch is work like any other capture, credited once
	// the check's verdict says it was honest (applyVerdict).
	fp := c.verify.fingerprintOf(capt)
	vd, ok := c.verify.record(key, capt.NodePeerID, fp, capt.BodySize, transient(capt))
	if !ok {
		// The assignment moved on meanwhile; the capture was still meant
		// as a verification and must not enter the dataset twice.
		return true, c.saveState(ctx)
	}
	return true, c.applyVerdict(ctx, vd)
}

// applyVerdict books a settled check: verifiers' fetches are credited,
// a held redirected document is stored or dropped, the ledger records who
// passed and failed, a node convicted of a lie forfeits its unvested
// points and is quarantined at once, and a node whose reputation fell
// below the threshold is quarantined. The check's new state, the ledger
// and the contribution records are saved before anyone is quarantined.
func (c *Coordinator) applyVerdict(ctx context.Context, vd verdict) error {
	log := c.log.With(logkey.Job, vd.key.job, logkey.URL, vd.key.url)
	if !vd.done {
		if len(vd.sims) > 0 {
			log.Info("verification disagrees; asking a third node", logkey.Node, vd.orig, "similarity", vd.sims[0])
		}
		return c.saveState(ctx)
	}
	now := time.Now()
	var errs []error
	for _, p := range vd.pass {
		if p.node != vd.orig && p.node != trustedNode {
			c.creditCapture(p.node, vd.key, vd.key.url, p.bytes, "", now)
		}
	}
	if err := c.settleHeld(ctx, vd); err != nil {
		errs = append(errs, err)
	}
	switch {
	case vd.inconclusive:
		log.Info("verification inconclusive: no two fetches close in time agree alone", logkey.Node, vd.orig, "similarities", vd.sims)
		return errors.Join(append(errs, c.saveState(ctx))...)
	case vd.origFailed:
		// An error answer for a page a verifier fetched: fetch it again,
		// and sample the node more.
		log.Info("error answer contradicted by a verifier; page queued again", logkey.Node, vd.orig)
		c.trust.failedCheck(vd.orig)
		if _, err := c.exclude(ctx, vd.orig, []checkKey{vd.key}); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(append(errs, c.saveState(ctx))...)
	}
	if vd.origVerified {
		c.markVerified(vd.orig, vd.key)
		c.trust.verifiedOwn(vd.orig)
		c.ledger.OwnCheckPassed(vd.orig)
	}
	for _, p := range vd.pass {
		if p.node != trustedNode {
			c.ledger.Verified(p.node, p.bytes, true)
		}
	}
	var (
		quarantine []string
		convicted  string
	)
	for _, p := range vd.fail {
		if p.node == trustedNode {
			continue
		}
		c.trust.failedCheck(p.node)
		e := c.ledger.Verified(p.node, p.bytes, false)
		log.Warn("node failed verification", logkey.Node, p.node, "reputation", e.Reputation, "failed", e.Failed, "similarities", vd.sims)
		if vd.origLied && p.node == vd.orig {
			convicted = p.node
			continue
		}
		if ShouldQuarantine(e) {
			quarantine = append(quarantine, p.node)
		}
	}
	if vd.origLied {
		// exclude saves the state once the page is out.
		if _, err := c.exclude(ctx, vd.orig, []checkKey{vd.key}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.saveState(ctx); err != nil {
		errs = append(errs, err)
	}
	if convicted != "" {
		// Forfeited once the node is marked quarantined: no capture of it
		// ingested meanwhile can earn a point after the forfeit.
		err := c.quarantine(ctx, convicted, func() {
			f := c.ledger.ForfeitUnvested(convicted, now)
			log.Warn("confirmed lie: unvested points forfeited, node quarantined", logkey.Node, convicted, "forfeited_points", f.Points, "forfeited_pages", f.Pages)
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, node := range quarantine {
		if err := c.Quarantine(ctx, node); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// markVerified records that a node's capture passed verification: it
// stays in the dataset even if the node is quarantined later.
func (c *Coordinator) markVerified(node string, key checkKey) {
	c.contribMu.Lock()
	defer c.contribMu.Unlock()
	if ct := c.contrib[node][key]; ct != nil {
		ct.verified = true
		c.contribDirty[contribKey{node, key}] = struct{}{}
	}
}

func (c *Coordinator) isQuarantined(node string) bool {
	c.quarMu.RLock()
	defer c.quarMu.RUnlock()
	return c.quarantined[node]
}

// Quarantine shuts a peer out: its gossip is dropped, it gets no more
// leases, its checks stop counting, and the pages it contributed that no
// check confirmed and that are still tracked (forgetVested), published or
// not, are taken out of the next version and queued again for other
// nodes. Quarantining a peer
// twice does nothing more.
func (c *Coordinator) Quarantine(ctx context.Context, node string) error {
	return c.quarantine(ctx, node, nil)
}

// quarantine is Quarantine; penalty, when set, runs once the node is
// marked quarantined (no ingest of it running any more) and before
// anything is saved or any observer hears of it.
func (c *Coordinator) quarantine(ctx context.Context, node string, penalty func()) error {
	pid, err := peer.Decode(node)
	if err != nil {
		return fmt.Errorf("quarantining %q: %w", node, err)
	}
	c.quarMu.Lock()
	if c.quarantined[node] {
		c.quarMu.Unlock()
		if penalty != nil {
			penalty()
			return c.saveState(ctx)
		}
		return nil
	}
	c.quarantined[node] = true
	c.quarSeen.Store(node, struct{}{})
	// Marked under the lock: no ingest of this node is running now, and
	// none will store anything from here on.
	c.net.Quarantine(pid)
	c.ledger.SetQuarantined(node)
	c.quarMu.Unlock()
	if penalty != nil {
		penalty()
	}

	c.verify.dropNode(node)
	c.dropHeld(node)
	// Saved before its pages are taken out: a coordinator restarted
	// after a crash from here on refuses the node and finishes taking
	// its pages out (resumeQuarantines).
	var errs []error
	if err := c.saveState(ctx); err != nil {
		errs = append(errs, fmt.Errorf("quarantining %s: %w", node, err))
	}
	entry := c.ledger.Entry(node)
	c.log.Warn("node quarantined", logkey.Node, node, "reputation", entry.Reputation, "failed", entry.Failed, "verified", entry.VerifiedPages)
	c.hooksMu.RLock()
	for _, fn := range c.onQuarantine {
		fn(node, entry)
	}
	c.hooksMu.RUnlock()
	if err := c.takeOut(ctx, node); err != nil {
		errs = append(errs, fmt.Errorf("quarantining %s: %w", node, err))
	}
	return errors.Join(errs...)
}

// takeOut returns a quarantined node's leases to the queue (its captures
// of them would be dropped) and takes its unverified pages out of the
// next dataset versions. Doing it twice does nothing more.
func (c *Coordinator) takeOut(ctx context.Context, node string) error {
	leased, lerr := c.frontier.ReleaseNode(ctx, node)
	n, err := c.exclude(ctx, node, nil)
	if n > 0 || leased > 0 {
		c.log.Warn("pages of quarantined node queued again", logkey.Node, node, "pages", n, "leased", leased)
	}
	return errors.Join(lerr, err)
}

// exclude takes a node's unverified contributions (those named by keys,
// or all when keys is nil) out of their datasets' next versions, undoes
// their counts and queues their URLs again; a page already in a published
// version is retracted from the next one (storage.DatasetWriter.RemoveEach,
// one call per job),
// and a job marked done runs again to fetch it. It returns how many it
// took.
// A contribution is deleted from the database only once its page is out
// and its URL queued, so a crash in between leaves it to be taken out
// again after the restart (resumeQuarantines); one whose removal failed
// stays there for the same reason.
func (c *Coordinator) exclude(ctx context.Context, node string, keys []checkKey) (int, error) {
	type taken struct {
		key checkKey
		ct  *contribution
	}
	var out []taken
	c.contribMu.Lock()
	m := c.contrib[node]
	if keys == nil {
		for k, ct := range m {
			if !ct.verified {
				out = append(out, taken{k, ct})
				delete(m, k)
			}
		}
	} else {
		for _, k := range keys {
			if ct := m[k]; ct != nil && !ct.verified {
				out = append(out, taken{k, ct})
				delete(m, k)
			}
		}
	}
	c.contribMu.Unlock()
	if len(out) == 0 {
		return 0, nil
	}
	byJob := make(map[string][]taken)
	for _, t := range out {
		byJob[t.key.job] = append(byJob[t.key.job], t)
	}
	var (
		errs []error
		done []contribKey
	)
	for jobID, ts := range byJob {
		j := c.job(jobID)
		if j == nil {
			for _, t := range ts {
				done = append(done, contribKey{node, t.key})
			}
			continue
		}
		// One call for the job's pages, each taken out by its document
		// ID: a page another node stored first under the same ID (a
		// re-fetch after a lease expired) goes too, and its URL queued
		// again brings an honest copy back. A held redirect that no check
		// released names no document: there is nothing to take out, only
		// its URL to queue again.
		ids := make([]string, 0, len(ts))
		for _, t := range ts {
			if t.ct.docID != "" {
				ids = append(ids, t.ct.docID)
			}
		}
		each, rerr := j.dataset.RemoveEach(ctx, ids...)
		var (
			told    []string
			counted = make(map[string]bool, len(ids))
		)
		for _, t := range ts {
			removed := 0
			if id := t.ct.docID; id != "" {
				removed = each[id]
				if removed == 0 && rerr != nil {
					// Its records may still be in: it stays in the
					// database, to be taken out again after a restart.
					errs = append(errs, fmt.Errorf("taking %s of %s out of job %s: %w", t.ct.url, node, jobID, rerr))
					continue
				}
				if counted[id] {
					// Two contributions named one document: its records
					// went, and are counted, once.
					removed = 0
				}
				counted[id] = true
			}
			if t.ct.docID != "" {
				j.uncountTaken(t.ct.docID, t.ct.decision, removed > 0, t.ct.restored)
			}
			if f, ok := c.pipe.(dedupForgetter); ok && t.ct.dedup != nil {
				f.ForgetDedup(*t.ct.dedup)
			}
			if err := c.frontier.Requeue(ctx, frontier.Candidate{JobID: jobID, URL: t.ct.url, Depth: t.ct.depth, Priority: 1}); err != nil {
				errs = append(errs, fmt.Errorf("queueing %s again: %w", t.ct.url, err))
			} else if rerr == nil {
				// After a failed removal even a page some of whose
				// records went stays in the database: the failure may
				// have left a published copy in.
				done = append(done, contribKey{node, t.key})
			}
			if t.ct.docID != "" {
				told = append(told, t.ct.docID)
			}
		}
		c.emitExcluded(jobID, told)
		if err := c.reopenIfDone(ctx, j); err != nil {
			errs = append(errs, err)
		}
	}
	c.contribMu.Lock()
	for _, k := range done {
		c.contribDirty[k] = struct{}{}
	}
	c.contribMu.Unlock()
	if err := c.saveState(ctx); err != nil {
		errs = append(errs, err)
	}
	return len(out), errors.Join(errs...)
}
