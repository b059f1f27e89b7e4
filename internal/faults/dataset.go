package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/ipfs/go-cid"

	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// DatasetDocuments reads every row of the main table of the dataset
// version root from store, shard by shard, as the manifest lists them.
func DatasetDocuments(ctx context.Context, store *storage.Store, root cid.Cid) ([]schemas.Document, error) {
	m, err := store.Manifest(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("reading the manifest of %s: %w", root, err)
	}
	var docs []schemas.Document
	for _, sh := range m.Shards {
		got, err := readShard(ctx, store, root, sh.Path)
		if err != nil {
			return nil, err
		}
		if int64(len(got)) != sh.Rows {
			return nil, fmt.Errorf("shard %s holds %d rows, its manifest entry says %d", sh.Path, len(got), sh.Rows)
		}
		docs = append(docs, got...)
	}
	return docs, nil
}

func readShard(ctx context.Context, store *storage.Store, root cid.Cid, path string) ([]schemas.Document, error) {
	r, err := store.OpenFile(ctx, root, path)
	if err != nil {
		return nil, fmt.Errorf("opening shard %s: %w", path, err)
	}
	data, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil {
		return nil, fmt.Errorf("reading shard %s: %w", path, err)
	}
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parsing shard %s: %w", path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1024}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("reading shard %s as arrow: %w", path, err)
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading shard %s: %w", path, err)
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 1024)
	defer tr.Release()
	var docs []schemas.Document
	for tr.Next() {
		got, err := schemas.DocumentsFromRecord(tr.RecordBatch())
		if err != nil {
			return nil, fmt.Errorf("decoding shard %s: %w", path, err)
		}
		docs = append(docs, got...)
	}
	if err := tr.Err(); err != nil {
		return nil, fmt.Errorf("reading shard %s: %w", path, err)
	}
	return docs, nil
}
