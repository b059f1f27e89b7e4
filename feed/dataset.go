package feed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// loadBatch is the number of rows read and indexed at a time.
const loadBatch = 1024

// LoadDataset indexes every document of a pulled dataset directory (its
// data/*.parquet shards, subdirectories included), with each document's
// Markdown from the markdown table (markdown/*.parquet) or, in datasets
// written before that table existed, from the rows. It does not notify
// feed subscribers or webhooks: the documents are not newly accepted. It
// returns the number of documents indexed.
func (f *Feed) LoadDataset(ctx context.Context, dir string) (int, error) {
	root := filepath.Join(dir, "data")
	files, err := parquetFiles(root)
	if err != nil {
		return 0, fmt.Errorf("loading dataset %s: %w (want a pulled dataset directory with data/*.parquet)", dir, err)
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("loading dataset %s: no .parquet files under %s", dir, root)
	}
	mdFiles, err := parquetFiles(filepath.Join(dir, "markdown"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("loading dataset %s: %w", dir, err)
	}
	md := &markdownCursor{ctx: ctx, files: mdFiles}
	defer md.close()
	total := 0
	for _, path := range files {
		n, err := f.loadParquet(ctx, path, md)
		total += n
		if err != nil {
			return total, err
		}
		f.log.Info("dataset shard indexed", logkey.Path, path, "documents", n)
	}
	if left, err := md.remaining(); err != nil || left > 0 {
		if err != nil {
			return total, fmt.Errorf("loading dataset %s: %w", dir, err)
		}
		return total, fmt.Errorf("loading dataset %s: %d markdown rows name no document in data/ order; the markdown table does not match the documents (re-pull the version, or check it with `sward dataset verify`)", dir, left)
	}
	return total, nil
}

// parquetFiles lists the .parquet files below root, sorted.
func parquetFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".parquet") {
			files = append(files, path)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// parquetRecords opens a Parquet file and returns a reader of its record
// batches; close releases both.
func parquetRecords(ctx context.Context, path string) (pqarrow.RecordReader, func(), error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening shard: %w", err)
	}
	pr, err := file.NewParquetReader(fh)
	if err != nil {
		fh.Close()
		return nil, nil, fmt.Errorf("reading parquet shard %s: %w", path, err)
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: loadBatch}, memory.NewGoAllocator())
	if err == nil {
		var rr pqarrow.RecordReader
		if rr, err = fr.GetRecordReader(ctx, nil, nil); err == nil {
			return rr, func() { rr.Release(); pr.Close() }, nil
		}
	}
	pr.Close()
	return nil, nil, fmt.Errorf("reading parquet shard %s: %w", path, err)
}

func (f *Feed) loadParquet(ctx context.Context, path string, md *markdownCursor) (n int, err error) {
	rr, closeFn, err := parquetRecords(ctx, path)
	if err != nil {
		return 0, err
	}
	defer closeFn()
	for rr.Next() {
		docs, err := schemas.DocumentsFromRecord(rr.RecordBatch())
		if err != nil {
			return n, fmt.Errorf("reading documents from %s: %w", path, err)
		}
		for i := range docs {
			if docs[i].Markdown != nil {
				continue // a version 1 row carries its own
			}
			if docs[i].Markdown, err = md.take(docs[i].ID); err != nil {
				return n, err
			}
		}
		if _, err := f.add(ctx, docs, false); err != nil {
			return n, fmt.Errorf("indexing documents from %s: %w", path, err)
		}
		n += len(docs)
	}
	if err := rr.Err(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("reading parquet shard %s: %w", path, err)
	}
	return n, ctx.Err()
}

// markdownCursor walks the markdown table alongside the documents. The
// table holds one row per document with Markdown, in the document table's
// row order, so a document's Markdown, if any, is the cursor's next row:
// one pass over each table, no index or map of the whole table.
type markdownCursor struct {
	ctx   context.Context
	files []string

	rr      pqarrow.RecordReader
	closeRR func()
	path    string
	rows    []schemas.Markdown
}

// peek returns the next markdown row, or nil at the end of the table.
func (c *markdownCursor) peek() (*schemas.Markdown, error) {
	for len(c.rows) == 0 {
		if c.rr != nil && c.rr.Next() {
			rows, err := schemas.MarkdownFromRecord(c.rr.RecordBatch())
			if err != nil {
				return nil, fmt.Errorf("reading markdown from %s: %w", c.path, err)
			}
			c.rows = rows
			continue
		}
		if c.rr != nil {
			if err := c.rr.Err(); err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("reading parquet shard %s: %w", c.path, err)
			}
			c.close()
		}
		if len(c.files) == 0 {
			return nil, nil
		}
		c.path, c.files = c.files[0], c.files[1:]
		rr, closeFn, err := parquetRecords(c.ctx, c.path)
		if err != nil {
			return nil, err
		}
		c.rr, c.closeRR = rr, closeFn
	}
	return &c.rows[0], nil
}

// take returns id's Markdown when it is the next row, else nil.
func (c *markdownCursor) take(id string) (*string, error) {
	r, err := c.peek()
	if err != nil || r == nil || r.ID != id {
		return nil, err
	}
	md := r.Markdown
	c.rows = c.rows[1:]
	return &md, nil
}

// remaining counts the rows no document took.
func (c *markdownCursor) remaining() (int, error) {
	n := 0
	for {
		r, err := c.peek()
		if err != nil || r == nil {
			return n, err
		}
		n++
		c.rows = c.rows[1:]
	}
}

func (c *markdownCursor) close() {
	if c.closeRR != nil {
		c.closeRR()
		c.rr, c.closeRR = nil, nil
	}
}
