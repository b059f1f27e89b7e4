package coordinator

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/swardnet/sward/feed"
	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

// LiveJobID is the built-in job that carries on-demand fetches from the
// feed's /v1/fetch. Its captures go through the same nodes, robots.txt,
// politeness and pipeline as any crawl, and never reach a dataset.
const LiveJobID = "live"

// liveResult is what a waiting FetchURL receives.
type liveResult struct {
	doc *schemas.Document
	err error
}

// FetchError is a live fetch that ended without a document; Reason is the
// capture's error or the pipeline's reasons. It unwraps to the feed's
// ErrRefused (robots.txt, TDM opt-out) or ErrUnreachable, so the feed can
// answer with the right status.
type FetchError struct {
	URL    string
	Reason string
	Kind   error
}

func (e *FetchError) Error() string { return fmt.Sprintf("fetching %s: %s", e.URL, e.Reason) }

// Unwrap returns the kind of failure.
func (e *FetchError) Unwrap() error { return e.Kind }

// fetchFailure classifies a capture error by its reason code.
func fetchFailure(capt *schemas.Capture) *FetchError {
	kind := feed.ErrUnreachable
	if strings.HasPrefix(capt.Error, "robots") || strings.HasPrefix(capt.Error, "tdm") {
		kind = feed.ErrRefused
	}
	return &FetchError{URL: capt.URL, Reason: capt.Error, Kind: kind}
}

// FetchURL queues raw as a priority URL for the network and waits until a
// node's capture of it has been through the pipeline. It implements the
// feed's LiveFetcher; ctx bounds the wait.
func (c *Coordinator) FetchURL(ctx context.Context, raw string) (*schemas.Document, error) {
	norm, err := NormalizeURL(raw)
	if err != nil {
		return nil, &FetchError{URL: raw, Reason: "invalid url: " + err.Error(), Kind: feed.ErrUnreachable}
	}
	u, _ := url.Parse(norm)
	if _, err := c.openJob(ctx, LiveJobID, liveSpec()); err != nil {
		return nil, err
	}
	if rec, err := c.frontier.GetJob(ctx, LiveJobID); err != nil || rec == nil {
		if err := c.frontier.PutJob(ctx, LiveJobID, liveSpec(), frontier.JobRunning); err != nil {
			return nil, fmt.Errorf("registering the live job: %w", err)
		}
	}
	ch := make(chan liveResult, 1)
	c.mu.Lock()
	if c.waiters == nil {
		c.waiters = make(map[string][]chan liveResult)
	}
	c.waiters[norm] = append(c.waiters[norm], ch)
	c.mu.Unlock()
	defer c.dropWaiter(norm, ch)

	if err := c.frontier.Requeue(ctx, frontier.Candidate{JobID: LiveJobID, URL: norm, Depth: 0, Priority: 100}); err != nil {
		return nil, fmt.Errorf("queueing %s: %w", u, err)
	}
	select {
	case r := <-ch:
		return r.doc, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("fetching %s: no node delivered it in time: %w", raw, ctx.Err())
	}
}

func (c *Coordinator) dropWaiter(norm string, ch chan liveResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := c.waiters[norm]
	for i, w := range ws {
		if w == ch {
			c.waiters[norm] = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(c.waiters[norm]) == 0 {
		delete(c.waiters, norm)
	}
}

// notifyLive hands a live job's outcome to whoever waits for it.
func (c *Coordinator) notifyLive(norm string, capt *schemas.Capture, res pipeline.Result) {
	var r liveResult
	switch {
	case capt.Error != "":
		r.err = fetchFailure(capt)
	case res.Decision == pipeline.Reject && hasPrefix(res.Reasons, "tdm:"):
		r.err = &FetchError{URL: capt.URL, Reason: "the site reserves AI/TDM use (" + strings.Join(res.Reasons, ", ") + ")", Kind: feed.ErrRefused}
	case res.Doc == nil:
		r.err = &FetchError{URL: capt.URL, Reason: "no content: " + strings.Join(res.Reasons, ", "), Kind: feed.ErrUnreachable}
	default:
		d := *res.Doc
		r.doc = &d
	}
	c.mu.Lock()
	ws := c.waiters[norm]
	delete(c.waiters, norm)
	c.mu.Unlock()
	for _, w := range ws {
		w <- r
	}
}

func hasPrefix(reasons []string, p string) bool {
	for _, r := range reasons {
		if strings.HasPrefix(r, p) {
			return true
		}
	}
	return false
}

// liveSpec describes the live job. Its URLs come one by one from FetchURL,
// never from seeds or links (depth 0), so its seed is only a placeholder
// that keeps the spec valid and is never queued.
func liveSpec() *schemas.JobSpec {
	return &schemas.JobSpec{
		Version: schemas.JobSpecVersion, Name: LiveJobID, Dataset: "live",
		Seeds: []string{"http://127.0.0.1/"}, Scope: schemas.Scope{Domains: []string{"*"}},
		MaxDepth: 0, TDMPolicy: schemas.TDMSkip,
	}
}
