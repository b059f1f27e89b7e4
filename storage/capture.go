package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/swardnet/sward/schemas"
)

// MaxCaptureRecord bounds a stored capture record read back by
// ReadCapture: the inline body limit plus room for headers and outlinks.
const MaxCaptureRecord = schemas.MaxCaptureBody + 16<<20

// PutCapture stores a signed capture as a UnixFS file holding its JSON and
// returns the file's CID, the capture_cid of every row made from it (see
// docs/FORMATS.md, "Capture records"). The record keeps the capture
// exactly as signed: when the capture names its body by BodyCID the inline
// body is left out (that block is in the store already), otherwise the
// body travels inline. Storing the same capture twice gives the same CID.
// The blocks are written but not synced: call Sync before recording
// anything that names the CID durably.
func (s *Store) PutCapture(ctx context.Context, c *schemas.Capture) (cid.Cid, error) {
	rec := *c
	if rec.BodyCID != "" {
		rec.Body = nil
	}
	raw, err := json.Marshal(&rec)
	if err != nil {
		return cid.Undef, fmt.Errorf("encoding capture of %s: %w", c.URL, err)
	}
	root, err := s.AddFile(ctx, bytes.NewReader(raw))
	if err != nil {
		return cid.Undef, fmt.Errorf("storing capture of %s: %w", c.URL, err)
	}
	return root, nil
}

// ReadCapture reads a capture record back by its CID. The caller checks the
// signature (network.VerifyCapture) when it needs to.
func (s *Store) ReadCapture(ctx context.Context, root cid.Cid) (*schemas.Capture, error) {
	r, err := s.OpenFile(ctx, root, "")
	if err != nil {
		return nil, fmt.Errorf("opening capture %s: %w", root, err)
	}
	defer r.Close()
	raw, err := io.ReadAll(io.LimitReader(r, MaxCaptureRecord+1))
	if err != nil {
		return nil, fmt.Errorf("reading capture %s: %w", root, err)
	}
	if len(raw) > MaxCaptureRecord {
		return nil, fmt.Errorf("capture %s is larger than %d bytes", root, MaxCaptureRecord)
	}
	var c schemas.Capture
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("capture %s is not a capture record: %w", root, err)
	}
	return &c, nil
}

// Sync makes every block written so far durable.
func (s *Store) Sync(ctx context.Context) error { return s.sync(ctx) }
