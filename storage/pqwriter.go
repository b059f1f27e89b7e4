package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"runtime"
	"sort"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// columnWorkers is how many goroutines encode and compress the columns of
// one record batch. zstd on the long text columns dominates the cost of
// writing, and pqarrow.FileWriter encodes one column after the other.
var columnWorkers = min(runtime.GOMAXPROCS(0), 4)

// parquetWriter writes Arrow record batches of a flat schema (every field a
// primitive or string column, as all sward tables are) to one Parquet file.
// It produces the same file pqarrow.FileWriter would (same Parquet schema,
// ARROW:schema metadata, buffered row groups), but encodes and compresses
// the columns of a batch on parallel goroutines: in a buffered row group
// every column has its own page buffer, so columns are independent until
// the row group is flushed.
type parquetWriter struct {
	w        *file.Writer
	rgw      file.BufferedRowGroupWriter
	schema   *arrow.Schema
	nullable []bool
	ctxs     []context.Context // one pqarrow write context per worker
	mem      memory.Allocator
}

// newParquetWriter starts a Parquet file on w.
func newParquetWriter(schema *arrow.Schema, w io.Writer, props *parquet.WriterProperties, mem memory.Allocator) (*parquetWriter, error) {
	nullable := make([]bool, schema.NumFields())
	for i, f := range schema.Fields() {
		if _, nested := f.Type.(arrow.NestedType); nested {
			return nil, fmt.Errorf("parquet writer: column %q is nested; only flat schemas are supported", f.Name)
		}
		nullable[i] = f.Nullable
	}
	arrProps := pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(mem))
	pqschema, err := pqarrow.ToParquet(schema, props, arrProps)
	if err != nil {
		return nil, fmt.Errorf("parquet writer: converting schema: %w", err)
	}
	kv := make(metadata.KeyValueMetadata, 0, schema.Metadata().Len()+1)
	for i, k := range schema.Metadata().Keys() {
		if err := kv.Append(k, schema.Metadata().Values()[i]); err != nil {
			return nil, fmt.Errorf("parquet writer: schema metadata: %w", err)
		}
	}
	// The Arrow schema as an IPC stream holding only the schema message,
	// base64 encoded: what pqarrow stores, so readers restore time zones
	// and nullability.
	var ser bytes.Buffer
	iw := ipc.NewWriter(&ser, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	if err := iw.Close(); err != nil {
		return nil, fmt.Errorf("parquet writer: serialising arrow schema: %w", err)
	}
	if err := kv.Append("ARROW:schema", base64.StdEncoding.EncodeToString(ser.Bytes())); err != nil {
		return nil, fmt.Errorf("parquet writer: schema metadata: %w", err)
	}
	fw, err := file.NewParquetWriterWithError(w, pqschema.Root(), file.WithWriterProps(props), file.WithWriteMetadata(kv))
	if err != nil {
		return nil, fmt.Errorf("parquet writer: starting file: %w", err)
	}
	pw := &parquetWriter{w: fw, schema: schema, nullable: nullable, mem: mem}
	for range columnWorkers {
		pw.ctxs = append(pw.ctxs, pqarrow.NewArrowWriteContext(context.Background(), &arrProps))
	}
	return pw, nil
}

// newRowGroup closes the open row group, if any, and starts the next.
func (p *parquetWriter) newRowGroup() error {
	if p.rgw != nil {
		if err := p.rgw.Close(); err != nil {
			return fmt.Errorf("closing row group: %w", err)
		}
	}
	rgw, err := p.w.AppendBufferedRowGroupChecked()
	if err != nil {
		return fmt.Errorf("starting row group: %w", err)
	}
	p.rgw = rgw
	return nil
}

// rowGroupCompressedBytes is the compressed size of the open row group.
func (p *parquetWriter) rowGroupCompressedBytes() int64 {
	if p.rgw == nil {
		return 0
	}
	return p.rgw.TotalCompressedBytes()
}

// write appends rec to the open row group (starting one if needed).
func (p *parquetWriter) write(rec arrow.RecordBatch) error {
	if !rec.Schema().Equal(p.schema) {
		return fmt.Errorf("parquet writer: record schema %s does not match %s", rec.Schema(), p.schema)
	}
	if p.rgw == nil {
		if err := p.newRowGroup(); err != nil {
			return err
		}
	}
	cols := make([]int, rec.NumCols())
	cost := make([]int64, len(cols))
	for i := range cols {
		cols[i] = i
		cost[i] = arrayBytes(rec.Column(i))
	}
	// Largest columns first, so the long text columns start at once and
	// the small ones fill in around them.
	sort.SliceStable(cols, func(a, b int) bool { return cost[cols[a]] > cost[cols[b]] })

	var (
		mu   sync.Mutex
		next int
		errs = make([]error, len(cols))
		wg   sync.WaitGroup
	)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next == len(cols) {
			return 0, false
		}
		next++
		return cols[next-1], true
	}
	for _, ctx := range p.ctxs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, ok := take()
				if !ok {
					return
				}
				errs[i] = p.writeColumn(ctx, i, rec.Column(i))
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("writing column %s: %w", p.schema.Field(i).Name, err)
		}
	}
	return nil
}

// arrayBytes is the size of arr's buffers: of the whole buffers, also when
// arr is a slice of them.
func arrayBytes(arr arrow.Array) int64 {
	var n int64
	for _, b := range arr.Data().Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	return n
}

func (p *parquetWriter) writeColumn(ctx context.Context, i int, arr arrow.Array) error {
	cw, err := p.rgw.Column(i)
	if err != nil {
		return err
	}
	var def []int16
	if p.nullable[i] {
		def = make([]int16, arr.Len())
		for j := range def {
			if arr.IsValid(j) {
				def[j] = 1
			}
		}
	}
	return pqarrow.WriteArrowToColumn(ctx, cw, arr, def, nil, p.nullable[i])
}

// close flushes the open row group and writes the footer.
func (p *parquetWriter) close() error {
	if p.rgw != nil {
		if err := p.rgw.Close(); err != nil {
			return fmt.Errorf("closing row group: %w", err)
		}
		p.rgw = nil
	}
	if err := p.w.Close(); err != nil {
		return fmt.Errorf("closing parquet file: %w", err)
	}
	return nil
}
