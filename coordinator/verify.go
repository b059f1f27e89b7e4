package coordinator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

// Verification: a sampled share of captures is fetched again by other
// nodes and the two are compared on their extracted main text. See
// docs/verification.md for the protocol and the quarantine bound.

// AgreeSimilarity is the least estimated Jaccard similarity of two
// fetches' main-text shingle sets (3-word shingles, MinHash) at which the
// fetches agree. A rotating ad or a timestamp changes a few shingles of a
// page; a node that rewrites the text changes most of them.
const AgreeSimilarity = 0.7

// Shape of the verification MinHash: 3-word shingles, 128 hashes. Only its
// Key function is used; nothing is ever added to this index.
const (
	verifyNGram = 3
	verifyBands = 16
	verifyRows  = 8
)

// fingerprint is what verification compares of one fetch.
type fingerprint struct {
	status int
	// sig is the MinHash signature of the page's main text; nil when the
	// page had none. It is what a saved check keeps (see persist.go).
	sig []uint64
	// shingles are the sorted hashes of the main text's 3-word shingles,
	// compared by containment (verify_compare.go); nil for a fingerprint
	// loaded from the database, which is compared by sig.
	shingles []uint64
	// final is the normalised URL the fetch was redirected to, or "".
	final string
	// finalUnknown marks a fingerprint loaded from a row saved before the
	// redirect was recorded (frontier schema 4): its final is not known,
	// and the comparison leaves it out.
	finalUnknown bool
	// failed marks a fetch that says nothing about the page (transient).
	failed bool
}

// transient reports a fetch that says nothing about the page (network
// error, throttling, server error): it neither confirms nor contradicts.
func transient(c *schemas.Capture) bool {
	return c.Error != "" || c.Status == 429 || c.Status >= 500 || c.Status == 0
}

// mainText is the normalised main content of a capture, or "".
func mainText(c *schemas.Capture) string {
	if len(c.Body) == 0 {
		return ""
	}
	ct := strings.ToLower(c.ContentType)
	if ct == "" {
		ct = strings.ToLower(c.Headers["Content-Type"])
	}
	page, err := pipeline.Decode(c.Body, ct)
	if err != nil {
		return ""
	}
	if strings.Contains(ct, "text/plain") {
		return pipeline.Normalize(page)
	}
	pageURL := c.FinalURL
	if pageURL == "" {
		pageURL = c.URL
	}
	ex, err := pipeline.Extract(page, pageURL, pipeline.DefaultExtractOptions())
	if err != nil {
		return ""
	}
	return pipeline.Normalize(ex.Text)
}

// fingerprintOf computes a capture's fingerprint with the verification
// MinHash.
func (v *verifier) fingerprintOf(c *schemas.Capture) fingerprint {
	fp := fingerprint{status: c.Status, failed: transient(c)}
	if c.FinalURL != "" {
		if n, err := NormalizeURL(c.FinalURL); err == nil {
			if u, err := NormalizeURL(c.URL); err != nil || u != n {
				fp.final = n
			}
		}
	}
	if text := mainText(c); strings.TrimSpace(text) != "" {
		fp.sig = v.minhash.Key(text).Signature
		fp.shingles = shinglesOf(text)
	}
	return fp
}

// agree compares two fingerprints and returns whether they agree and
// their similarity.
func agree(a, b fingerprint) (bool, float64) {
	if a.final != b.final && !a.finalUnknown && !b.finalUnknown {
		// A redirect only one fetch saw: the page is not the same.
		return false, 0
	}
	switch {
	case a.shingles != nil && b.shingles != nil:
		return containmentAgree(a.shingles, b.shingles)
	case a.sig != nil && b.sig != nil:
		s := pipeline.Similarity(a.sig, b.sig)
		return s >= AgreeSimilarity, s
	case a.sig == nil && b.sig == nil:
		if a.status == b.status {
			return true, 1
		}
		return false, 0
	}
	return false, 0
}

