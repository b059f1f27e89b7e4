package schemas

import (
	"errors"
	"fmt"
)

// ProtocolCurateSync is the libp2p stream protocol a curator serves so that
// a curator who joins late (or reconnects) can backfill what gossip does not
// keep: the open review items and the signed decisions seen so far.
//
// One stream carries one page. The requester writes one frame holding a
// CurateSyncRequest and closes its side for writing; the responder writes
// one frame holding a CurateSyncResponse, then exactly Count frames, each
// one CurationMessage in the same signed JSON form as on TopicDecisions,
// then closes the stream. Every frame is an unsigned varint byte length
// followed by that many bytes (network.ReadFrame).
const ProtocolCurateSync = "/sward/curate/sync/1.0.0"

// CurateSyncVersion is the version of CurateSyncRequest and
// CurateSyncResponse.
const CurateSyncVersion = 1

// Limits of the curate sync protocol.
const (
	// MaxCurateSyncHeader bounds the request frame and the response header
	// frame.
	MaxCurateSyncHeader = 64 << 10
	// MaxCurateSyncPage bounds the messages in one page; a request asking
	// for more (or for 0) gets this many at most.
	MaxCurateSyncPage = 500
	// MaxCurateSyncPageBytes bounds the sum of one page's message frames.
	// Each message is also bounded by MaxMessageSize.
	MaxCurateSyncPageBytes = 32 << 20
	// maxCurateSyncCursor bounds the opaque cursor string.
	maxCurateSyncCursor = 256
)

// CurateSyncRequest asks a curator for one page of what it holds.
type CurateSyncRequest struct {
	Version int `json:"v"`
	// Cursor is the Cursor of the previous response from the same peer;
	// empty asks from the beginning. A cursor the responder does not
	// recognise (its store was reset) also starts from the beginning.
	Cursor string `json:"cursor,omitempty"`
	// Limit caps the messages in the page (0 or more than
	// MaxCurateSyncPage: MaxCurateSyncPage).
	Limit int `json:"limit,omitempty"`
}

// Validate checks a request's shape.
func (r *CurateSyncRequest) Validate() error {
	if err := checkVersion("curate sync request", r.Version, CurateSyncVersion); err != nil {
		return err
	}
	if len(r.Cursor) > maxCurateSyncCursor {
		return fmt.Errorf("curate sync request: cursor of %d bytes exceeds %d", len(r.Cursor), maxCurateSyncCursor)
	}
	if r.Limit < 0 {
		return errors.New("curate sync request: negative limit")
	}
	return nil
}

// CurateSyncResponse heads a page: how many message frames follow and where
// the next page starts.
type CurateSyncResponse struct {
	Version int `json:"v"`
	// Curator is the responder's curator peer ID (the key it signs with,
	// which need not be its libp2p host's).
	Curator string `json:"curator,omitempty"`
	// Count message frames follow this header.
	Count int `json:"count"`
	// Cursor is what to send next time to get only newer messages.
	Cursor string `json:"cursor,omitempty"`
	// More says another page is ready now.
	More bool `json:"more,omitempty"`
	// Error, when set, refuses the request (Count is then 0).
	Error string `json:"error,omitempty"`
}

// Validate checks a response header's shape.
func (r *CurateSyncResponse) Validate() error {
	if err := checkVersion("curate sync response", r.Version, CurateSyncVersion); err != nil {
		return err
	}
	if r.Count < 0 || r.Count > MaxCurateSyncPage {
		return fmt.Errorf("curate sync response: count %d outside 0..%d", r.Count, MaxCurateSyncPage)
	}
	if len(r.Cursor) > maxCurateSyncCursor {
		return fmt.Errorf("curate sync response: cursor of %d bytes exceeds %d", len(r.Cursor), maxCurateSyncCursor)
	}
	if r.Error != "" && (r.Count != 0 || r.More) {
		return errors.New("curate sync response: an error response carries no messages")
	}
	return nil
}
