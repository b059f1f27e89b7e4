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
	// page had none.
	sig []uint64
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
	fp := fingerprint{status: c.Status}
	if text := mainText(c); strings.TrimSpace(text) != "" {
		fp.sig = v.minhash.Key(text).Signature
	}
	return fp
}

// agree compares two fingerprints and returns whether they agree and
// their similarity.
func agree(a, b fingerprint) (bool, float64) {
	switch {
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
}

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
	// assigned is the node currently asked to fetch, until assignedUntil.
	assigned      string
	assignedUntil time.Time
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
	// inconclusive is set when three fetches did not produce a majority.
	inconclusive bool
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
}

func newVerifier(secret []byte) *verifier {
	return &verifier{
		secret:  secret,
		minhash: pipeline.NewDedup(verifyNGram, verifyBands, verifyRows),
		checks:  make(map[checkKey]*check),
		dirty:   make(map[checkKey]struct{}),
	}
}

// sampleDraw maps a job's URL to a number in [0, 1) with a keyed hash: it
// is the same every time for one secret, so sampling is reproducible, and
// nodes, who do not know the secret, cannot tell which captures will be
// checked.
func (v *verifier) sampleDraw(job, norm string) float64 {
	m := hmac.New(sha256.New, v.secret)
	m.Write([]byte("sward/verify\x00" + job + "\x00" + norm))
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

// candidates lists up to max checks node may fetch now: never the
// original's node, never a node that already fetched the page, and not a
// check another node is working on. Oldest first.
func (v *verifier) candidates(node string, now time.Time, max int) []offer {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []*check
	for _, ck := range v.checks {
		if ck.orig == node || ck.tried[node] {
			continue
		}
		if ck.assigned != "" && now.Before(ck.assignedUntil) {
			continue
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

// assign gives the offered checks to node until until, and returns those
// it got (another node may have taken one meanwhile).
func (v *verifier) assign(node string, offers []offer, now, until time.Time) []offer {
	v.mu.Lock()
	defer v.mu.Unlock()
	var got []offer
	for _, o := range offers {
		ck := v.checks[o.key]
		if ck == nil || ck.orig == node || ck.tried[node] {
			continue
		}
		if ck.assigned != "" && now.Before(ck.assignedUntil) {
			continue
		}
		ck.assigned, ck.assignedUntil = node, until
		got = append(got, o)
	}
	return got
}

// release gives back the checks of the named URLs node was assigned and
// will not fetch.
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
			ck.assigned, ck.assignedUntil = "", time.Time{}
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

// record files node's verification fetch of key. matched is false when no
// check of key has node assigned (the capture is not a verification
// fetch). A transient fetch is set aside and the check offered again.
func (v *verifier) record(key checkKey, node string, fp fingerprint, bytes int64, isTransient bool) (vd verdict, matched bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ck := v.checks[key]
	if ck == nil || ck.assigned != node {
		return verdict{}, false
	}
	ck.assigned, ck.assignedUntil = "", time.Time{}
	ck.tried[node] = true
	v.dirty[key] = struct{}{}
	if isTransient {
		return verdict{key: key, orig: ck.orig}, true
	}
	ck.fetches = append(ck.fetches, fetchResult{node: node, fp: fp, bytes: bytes})
	vd = ck.evaluate()
	if vd.done {
		delete(v.checks, key)
	}
	return vd, true
}

// evaluate decides a check from its fetches: one agreeing re-fetch
// confirms the original; after a disagreement a third fetch sides with
// one of the two, and the node it contradicts lied.
func (ck *check) evaluate() verdict {
	vd := verdict{key: ck.key, orig: ck.orig}
	origin := party{ck.orig, ck.origBytes}
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
	switch {
	case withOrig && !withFirst:
		vd.origVerified = true
		vd.pass = []party{origin, {f2.node, f2.bytes}}
		vd.fail = []party{{f1.node, f1.bytes}}
	case withFirst && !withOrig:
		vd.origLied = true
		vd.pass = []party{{f1.node, f1.bytes}, {f2.node, f2.bytes}}
		vd.fail = []party{origin}
	default:
		// All three agree, or none do (a page that changes on every
		// fetch): nobody can be blamed.
		vd.inconclusive = true
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
		if now.Sub(ck.opened) > timeout {
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
			ck.assigned, ck.assignedUntil = "", time.Time{}
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
