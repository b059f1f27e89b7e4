package feed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/swardnet/sward/schemas"
)

// loadBatch is the number of rows read and indexed at a time.
const loadBatch = 1024

// LoadDataset indexes every document of a pulled dataset directory (its
// data/*.parquet shards, subdirectories included). It does not notify feed
// subscribers or webhooks: the documents are not newly accepted. It returns
// the number of documents indexed.
func (f *Feed) LoadDataset(ctx context.Context, dir string) (int, error) {
	var files []string
	root := filepath.Join(dir, "data")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".parquet") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("loading dataset %s: %w (want a pulled dataset directory with data/*.parquet)", dir, err)
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("loading dataset %s: no .parquet files under %s", dir, root)
	}
	sort.Strings(files)
	total := 0
	for _, path := range files {
		n, err := f.loadParquet(ctx, path)
		total += n
		if err != nil {
			return total, err
		}
		f.log.Info("dataset shard indexed", "path", path, "documents", n)
	}
	return total, nil
}

func (f *Feed) loadParquet(ctx context.Context, path string) (n int, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("opening shard: %w", err)
	}
	defer fh.Close()
	pr, err := file.NewParquetReader(fh)
	if err != nil {
		return 0, fmt.Errorf("reading parquet shard %s: %w", path, err)
	}
	defer pr.Close()
	mem := memory.NewGoAllocator()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: loadBatch}, mem)
	if err != nil {
		return 0, fmt.Errorf("reading parquet shard %s: %w", path, err)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return 0, fmt.Errorf("reading parquet shard %s: %w", path, err)
	}
	defer rr.Release()
	for rr.Next() {
		docs, err := schemas.DocumentsFromRecord(rr.RecordBatch())
		if err != nil {
			return n, fmt.Errorf("reading documents from %s: %w", path, err)
		}
		if _, err := f.add(ctx, docs, false); err != nil {
			return n, fmt.Errorf("indexing documents from %s: %w", path, err)
		}
		n += len(docs)
	}
	if err := rr.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return n, fmt.Errorf("reading parquet shard %s: %w", path, err)
	}
	return n, ctx.Err()
}
