package storage

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/swardnet/sward/schemas"
)

// TestParquetWriterMatchesPqarrow checks that the parallel column writer
// produces byte for byte the file pqarrow.FileWriter writes from the same
// batches with the same properties: one or several batches per row group,
// several row groups, nulls, empty strings and an empty file.
func TestParquetWriterMatchesPqarrow(t *testing.T) {
	pub := time.Date(2025, 12, 31, 23, 59, 59, 123456000, time.UTC)
	docs := make([]schemas.Document, 300)
	for i := range docs {
		d := schemas.Document{
			Text: fmt.Sprintf("text %d %s", i, bytes.Repeat([]byte("lorem ipsum "), i%50)), ID: fmt.Sprintf("id-%03d", i),
			URL: fmt.Sprintf("http://127.0.0.1/%d", i), Date: "2026-01-02T03:04:05Z", Language: []string{"en", "de"}[i%2],
			LanguageScore: float64(i) / 300, TokenCount: int64(i * 7), Host: fmt.Sprintf("h%d", i%7),
			FetchedAt: time.UnixMicro(int64(i) * 1e6).UTC(), CaptureCID: "bafk", NodePeerID: "12D3",
			ContentSHA256: "ab", JobID: "j", PIIRedactions: int32(i % 3), DupClusterSize: 1,
		}
		if i%3 != 0 {
			d.Markdown = strp("# " + d.Text)
			d.Title = strp("")
			d.PublishedAt = &pub
		}
		docs[i] = d
	}
	batches := func(sizes ...int) []arrow.RecordBatch {
		var out []arrow.RecordBatch
		start := 0
		for _, n := range sizes {
			out = append(out, schemas.DocumentsToRecord(defaultMem, docs[start:start+n]))
			start += n
		}
		return out
	}
	tests := []struct {
		name   string
		groups [][]arrow.RecordBatch // row groups of batches
	}{
		{"one batch", [][]arrow.RecordBatch{batches(300)}},
		{"batches in one row group", [][]arrow.RecordBatch{batches(1, 99, 200)}},
		{"row groups", [][]arrow.RecordBatch{batches(100, 50), batches(150)}},
		{"no rows", nil},
	}
	t.Cleanup(func() {
		for _, tc := range tests {
			for _, g := range tc.groups {
				for _, rec := range g {
					rec.Release()
				}
			}
		}
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			props := writerProperties()
			var want bytes.Buffer
			fw, err := pqarrow.NewFileWriter(schemas.DocumentSchema, &want, props,
				pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(defaultMem)))
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			pw, err := newParquetWriter(schemas.DocumentSchema, &got, props, defaultMem)
			if err != nil {
				t.Fatal(err)
			}
			for g, group := range tc.groups {
				if g > 0 {
					if err := fw.NewBufferedRowGroupChecked(); err != nil {
						t.Fatal(err)
					}
					if err := pw.newRowGroup(); err != nil {
						t.Fatal(err)
					}
				}
				for _, rec := range group {
					if err := fw.WriteBuffered(rec); err != nil {
						t.Fatal(err)
					}
					if err := pw.write(rec); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := fw.Close(); err != nil {
				t.Fatal(err)
			}
			if err := pw.close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("parallel writer output (%d bytes) differs from pqarrow's (%d bytes)", got.Len(), want.Len())
			}
			if len(tc.groups) > 0 {
				var all []schemas.Document
				n := 0
				for _, g := range tc.groups {
					for _, rec := range g {
						n += int(rec.NumRows())
					}
				}
				all = docs[:n]
				if back := readParquetDocs(t, got.Bytes()); len(back) != len(all) || back[5].Text != all[5].Text || back[7].Markdown != nil {
					t.Fatalf("read back %d docs, want %d", len(back), len(all))
				}
			}
		})
	}
}

// TestParquetWriterRefusesNested checks the flat-schema guard.
func TestParquetWriterRefusesNested(t *testing.T) {
	sc := arrow.NewSchema([]arrow.Field{{Name: "l", Type: arrow.ListOf(arrow.BinaryTypes.String)}}, nil)
	if _, err := newParquetWriter(sc, &bytes.Buffer{}, writerProperties(), defaultMem); err == nil {
		t.Fatal("nested schema accepted")
	}
}
