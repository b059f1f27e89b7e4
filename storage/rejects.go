package storage

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Reject is a page the pipeline refused, kept so a dataset says what it left
// out and why.
type Reject struct {
	// ID identifies the reject for idempotent adds (for example the capture
	// CID); it must not be empty.
	ID  string `json:"id"`
	URL string `json:"url"`
	// Reason is a short stable code such as "tdm_reserved", "lang" or "dup".
	Reason string `json:"reason"`
	// Detail is free text for a human.
	Detail     string    `json:"detail,omitempty"`
	Host       string    `json:"host,omitempty"`
	JobID      string    `json:"job_id,omitempty"`
	RejectedAt time.Time `json:"rejected_at"`
	// Reasons are every reason code of the verdict, Reason first.
	Reasons []string `json:"reasons,omitempty"`
	// Scores is the JSON object of the measured values that decided the
	// verdict (rule name to value), "{}" when none were measured.
	Scores string `json:"scores,omitempty"`
	// CaptureCID names the stored capture the verdict is about, when it
	// was stored.
	CaptureCID string `json:"capture_cid,omitempty"`
}

// Verdict is what the pipeline said about a rejected page.
type Verdict struct {
	Reasons []string
	Detail  string
	Scores  map[string]float64
}

// NewReject builds the rejects-table row of a rejected page: the one
// builder of the coordinator and the offline pipeline. Reason is the first
// reason ("unknown" without one), Reasons all of them, Detail the
// verdict's detail (the reasons again only when it has none), Scores the
// deciding values as JSON. The caller sets Host, JobID and CaptureCID.
func NewReject(id, url string, v Verdict, at time.Time) Reject {
	r := Reject{ID: id, URL: url, Reason: "unknown", Detail: v.Detail, RejectedAt: at.UTC(), Scores: "{}"}
	if len(v.Reasons) > 0 {
		r.Reason = v.Reasons[0]
		r.Reasons = append([]string(nil), v.Reasons...)
	}
	if r.Detail == "" {
		r.Detail = strings.Join(v.Reasons, "; ")
	}
	if len(v.Scores) > 0 {
		// encoding/json sorts map keys, so the row is deterministic.
		if raw, err := json.Marshal(v.Scores); err == nil {
			r.Scores = string(raw)
		}
	}
	return r
}

// RejectSchema is the Arrow schema of a version's rejects table.
var RejectSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.BinaryTypes.String},
	{Name: "url", Type: arrow.BinaryTypes.String},
	{Name: "reason", Type: arrow.BinaryTypes.String},
	{Name: "detail", Type: arrow.BinaryTypes.String},
	{Name: "host", Type: arrow.BinaryTypes.String},
	{Name: "job_id", Type: arrow.BinaryTypes.String},
	{Name: "rejected_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "reasons", Type: arrow.BinaryTypes.String}, // JSON array: the writer keeps schemas flat
	{Name: "scores", Type: arrow.BinaryTypes.String},
	{Name: "capture_cid", Type: arrow.BinaryTypes.String},
}, nil)

func rejectsToRecord(mem memory.Allocator, rs []Reject) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, RejectSchema)
	defer b.Release()
	for _, r := range rs {
		b.Field(0).(*array.StringBuilder).Append(r.ID)
		b.Field(1).(*array.StringBuilder).Append(r.URL)
		b.Field(2).(*array.StringBuilder).Append(r.Reason)
		b.Field(3).(*array.StringBuilder).Append(r.Detail)
		b.Field(4).(*array.StringBuilder).Append(r.Host)
		b.Field(5).(*array.StringBuilder).Append(r.JobID)
		b.Field(6).(*array.TimestampBuilder).Append(arrow.Timestamp(r.RejectedAt.UnixMicro()))
		reasons, _ := json.Marshal(r.Reasons)
		if len(r.Reasons) == 0 {
			reasons = []byte("[]")
		}
		b.Field(7).(*array.StringBuilder).Append(string(reasons))
		scores := r.Scores
		if scores == "" {
			scores = "{}"
		}
		b.Field(8).(*array.StringBuilder).Append(scores)
		b.Field(9).(*array.StringBuilder).Append(r.CaptureCID)
	}
	return b.NewRecordBatch()
}

func rejectBytes(r *Reject) int64 {
	n := len(r.ID) + len(r.URL) + len(r.Reason) + len(r.Detail) + len(r.Host) + len(r.JobID) + 8 + len(r.Scores) + len(r.CaptureCID)
	for _, x := range r.Reasons {
		n += len(x) + 4
	}
	return int64(n)
}
