package feed

import (
	"time"

	"github.com/swardnet/sward/schemas"
)

// ChangeStatus says how a document compares with the previous capture of the
// same URL.
type ChangeStatus string

// The change statuses of a recrawled URL.
const (
	// ChangeNew is the first capture of a URL the feed has seen.
	ChangeNew ChangeStatus = "new"
	// ChangeSame is a recapture whose content hash did not change.
	ChangeSame ChangeStatus = "same"
	// ChangeChanged is a recapture whose content changed.
	ChangeChanged ChangeStatus = "changed"
	// ChangeRemoved means a recrawl found the page gone.
	ChangeRemoved ChangeStatus = "removed"
)

func (s ChangeStatus) valid() bool {
	switch s {
	case ChangeNew, ChangeSame, ChangeChanged, ChangeRemoved:
		return true
	}
	return false
}

// Change is the change-tracking state of a document.
type Change struct {
	Status ChangeStatus `json:"status"`
	// PreviousID is the document ID of the previous capture, if any.
	PreviousID string `json:"previous_id,omitempty"`
	// PreviousFetchedAt is when the previous capture was fetched.
	PreviousFetchedAt *time.Time `json:"previous_fetched_at,omitempty"`
	// PreviousSHA256 is the content hash of the previous capture.
	PreviousSHA256 string `json:"previous_sha256,omitempty"`
	// Diff is a line diff of the text from the previous capture ("-" lines
	// removed, "+" lines added, "@@" hunk headers); empty unless changed.
	Diff string `json:"diff,omitempty"`
}

// Record is a document as the feed serves it: the accepted document, with
// its provenance fields, and its change-tracking state.
type Record struct {
	schemas.Document
	Change Change `json:"change"`
}

// Hit is one search result: enough to cite the source and verify it.
type Hit struct {
	ID            string       `json:"id"`
	Title         string       `json:"title"`
	Snippet       string       `json:"snippet"`
	URL           string       `json:"url"`
	Host          string       `json:"host"`
	Language      string       `json:"language"`
	FetchedAt     time.Time    `json:"fetched_at"`
	ContentSHA256 string       `json:"content_sha256"`
	CaptureCID    string       `json:"capture_cid"`
	NodePeerID    string       `json:"node_peer_id"`
	Change        ChangeStatus `json:"change"`
	Score         float64      `json:"score"`
}

// SearchRequest is a search over the index.
type SearchRequest struct {
	// Query is free text; documents matching any term are ranked by BM25.
	Query string `json:"q" jsonschema:"free-text query"`
	// K is the number of results (default 10).
	K int `json:"k,omitempty" jsonschema:"number of results, default 10"`
	// Lang keeps only documents in this language (ISO 639-1 code).
	Lang string `json:"lang,omitempty" jsonschema:"language code, e.g. en"`
	// Domain keeps only documents from this host or its subdomains.
	Domain string `json:"domain,omitempty" jsonschema:"host name; subdomains match too"`
	// Since keeps only documents fetched at or after this time.
	Since time.Time `json:"since,omitzero" jsonschema:"RFC 3339 time; only documents fetched since then"`
}

// SearchResponse is the answer to a search.
type SearchResponse struct {
	Query string `json:"q"`
	Total uint64 `json:"total"`
	Hits  []Hit  `json:"hits"`
	// TookMS is the time the index took, in milliseconds.
	TookMS float64 `json:"took_ms"`
}

func title(d *schemas.Document) string {
	if d.Title != nil {
		return *d.Title
	}
	return ""
}