// checkKey names a check: a job and the normalised URL that was leased.
type checkKey struct{ job, url string }

// fetchResult is one verifier's fetch of a checked page.
type fetchResult struct {
	node  string
	fp    fingerprint
	bytes int64
	// at is when the coordinator recorded the fetch (zero for one loaded
	// from the database, which counts as close in time).
	at time.Time
}

// trustedNode names the coordinator's own trusted fetcher in checks.
const trustedNode = "coordinator-trusted-fetcher"

// check is one sampled capture under verification. Open checks survive a
// coordinator restart: saveState keeps everything but the assignment in
// the frontier database, and New loads them unassigned, with the
// fingerprints of the fetches already received and the nodes that
// answered, their timeout starting again (see persist.go).
type check struct {
	key       checkKey
	url       string // as leased, for the verify item
	host      string // frontier host key
	depth     int
	orig      string // the original capture's node
	origFP    fingerprint
	origBytes int64
	created   time.Time
	// opened starts the check's timeout: created, or when a check saved
	// by an earlier coordinator process was loaded again (the time the
	// coordinator was down does not count against it).
	opened time.Time
	// fetches are the verifiers' usable fetches, in arrival order.
	fetches []fetchResult
	// tried holds every node that was given the check and answered, so no
	// node verifies a page twice.
	tried map[string]bool
	// assigned is the node currently asked to fetch, until assignedUntil,
	// in lease assignedLease.
	assigned      string
	assignedUntil time.Time
	assignedLease string
	// designated is the verifier drawn at random for the next fetch, at
	// designatedAt; only it is offered the check (see candidates).
	designated   string
	designatedAt time.Time
	// lapses counts assignments that ran out unanswered.
	lapses int
	// trustedBusy is set while the trusted fetcher fetches the page.
	trustedBusy bool
}

// party is a node and the bytes its fetch delivered.
type party struct {
	node  string
	bytes int64
}

// verdict is what a recorded verification fetch settled.
type verdict struct {
	key  checkKey
	orig string
	done bool
	// inconclusive is set when three fetches did not produce a majority,
	// or when the two that agree against the original were fetched too
	// long after it.
	inconclusive bool
	// origFailed is set when the original was an error answer and a
	// verifier fetched the page: the URL is fetched again, nobody is
	// convicted (servers fail now and then).
	origFailed bool
	// origLied is set when two other nodes agreed against the original.
	origLied bool
	// origVerified is set when the original was confirmed.
	origVerified bool
	pass, fail   []party
	sims         []float64
}

// verifier holds the checks in progress. It is pure bookkeeping, safe for
// concurrent use; the coordinator performs what its verdicts call for and
// saves the checks it marks changed (see persist.go).
type verifier struct {
	secret  []byte
	minhash *pipeline.Dedup

	mu     sync.Mutex
	checks map[checkKey]*check
	// dirty holds the checks opened, answered or ended since they were
	// last taken for saving. Assignments are not saved and do not mark a
	// check.
	dirty map[checkKey]struct{}
	// lapsed holds the assignments that ran out unanswered since
	// takeLapses last drained it.
	lapsed []lapse
	// designateFor is how long a drawn verifier has to ask for work
	// before another is drawn; window is how close in time to the
	// original two fetches must be to convict it (see evaluate).
	designateFor, window time.Duration
	// settled counts the checks that reached a verdict.
	settled int
}

// lapse is a check a node took and never answered.
type lapse struct {
	node string
	key  checkKey
}

func newVerifier(secret []byte) *verifier {
	return &verifier{
		secret:  secret,
		minhash: pipeline.NewDedup(verifyNGram, verifyBands, verifyRows),
		checks:  make(map[checkKey]*check),
		dirty:   make(map[checkKey]struct{}),

		designateFor: 30 * time.Second,
		window:       10 * time.Minute,
	}
}

