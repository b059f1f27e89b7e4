package storage

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/ipfs/go-cid"
	"github.com/swardnet/sward/schemas"
)

// TestSchemaRoundTripWithNulls sends every Document field through
// Go -> Arrow -> Parquet -> Arrow -> Go, with optional fields both set and nil.
func TestSchemaRoundTripWithNulls(t *testing.T) {
	pub := time.Date(2025, 12, 31, 23, 59, 59, 123456000, time.UTC)
	full := schemas.Document{
		Text: "héllo\n\nwörld 世界", ID: "id-1", URL: "http://127.0.0.1/a", Date: "2026-01-02T03:04:05Z",
		Language: "en", LanguageScore: 0.987654321, TokenCount: 1 << 40,
		Title: strp("T"), Author: strp(""), PublishedAt: &pub, SiteName: strp("S"),
		Description: strp("D"), CanonicalURL: strp("http://127.0.0.1/c"), Host: "127.0.0.1",
		FetchedAt: time.Date(2026, 1, 2, 3, 4, 5, 678000, time.UTC), CaptureCID: "bafk", NodePeerID: "12D3",
		ContentSHA256: "ab", Markdown: strp("# h"), JobID: "j", PIIRedactions: -3, DupClusterSize: 7,
	}
	empty := schemas.Document{ID: "id-2", FetchedAt: time.UnixMicro(0).UTC()}
	partial := full
	partial.ID, partial.Title, partial.PublishedAt, partial.Markdown = "id-3", nil, nil, nil
	want := []schemas.Document{full, empty, partial}

	noMarkdown := make([]schemas.Document, len(want))
	for i, d := range want {
		d.Markdown = nil
		noMarkdown[i] = d
	}
	tests := []struct {
		name   string
		schema *arrow.Schema
		build  func(memory.Allocator, []schemas.Document) arrow.RecordBatch
		want   []schemas.Document
	}{
		// The document table leaves Markdown to the markdown table.
		{"document table", schemas.DocumentSchema, schemas.DocumentsToRecord, noMarkdown},
		// The feed's export carries it as a last column.
		{"export with markdown", schemas.DocumentMarkdownSchema, schemas.DocumentsWithMarkdownToRecord, want},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := writeTable(t, tc.schema, tc.build(defaultMem, want), 3)
			got := readParquetDocs(t, file)
			if !reflect.DeepEqual(got, tc.want) {
				for i := range tc.want {
					if !reflect.DeepEqual(got[i], tc.want[i]) {
						t.Errorf("doc %d:\n got %+v\nwant %+v", i, got[i], tc.want[i])
					}
				}
			}
		})
	}
	t.Run("markdown table", func(t *testing.T) {
		file := writeTable(t, schemas.MarkdownSchema, schemas.MarkdownToRecord(defaultMem, want), 1)
		got := readParquetMarkdown(t, file)
		// id-2 and id-3 have no Markdown and so no row.
		wantMD := []schemas.Markdown{{ID: "id-1", Markdown: "# h"}}
		if !reflect.DeepEqual(got, wantMD) {
			t.Errorf("markdown rows = %+v, want %+v", got, wantMD)
		}
	})
}

// writeTable writes rec (released here) as one Parquet file of schema and
// checks it holds rows rows.
func writeTable(t *testing.T, schema *arrow.Schema, rec arrow.RecordBatch, rows int64) []byte {
	t.Helper()
	defer rec.Release()
	var file bytes.Buffer
	sink := func(_ context.Context, r io.Reader) (cid.Cid, error) {
		_, err := io.Copy(&file, r)
		return rawCIDOf(nil), err
	}
	tw := newTableWriter(context.Background(), schema, sink, 0, 0)
	if err := tw.write(rec, 1000); err != nil {
		t.Fatal(err)
	}
	shards, err := tw.close(false)
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) != 1 || shards[0].Rows != rows || shards[0].Bytes != int64(file.Len()) {
		t.Fatalf("shards = %+v (file %d bytes), want one of %d rows", shards, file.Len(), rows)
	}
	return file.Bytes()
}
