package feed

import (
	"context"
	"time"
)

// RemoveDocument takes the document with the given ID out of the index, as
// MarkRemoved does for its URL: the coordinator calls it when verification
// excludes a page whose node was caught altering content (an honest
// re-fetch of the URL brings the page back). It reports false when the ID is
// not indexed (never was, or already superseded).
func (f *Feed) RemoveDocument(ctx context.Context, id string, at time.Time) (bool, error) {
	rec, err := f.Get(ctx, id)
	if err != nil || rec == nil {
		return false, nil
	}
	return f.MarkRemoved(ctx, rec.URL, at)
}