// sampleDraw maps a job's URL to a number in [0, 1) with a keyed hash: it
// is the same every time for one secret, so sampling is reproducible, and
// nodes, who do not know the secret, cannot tell which captures will be
// checked.
func (v *verifier) sampleDraw(job, norm string) float64 {
	return v.sampleDrawFor(job, norm, "")
}

// sampleDrawFor is sampleDraw for one node's capture: every node's fetch
// of a URL has a draw of its own.
func (v *verifier) sampleDrawFor(job, norm, node string) float64 {
	m := hmac.New(sha256.New, v.secret)
	m.Write([]byte("sward/verify\x00" + job + "\x00" + norm))
	if node != "" {
		m.Write([]byte("\x00" + node))
	}
	sum := m.Sum(nil)
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / float64(uint64(1)<<53)
}

// sampled reports whether a job's URL is in its verification sample.
func (v *verifier) sampled(job, norm string, rate float64) bool {
	return rate > 0 && v.sampleDraw(job, norm) < rate
}

// add starts a check unless one is already running for its key.
func (v *verifier) add(ck *check) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.checks[ck.key]; ok {
		return false
	}
	if ck.tried == nil {
		ck.tried = make(map[string]bool)
	}
	if ck.opened.IsZero() {
		ck.opened = ck.created
	}
	v.checks[ck.key] = ck
	v.dirty[ck.key] = struct{}{}
	return true
}

// offer is a check handed to a node to fetch.
type offer struct {
	key   checkKey
	url   string
	host  string
	depth int
}

// picker draws a verifier for a check at random among the nodes eligible
// for it, or returns "" when none is; still reports whether a drawn
// verifier is still eligible.
type picker struct {
	draw  func(ck *check) string
	still func(ck *check, node string) bool
}

// lapseLocked files an assignment that ran out unanswered: the node is
// never offered the check again and is blamed (takeLapses). v.mu held.
func (v *verifier) lapseLocked(ck *check, now time.Time) {
	if ck.assigned == "" || !now.After(ck.assignedUntil) {
		return
	}
	ck.tried[ck.assigned] = true
	ck.lapses++
	v.lapsed = append(v.lapsed, lapse{node: ck.assigned, key: ck.key})
	ck.assigned, ck.assignedUntil, ck.assignedLease = "", time.Time{}, ""
	ck.designated = ""
	v.dirty[ck.key] = struct{}{}
}

// takeLapses files every assignment that ran out by now and returns the
// lapses filed since the last call.
func (v *verifier) takeLapses(now time.Time) []lapse {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, ck := range v.checks {
		v.lapseLocked(ck, now)
	}
	out := v.lapsed
	v.lapsed = nil
	return out
}

// candidates lists up to max checks node may fetch now: those whose
// drawn verifier is node. A check without a verifier, or whose verifier
// did not ask within designateFor, gets one drawn by pick; the original's
// node, nodes that already fetched or lapsed the page and a check another
// node is working on are never offered. Oldest first.
func (v *verifier) candidates(node string, now time.Time, max int, pick *picker) []offer {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []*check
	for _, ck := range v.checks {
		v.lapseLocked(ck, now)
		if ck.orig == node || ck.tried[node] || ck.assigned != "" || ck.trustedBusy {
			continue
		}
		if pick != nil {
			if ck.designated == "" || ck.tried[ck.designated] || now.Sub(ck.designatedAt) > v.designateFor || !pick.still(ck, ck.designated) {
				ck.designated, ck.designatedAt = pick.draw(ck), now
			}
			if ck.designated != node {
				continue
			}
		}
		out = append(out, ck)
	}
	sortChecks(out)
	if len(out) > max {
		out = out[:max]
	}
	offers := make([]offer, len(out))
	for i, ck := range out {
		offers[i] = offer{key: ck.key, url: ck.url, host: ck.host, depth: ck.depth}
	}
	return offers
}

