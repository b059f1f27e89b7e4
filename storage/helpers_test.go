package storage

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/swardnet/sward/schemas"
)

func arrowTableReader(tbl arrow.Table) *array.TableReader {
	return array.NewTableReader(tbl, 1<<20)
}

func appendFile(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
}

func rawCIDOf(data []byte) cid.Cid {
	c, err := cid.V1Builder{Codec: cid.Raw, MhType: mh.SHA2_256}.Sum(data)
	if err != nil {
		panic(err)
	}
	return c
}

func readParquetDocs(t *testing.T, data []byte) []schemas.Document {
	t.Helper()
	var out []schemas.Document
	readParquetRecords(t, data, func(rec arrow.RecordBatch) {
		docs, err := schemas.DocumentsFromRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, docs...)
	})
	return out
}

func readParquetMarkdown(t *testing.T, data []byte) []schemas.Markdown {
	t.Helper()
	var out []schemas.Markdown
	readParquetRecords(t, data, func(rec arrow.RecordBatch) {
		rows, err := schemas.MarkdownFromRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rows...)
	})
	return out
}

func readParquetRecords(t *testing.T, data []byte, fn func(arrow.RecordBatch)) {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1 << 20}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	tr := arrowTableReader(tbl)
	defer tr.Release()
	for tr.Next() {
		fn(tr.RecordBatch())
	}
}

// publishDocs adds docs to dataset name in s, publishes a version and
// closes the writer.
func publishDocs(t testing.TB, s *Store, name string, opts DatasetOptions, docs []schemas.Document) (cid.Cid, *schemas.Manifest) {
	t.Helper()
	ctx := context.Background()
	w, err := s.OpenDataset(ctx, name, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ctx, docs...); err != nil {
		t.Fatal(err)
	}
	root, m, err := w.Publish(ctx, VersionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return root, m
}
