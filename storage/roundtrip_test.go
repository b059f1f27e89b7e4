package storage

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/swardnet/sward/schemas"
)

// TestSchemaRoundTripWithNulls sends every Document field through
// Go -> Arrow -> Parquet -> Arrow -> Go, with optional fields both set and nil.
func TestSchemaRoundTripWithNulls(t *testing.T) {
	ctx := context.Background()
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

	var file bytes.Buffer
	sink := func(_ context.Context, r io.Reader) (cid.Cid, error) {
		_, err := io.Copy(&file, r)
		return rawCIDOf(nil), err
	}
	tw := newTableWriter(ctx, schemas.DocumentSchema, sink, 0, 0)
	rec := schemas.DocumentsToRecord(defaultMem, want)
	defer rec.Release()
	if err := tw.write(rec, 1000); err != nil {
		t.Fatal(err)
	}
	shards, err := tw.close(false)
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) != 1 || shards[0].Rows != 3 || shards[0].Bytes != int64(file.Len()) {
		t.Fatalf("shards = %+v (file %d bytes)", shards, file.Len())
	}
	got := readParquetDocs(t, file.Bytes())
	if !reflect.DeepEqual(got, want) {
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("doc %d:\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
	}
}
