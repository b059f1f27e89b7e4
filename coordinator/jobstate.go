package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// Job states (see frontier_jobs.go for the constants):
//
//	running   -> leases are handed out and captures ingested
//	paused    -> no leases until resumed (API)
//	cancelled -> stopped for good (API)
//	done      -> the crawl is finished (nothing queued, leased or being
//	             verified) and a version holding it was published; a job
//	             with a recrawl interval never becomes done, it stays
//	             running to fetch its pages again.

// ErrJobExists is returned by Submit for a spec whose name is taken by a
// job with another spec.
var ErrJobExists = errors.New("a job with this name already exists")

// checkNameClash decides what Submit does with a spec whose name is
// known: the same spec again resumes the job (a restart re-submits it);
// another spec under a known name is an error, whatever the job's state,
// so a second crawl never silently joins the first nor is silently
// replaced by a finished one's spec.
func checkNameClash(existing *frontier.JobRecord, spec *schemas.JobSpec) error {
	a, errA := json.Marshal(existing.Spec)
	b, errB := json.Marshal(spec)
	if errA == nil && errB == nil && bytes.Equal(a, b) {
		return nil
	}
	hint := "cancel the old one first"
	if existing.State == frontier.JobDone || existing.State == frontier.JobCancelled {
		hint = "its dataset keeps the name"
	}
	return fmt.Errorf("job %q is %s with another spec: %w; give the new job another name (%s)", spec.Name, existing.State, ErrJobExists, hint)
}

// markDoneIfFinished moves a running job to done once its crawl is
// finished and published. Done is set only from running (a job paused or
// cancelled meanwhile stays so), and the crawl is looked at again once it
// is set: a conviction that queued a page again between the first look
// and the write found the job still running and left it so
// (reopenIfDone), so the job runs again here instead of holding the page
// for good.
func (c *Coordinator) markDoneIfFinished(ctx context.Context, j *jobState) error {
	if j.spec.RecrawlInterval > 0 {
		return nil
	}
	rec, err := c.frontier.GetJob(ctx, j.id)
	if err != nil || rec == nil || rec.State != frontier.JobRunning {
		return err
	}
	fin, err := c.Finished(ctx, j.id)
	if err != nil || !fin {
		return err
	}
	done, err := c.frontier.SetJobStateIf(ctx, j.id, frontier.JobRunning, frontier.JobDone)
	if err != nil {
		return fmt.Errorf("marking job %s done: %w", j.id, err)
	}
	if !done {
		return nil
	}
	if fin, err := c.Finished(ctx, j.id); err != nil || !fin {
		if _, rerr := c.frontier.SetJobStateIf(ctx, j.id, frontier.JobDone, frontier.JobRunning); rerr != nil {
			return errors.Join(err, fmt.Errorf("running job %s again: %w", j.id, rerr))
		}
		return err
	}
	c.log.Info("job done", logkey.Job, j.id)
	return nil
}

// reopenIfDone sets a job marked done running again: pages of a node
// convicted after the job finished were taken out and queued again, and
// the job's URLs wait while it is done. Only a job still done is
// reopened: one paused or cancelled since stays so.
func (c *Coordinator) reopenIfDone(ctx context.Context, j *jobState) error {
	reopened, err := c.frontier.SetJobStateIf(ctx, j.id, frontier.JobDone, frontier.JobRunning)
	if err != nil {
		return fmt.Errorf("running job %s again: %w", j.id, err)
	}
	if reopened {
		c.log.Warn("job running again to fetch pages a convicted node contributed", logkey.Job, j.id)
	}
	return nil
}

// decIfPositive takes one from n unless it is zero (counters start at zero
// after a restart, when a review settled before it may still arrive).
func decIfPositive(n *atomic.Int64) bool {
	for {
		v := n.Load()
		if v <= 0 {
			return false
		}
		if n.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

// ReviewRejected records that curators settled one of a job's review items
// as rejected: document docID moves from the review count to the
// rejected count, so accepted + rejected + review never exceeds what was
// fetched. A document this process did not count in review (settled
// before a restart, read again) moves nothing.
func (c *Coordinator) ReviewRejected(jobID, docID string) error {
	j := c.job(jobID)
	if j == nil {
		return fmt.Errorf("settled review names unknown job %q", jobID)
	}
	if _, counted := j.inReview.LoadAndDelete(docID); counted && decIfPositive(&j.review) {
		j.rejected.Add(1)
	}
	return nil
}