func sortChecks(cs []*check) {
	// Insertion sort: candidate lists are short.
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && checkBefore(cs[j], cs[j-1]); j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

func checkBefore(a, b *check) bool {
	if !a.created.Equal(b.created) {
		return a.created.Before(b.created)
	}
	if a.key.job != b.key.job {
		return a.key.job < b.key.job
	}
	return a.key.url < b.key.url
}

// assign gives the offered checks to node until until, in lease leaseID,
// and returns those it got (another node may have taken one meanwhile).
func (v *verifier) assign(node string, offers []offer, now, until time.Time, leaseID ...string) []offer {
	v.mu.Lock()
	defer v.mu.Unlock()
	lid := ""
	if len(leaseID) > 0 {
		lid = leaseID[0]
	}
	var got []offer
	for _, o := range offers {
		ck := v.checks[o.key]
		if ck == nil || ck.orig == node || ck.tried[node] || ck.trustedBusy {
			continue
		}
		v.lapseLocked(ck, now)
		if ck.assigned != "" || ck.tried[node] {
			continue
		}
		ck.assigned, ck.assignedUntil, ck.assignedLease = node, until, lid
		got = append(got, o)
	}
	return got
}

// setLease names the lease that carries node's assigned checks of offers.
func (v *verifier) setLease(node, leaseID string, offers []offer) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, o := range offers {
		if ck := v.checks[o.key]; ck != nil && ck.assigned == node {
			ck.assignedLease = leaseID
		}
	}
}

// extend keeps node's checks in lease leaseID assigned until until: the
// node renewed the lease that carries them.
func (v *verifier) extend(node, leaseID string, until time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, ck := range v.checks {
		if ck.assigned == node && ck.assignedLease == leaseID && until.After(ck.assignedUntil) {
			ck.assignedUntil = until
		}
	}
}

