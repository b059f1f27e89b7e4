package coordinator

import (
	"context"
	"fmt"
	"time"

	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// finishRow gives a pipeline result its place in the job's dataset: the
// signed capture is stored in the block store, and the document (if any)
// gets the job's document ID, the final URL and that capture's CID, so
// every row, search hit and feed event names a retrievable capture. It
// returns the capture CID.
func (c *Coordinator) finishRow(ctx context.Context, j *jobState, capt *schemas.Capture, norm, pageURL string, res *pipeline.Result) (string, error) {
	root, err := c.store.PutCapture(ctx, capt)
	if err != nil {
		return "", fmt.Errorf("coordinator: %w", err)
	}
	// Durable before any row names it.
	if err := c.store.Sync(ctx); err != nil {
		return "", fmt.Errorf("coordinator: %w", err)
	}
	cc := root.String()
	if res.Doc != nil {
		// The row is the page where the fetch ended up, as its ID is.
		res.Doc.ID = DocumentID(j.id, norm)
		res.Doc.URL = pageURL
		res.Doc.JobID = j.id
		res.Doc.CaptureCID = cc
	}
	return cc, nil
}

// rejectRow is the rejects-table row of a rejected capture (the builder
// the offline pipeline shares, storage.NewReject).
func rejectRow(j *jobState, capt *schemas.Capture, norm, captureCID string, res pipeline.Result) storage.Reject {
	r := storage.NewReject(DocumentID(j.id, norm), capt.URL,
		storage.Verdict{Reasons: res.Reasons, Detail: res.Detail, Scores: res.Scores}, time.Now())
	r.Host, r.JobID, r.CaptureCID = hostOf(norm), j.id, captureCID
	return r
}
