package offline

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/swardnet/sward/schemas"
)

// parquetSource reads captures from a Parquet file whose columns carry the
// capture's JSON names (url, status, content_type, body, fetched_at, ...).
type parquetSource struct {
	path  string
	f     *os.File
	pf    *file.Reader
	rr    pqarrow.RecordReader
	rec   arrow.RecordBatch
	row   int
	done  atomic.Int64
	total int64
}

func openParquet(path string) (*parquetSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening captures: %w", err)
	}
	pf, err := file.NewParquetReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading Parquet %s: %w", path, err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 256}, memory.DefaultAllocator)
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("reading Parquet %s: %w", path, err)
	}
	rr, err := fr.GetRecordReader(context.Background(), nil, nil)
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("reading Parquet %s: %w", path, err)
	}
	for _, name := range []string{"url", "body"} {
		if len(rr.Schema().FieldIndices(name)) == 0 {
			rr.Release()
			pf.Close()
			return nil, fmt.Errorf("parquet file %s has no %q column; captures need url and body (and status, content_type, fetched_at)", path, name)
		}
	}
	return &parquetSource{path: path, f: f, pf: pf, rr: rr, total: pf.NumRows()}, nil
}

func (s *parquetSource) Next() (*schemas.Capture, error) {
	for s.rec == nil || s.row >= int(s.rec.NumRows()) {
		if !s.rr.Next() {
			if err := s.rr.Err(); err != nil && err != io.EOF {
				return nil, &InputError{Path: s.path, Record: s.done.Load() + 1, Offset: -1, Err: err}
			}
			return nil, io.EOF
		}
		s.rec = s.rr.RecordBatch()
		s.row = 0
	}
	c := captureFromRow(s.rec, s.row)
	s.row++
	s.done.Add(1)
	return c, nil
}

func captureFromRow(rec arrow.RecordBatch, i int) *schemas.Capture {
	col := func(name string) arrow.Array {
		if idx := rec.Schema().FieldIndices(name); len(idx) > 0 {
			return rec.Column(idx[0])
		}
		return nil
	}
	str := func(name string) string {
		a := col(name)
		if a == nil || a.IsNull(i) {
			return ""
		}
		switch v := a.(type) {
		case *array.String:
			return v.Value(i)
		case *array.LargeString:
			return v.Value(i)
		case *array.Binary:
			return string(v.Value(i))
		case *array.LargeBinary:
			return string(v.Value(i))
		}
		return ""
	}
	num := func(name string) int64 {
		a := col(name)
		if a == nil || a.IsNull(i) {
			return 0
		}
		switch v := a.(type) {
		case *array.Int64:
			return v.Value(i)
		case *array.Int32:
			return int64(v.Value(i))
		case *array.Int16:
			return int64(v.Value(i))
		}
		return 0
	}
	c := &schemas.Capture{
		Version: schemas.CaptureVersion, URL: str("url"), FinalURL: str("final_url"), JobID: str("job"),
		Status: int(num("status")), ContentType: str("content_type"), BodyCID: str("body_cid"),
		NodePeerID: str("node"), Error: str("error"),
	}
	if c.NodePeerID == "" {
		c.NodePeerID = "offline"
	}
	c.Body = []byte(str("body"))
	c.BodySize = int64(len(c.Body))
	if a, ok := col("fetched_at").(*array.Timestamp); ok && !a.IsNull(i) {
		unit := a.DataType().(*arrow.TimestampType).Unit
		c.FetchedAt = a.Value(i).ToTime(unit).UTC()
	}
	return c
}

func (s *parquetSource) Progress() (int64, int64, string) { return s.done.Load(), s.total, "records" }
func (s *parquetSource) Close() error {
	s.rr.Release()
	return s.pf.Close()
}
