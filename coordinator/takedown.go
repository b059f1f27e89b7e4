package coordinator

import (
	"context"
	"errors"
	"fmt"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/internal/logkey"
)

// Takedown: a dataset owner takes pages out of a job's dataset on request
// (a site that opted out after the crawl, a legal notice). The rows are
// dropped from the pending version, or retracted from the next one when
// already published, and the live feed drops them; the next Publish
// releases the version without them. A page fetched again later (a
// recrawl, or a liar's page queued again) comes back: to keep it out,
// take it out of the job's scope too.

// MaxRetractURLs bounds one Retract call.
const MaxRetractURLs = 10000

const (
	// retractURLBytes is the longest URL a retract request is sized for:
	// nodes fetch no longer URL (maxLinkBytes is their cap), so no
	// document in a dataset has a longer one.
	retractURLBytes = maxLinkBytes
	// retractURLSlack is room, for each URL, for its quotes, its comma,
	// indentation, and characters a JSON encoder escapes (Go's writes
	// "&" as six bytes).
	retractURLSlack = 512
	// maxRetractBodyBytes bounds the body of a retract request:
	// MaxRetractURLs URLs of retractURLBytes with their slack, and 64 KiB
	// for the object around them.
	maxRetractBodyBytes = MaxRetractURLs*(retractURLBytes+retractURLSlack) + 64<<10
)

// ErrBadRetract marks a Retract call that names no URL, too many, or one
// that is not a URL; nothing is taken out then.
var ErrBadRetract = errors.New("bad retract request")

// RetractResult is what Retract did.
type RetractResult struct {
	Job string `json:"job"`
	// Retracted counts the records (documents and rejects) taken out.
	Retracted int `json:"retracted"`
	// Unknown lists the URLs the dataset held no record of.
	Unknown []string `json:"unknown,omitempty"`
}

// Retract takes the pages of job jobID at urls out of its next dataset
// version, and off the job's counters. An URL that cannot be normalised
// is an error, and nothing is taken out then.
func (c *Coordinator) Retract(ctx context.Context, jobID string, urls []string) (RetractResult, error) {
	res := RetractResult{Job: jobID}
	j := c.job(jobID)
	if j == nil {
		return res, fmt.Errorf("job %q: %w", jobID, frontier.ErrUnknownJob)
	}
	if len(urls) == 0 || len(urls) > MaxRetractURLs {
		return res, fmt.Errorf("%w: %d URLs to retract; name 1 to %d", ErrBadRetract, len(urls), MaxRetractURLs)
	}
	ids := make([]string, len(urls))
	for i, u := range urls {
		n, err := NormalizeURL(u)
		if err != nil {
			return res, fmt.Errorf("%w: URL %q: %v", ErrBadRetract, u, err)
		}
		ids[i] = DocumentID(jobID, n)
	}
	// One call for every URL: each spool segment is rewritten once and the
	// retractions are one synced batch. On an error, what was taken out is
	// out: it is reported and the feed told, with the error.
	each, err := j.dataset.RemoveEach(ctx, ids...)
	seen := make(map[string]bool, len(ids))
	var told []string
	for i, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		n := each[id]
		if n == 0 {
			if err == nil {
				res.Unknown = append(res.Unknown, urls[i])
			}
			continue
		}
		res.Retracted += n
		told = append(told, id)
	}
	// The counters fall as exclude lowers them: by the decision of the
	// capture that stored the page, unless an earlier process counted it
	// (restored). A page whose contribution is no longer tracked (it
	// vested: forgetVested) is left counted: neither its decision nor
	// whether this process counted it is known any more, and the storage
	// reports only how many records went, not whether they were documents
	// or rejects.
	first := c.firstContributions(jobID, told)
	for _, id := range told {
		if ct, ok := first[id]; ok {
			j.uncountTaken(id, ct.decision, true, ct.restored)
		}
	}
	c.emitExcluded(jobID, told)
	if err != nil {
		return res, fmt.Errorf("retracting %d URLs from job %s: %w", len(urls), jobID, err)
	}
	c.log.Info("pages retracted on request", logkey.Job, jobID, "records", res.Retracted, "unknown", len(res.Unknown))
	return res, nil
}

// firstContributions returns, for each of job jobID's documents ids that
// a tracked contribution names, the earliest such contribution: the
// capture whose ingest stored the page and counted it (a later fetch of
// the same page is stored and counted once).
func (c *Coordinator) firstContributions(jobID string, ids []string) map[string]contribution {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	out := make(map[string]contribution)
	c.contribMu.Lock()
	defer c.contribMu.Unlock()
	for _, m := range c.contrib {
		for k, ct := range m {
			if k.job != jobID || !want[ct.docID] {
				continue
			}
			if f, ok := out[ct.docID]; !ok || ct.at.Before(f.at) {
				out[ct.docID] = *ct
			}
		}
	}
	return out
}
