package storage

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	"github.com/swardnet/sward/schemas"
)

// readShardDocs reads the documents of the Parquet shard at path in the
// version root and calls fn with each batch of rows. Version 1 shards fill Document.Markdown from their markdown
// column.
func (s *Store) readShardDocs(ctx context.Context, root cid.Cid, path string, fn func([]schemas.Document) error) error {
	return s.readShard(ctx, root, path, func(rec arrow.RecordBatch) error {
		docs, err := schemas.DocumentsFromRecord(rec)
		if err != nil {
			return err
		}
		return fn(docs)
	})
}

// readShard calls fn with each record batch of a Parquet shard in the
// store.
func (s *Store) readShard(ctx context.Context, root cid.Cid, path string, fn func(arrow.RecordBatch) error) error {
	return s.readShardColumns(ctx, root, path, nil, fn)
}

// readShardColumns is readShard reading only the named columns (all when
// names is nil), in that order.
func (s *Store) readShardColumns(ctx context.Context, root cid.Cid, path string, names []string, fn func(arrow.RecordBatch) error) error {
	r, err := s.OpenFile(ctx, root, path)
	if err != nil {
		return err
	}
	defer r.Close()
	pf, err := file.NewParquetReader(&dagReaderAt{r: r})
	if err != nil {
		return fmt.Errorf("reading parquet shard %s: %w", path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1024}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("reading parquet shard %s: %w", path, err)
	}
	var cols []int
	for _, name := range names {
		i := pf.MetaData().Schema.ColumnIndexByName(name)
		if i < 0 {
			return fmt.Errorf("reading parquet shard %s: no column %q", path, name)
		}
		cols = append(cols, i)
	}
	rr, err := fr.GetRecordReader(ctx, cols, nil)
	if err != nil {
		return fmt.Errorf("reading parquet shard %s: %w", path, err)
	}
	defer rr.Release()
	for rr.Next() {
		if err := fn(rr.RecordBatch()); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && err != io.EOF {
		return fmt.Errorf("reading parquet shard %s: %w", path, err)
	}
	return ctx.Err()
}

// dagReaderAt gives a UnixFS file reader the ReadAt a Parquet reader
// needs; reads are serialised on the one underlying cursor.
type dagReaderAt struct {
	mu sync.Mutex
	r  uio.DagReader
}

func (d *dagReaderAt) ReadAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.r.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(d.r, p)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}

func (d *dagReaderAt) Seek(off int64, whence int) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.r.Seek(off, whence)
}

func (d *dagReaderAt) Read(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.r.Read(p)
}