// release gives back the checks of the named URLs node was assigned and
// will not fetch. The node is not blamed, but never offered them again.
func (v *verifier) release(node string, urls []string) {
	names := make(map[string]bool, len(urls))
	for _, u := range urls {
		if n, err := NormalizeURL(u); err == nil {
			names[n] = true
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, ck := range v.checks {
		if ck.assigned == node && names[ck.key.url] {
			ck.assigned, ck.assignedUntil, ck.assignedLease = "", time.Time{}, ""
			ck.tried[node] = true
			ck.designated = ""
		}
	}
}

// releaseLease gives back every check node holds in lease leaseID.
func (v *verifier) releaseLease(node, leaseID string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, ck := range v.checks {
		if ck.assigned == node && ck.assignedLease == leaseID {
			ck.assigned, ck.assignedUntil, ck.assignedLease = "", time.Time{}, ""
			ck.tried[node] = true
			ck.designated = ""
		}
	}
}

// isAssigned reports whether node was asked to fetch the check of key: its
// capture of that URL is then a verification fetch.
func (v *verifier) isAssigned(key checkKey, node string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	ck := v.checks[key]
	return ck != nil && ck.assigned == node
}

// openOrig is the original's node of the open check of key, or "".
func (v *verifier) openOrig(key checkKey) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ck := v.checks[key]; ck != nil {
		return ck.orig
	}
	return ""
}

// end closes the open check of key without a verdict if it checks orig's
// capture, and reports whether it did.
func (v *verifier) end(key checkKey, orig string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ck := v.checks[key]; ck != nil && ck.orig == orig {
		delete(v.checks, key)
		v.dirty[key] = struct{}{}
		return true
	}
	return false
}

// record files node's verification fetch of key. matched is false when no
// check of key has node assigned (the capture is not a verification
// fetch). A transient fetch of a page whose original was not an error is
// set aside and the check offered again.
func (v *verifier) record(key checkKey, node string, fp fingerprint, bytes int64, isTransient bool) (vd verdict, matched bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ck := v.checks[key]
	if ck == nil || ck.assigned != node {
		return verdict{}, false
	}
	ck.assigned, ck.assignedUntil, ck.assignedLease = "", time.Time{}, ""
	ck.designated = ""
	ck.tried[node] = true
	return v.recordLocked(ck, node, fp, bytes, isTransient, time.Now()), true
}

func (v *verifier) recordLocked(ck *check, node string, fp fingerprint, bytes int64, isTransient bool, now time.Time) verdict {
	v.dirty[ck.key] = struct{}{}
	fp.failed = fp.failed || isTransient
	if fp.failed && !ck.origFP.failed {
		return verdict{key: ck.key, orig: ck.orig}
	}
	ck.fetches = append(ck.fetches, fetchResult{node: node, fp: fp, bytes: bytes, at: now})
	vd := ck.evaluate(v.window)
	if vd.done {
		delete(v.checks, ck.key)
		v.settled++
	}
	return vd
}

// trustedDue lists the checks the trusted fetcher should fetch now, and
// marks them busy: those that lapsed maxLapses times, and those open
// longer than wait with no eligible verifier drawn.
func (v *verifier) trustedDue(now time.Time, maxLapses int, wait time.Duration) []offer {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []offer
	for _, ck := range v.checks {
		v.lapseLocked(ck, now)
		if ck.trustedBusy || ck.assigned != "" {
			continue
		}
		if ck.lapses >= maxLapses || (ck.designated == "" && now.Sub(ck.opened) > wait) {
			ck.trustedBusy = true
			out = append(out, offer{key: ck.key, url: ck.url, host: ck.host, depth: ck.depth})
		}
	}
	return out
}

// recordTrusted files the trusted fetcher's fetch of key (ok false when
// the fetch failed: the check waits for the next try).
func (v *verifier) recordTrusted(key checkKey, fp fingerprint, bytes int64, ok bool) (verdict, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ck := v.checks[key]
	if ck == nil {
		return verdict{}, false
	}
	ck.trustedBusy = false
	if !ok {
		return verdict{key: key, orig: ck.orig}, true
	}
	return v.recordLocked(ck, trustedNode, fp, bytes, false, time.Now()), true
}

// evaluate decides a check from its fetches: one agreeing re-fetch
// confirms the original; after a disagreement a third fetch sides with
// one of the two, and the node it contradicts lied. Two fetches that
// agree against the original convict it only when both were made within
// window of the original; later, the page may simply have changed.
func (ck *check) evaluate(window time.Duration) verdict {
	vd := verdict{key: ck.key, orig: ck.orig}
	origin := party{ck.orig, ck.origBytes}
	if ck.origFP.failed {
		// An error answer: one fetch that got the page, or one more error,
		// settles it.
		f := ck.fetches[len(ck.fetches)-1]
		vd.done = true
		if f.fp.failed {
			vd.origVerified = true
			vd.pass = []party{origin, {f.node, f.bytes}}
		} else {
			vd.origFailed = true
			vd.pass = []party{{f.node, f.bytes}}
		}
		return vd
	}
	switch len(ck.fetches) {
	case 0:
		return vd
	case 1:
		f := ck.fetches[0]
		ok, s := agree(ck.origFP, f.fp)
		vd.sims = []float64{s}
		if ok {
			vd.done, vd.origVerified = true, true
			vd.pass = []party{origin, {f.node, f.bytes}}
		}
		return vd
	}
	f1, f2 := ck.fetches[0], ck.fetches[1]
	withOrig, s1 := agree(ck.origFP, f2.fp)
	withFirst, s2 := agree(f1.fp, f2.fp)
	_, s0 := agree(ck.origFP, f1.fp)
	vd.sims = []float64{s0, s1, s2}
	vd.done = true
	late := func(f fetchResult) bool { return !f.at.IsZero() && f.at.Sub(ck.created) > window }
	switch {
	case withOrig && !withFirst:
		vd.origVerified = true
		vd.pass = []party{origin, {f2.node, f2.bytes}}
		vd.fail = []party{{f1.node, f1.bytes}}
	case withFirst && !withOrig && (late(f1) || late(f2)):
		// The page changed since, or the original lied: no telling.
		vd.inconclusive = true
		vd.pass = []party{{f1.node, f1.bytes}, {f2.node, f2.bytes}}
	case withFirst && !withOrig:
		vd.origLied = true
		vd.pass = []party{{f1.node, f1.bytes}, {f2.node, f2.bytes}}
		vd.fail = []party{origin}
	default:
		// All three agree, or none do (a page that changes on every
		// fetch): nobody can be blamed.
		vd.inconclusive = true
		vd.pass = []party{{f1.node, f1.bytes}, {f2.node, f2.bytes}}
	}
	return vd
}

// expire drops checks older than timeout (too few nodes to finish them,
// or a page nobody could fetch) and returns how many.
func (v *verifier) expire(now time.Time, timeout time.Duration) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for k, ck := range v.checks {
		if now.Sub(ck.opened) > timeout && !ck.trustedBusy {
			delete(v.checks, k)
			v.dirty[k] = struct{}{}
			n++
		}
	}
	return n
}

