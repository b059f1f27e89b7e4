package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/swardnet/sward/schemas"
)

// BodyFetcher fetches a capture body that travelled by bitswap rather than
// inline; (*storage.Server).FetchFile fits.
type BodyFetcher interface {
	FetchFile(ctx context.Context, root cid.Cid, max int64) ([]byte, error)
}

// bodyFetchTimeout bounds the wait for one body from the node that has it.
const bodyFetchTimeout = 30 * time.Second

// SetBodyFetcher lets the coordinator ingest captures whose body is named
// by body_cid (bodies over the gossip inline limit). Without one such
// captures are dropped and their URLs fetched again when the lease expires.
func (c *Coordinator) SetBodyFetcher(f BodyFetcher) { c.bodies = f }

// loadBody fills capt.Body from the network and checks it against the
// signed hash, so a node cannot swap the bytes behind its CID.
func (c *Coordinator) loadBody(ctx context.Context, capt *schemas.Capture) error {
	if c.bodies == nil {
		return errors.New("capture body travels by bitswap but no body fetcher is set")
	}
	root, err := cid.Decode(capt.BodyCID)
	if err != nil {
		return fmt.Errorf("body cid %q: %w", capt.BodyCID, err)
	}
	fctx, cancel := context.WithTimeout(ctx, bodyFetchTimeout)
	defer cancel()
	b, err := c.bodies.FetchFile(fctx, root, schemas.MaxCaptureBody)
	if err != nil {
		return fmt.Errorf("fetching body %s: %w", root, err)
	}
	if got := schemas.SHA256Hex(b); got != capt.BodySHA256 {
		return fmt.Errorf("body %s hashes to %s, but the capture signed %s", root, got, capt.BodySHA256)
	}
	capt.Body = b
	return nil
}
