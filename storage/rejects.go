package storage

import (
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
	}
	return b.NewRecordBatch()
}

func rejectBytes(r *Reject) int64 {
	return int64(len(r.ID) + len(r.URL) + len(r.Reason) + len(r.Detail) + len(r.Host) + len(r.JobID) + 8)
}