// pending counts a job's checks in progress ("" counts all).
func (v *verifier) pending(job string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	if job == "" {
		return len(v.checks)
	}
	n := 0
	for k := range v.checks {
		if k.job == job {
			n++
		}
	}
	return n
}

// dropNode forgets a quarantined node: checks of its own captures end
// (those captures leave the dataset anyway), and its fetches stop counting
// in other checks, which are offered again.
func (v *verifier) dropNode(node string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, ck := range v.checks {
		if ck.orig == node {
			delete(v.checks, k)
			v.dirty[k] = struct{}{}
			continue
		}
		kept := ck.fetches[:0]
		for _, f := range ck.fetches {
			if f.node != node {
				kept = append(kept, f)
			}
		}
		if len(kept) != len(ck.fetches) {
			v.dirty[k] = struct{}{}
		}
		ck.fetches = kept
		if ck.assigned == node {
			ck.assigned, ck.assignedUntil, ck.assignedLease = "", time.Time{}, ""
		}
		if ck.designated == node {
			ck.designated = ""
		}
	}
}

// checkSave is a check as it is to be saved: a copy of its state, or nil
// when it ended.
type checkSave struct {
	key checkKey
	ck  *check
}

// takeDirty returns the checks changed since the last call and forgets
// that they changed.
func (v *verifier) takeDirty() []checkSave {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.dirty) == 0 {
		return nil
	}
	out := make([]checkSave, 0, len(v.dirty))
	for k := range v.dirty {
		delete(v.dirty, k)
		ck := v.checks[k]
		if ck == nil {
			out = append(out, checkSave{key: k})
			continue
		}
		cp := *ck
		cp.fetches = append([]fetchResult(nil), ck.fetches...)
		cp.tried = make(map[string]bool, len(ck.tried))
		for n := range ck.tried {
			cp.tried[n] = true
		}
		out = append(out, checkSave{key: k, ck: &cp})
	}
	return out
}

// putBack marks checks taken by takeDirty as changed again.
func (v *verifier) putBack(cs []checkSave) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, c := range cs {
		v.dirty[c.key] = struct{}{}
	}
}

// restore adds checks saved by an earlier process, unassigned, with their
// timeout starting at now. A check already open under the same key is
// kept.
func (v *verifier) restore(cks []*check, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, ck := range cks {
		if _, ok := v.checks[ck.key]; ok {
			continue
		}
		if ck.tried == nil {
			ck.tried = make(map[string]bool)
		}
		ck.assigned, ck.assignedUntil = "", time.Time{}
		ck.opened = now
		v.checks[ck.key] = ck
	}
}

// unassign takes back checks assigned to node that could not be placed in
// its lease: it was never told of them, so it may be offered them again.
func (v *verifier) unassign(node string, offers []offer) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, o := range offers {
		if ck := v.checks[o.key]; ck != nil && ck.assigned == node {
			ck.assigned, ck.assignedUntil, ck.assignedLease = "", time.Time{}, ""
		}
	}
}

// settledCount is how many checks reached a verdict in this process.
func (v *verifier) settledCount() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.settled
}
