package feed

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/swardnet/sward/schemas"
)

func TestExportArrowStream(t *testing.T) {
	f := newTestFeed(t, Config{})
	var docs []schemas.Document
	for i := 0; i < 1200; i++ {
		docs = append(docs, mkDoc(fmt.Sprintf("e%04d", i), fmt.Sprintf("https://x.example.com/%d", i), "T", fmt.Sprintf("text %d", i), t0.Add(time.Duration(i)*time.Minute)))
	}
	mustAdd(t, f, docs...)
	srv := newTestServer(t, f)
	tests := []struct {
		name  string
		query string
		first string
		n     int
	}{
		{"everything", "", "e0000", 1200},
		{"since", "?since=" + t0.Add(1000*time.Minute).Format(time.RFC3339), "e1000", 200},
		{"since unix", fmt.Sprintf("?since=%d", t0.Add(1199*time.Minute).Unix()), "e1199", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/v1/export" + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); ct != ArrowStreamType {
				t.Fatalf("content type %q", ct)
			}
			rd, err := ipc.NewReader(resp.Body, ipc.WithAllocator(memory.NewGoAllocator()))
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Release()
			if !rd.Schema().Equal(schemas.DocumentMarkdownSchema) {
				t.Fatalf("schema %v", rd.Schema())
			}
			var got []schemas.Document
			for rd.Next() {
				ds, err := schemas.DocumentsFromRecord(rd.RecordBatch())
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, ds...)
			}
			if err := rd.Err(); err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.n || got[0].ID != tc.first {
				t.Fatalf("%d docs from %s, want %d from %s", len(got), got[0].ID, tc.n, tc.first)
			}
			for i := 1; i < len(got); i++ {
				if got[i].FetchedAt.Before(got[i-1].FetchedAt) {
					t.Fatalf("not oldest first at %d", i)
				}
			}
			want := docs[len(docs)-tc.n]
			if g := got[0]; g.ContentSHA256 != want.ContentSHA256 || g.CaptureCID != want.CaptureCID || *g.Markdown != *want.Markdown || !g.FetchedAt.Equal(want.FetchedAt) {
				t.Errorf("round trip: %+v, want %+v", g, want)
			}
		})
	}
	if resp, _ := http.Get(srv.URL + "/v1/export?since=bad"); resp.StatusCode != 400 {
		t.Errorf("bad since: %d", resp.StatusCode)
	}
}

func writeShard(t *testing.T, path string, docs []schemas.Document) {
	t.Helper()
	writeParquet(t, path, schemas.DocumentSchema, schemas.DocumentsToRecord(memory.NewGoAllocator(), docs))
}

// writeParquet writes rec (released here) as a Parquet file of schema.
func writeParquet(t *testing.T, path string, schema *arrow.Schema, rec arrow.RecordBatch) {
	t.Helper()
	defer rec.Release()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, fh,
		parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd)),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// v1Schema is the document table of schema version 1: markdown a column.
var v1Schema = func() *arrow.Schema {
	md := arrow.NewMetadata([]string{"sward.schema_version"}, []string{"1"})
	return arrow.NewSchema(schemas.DocumentMarkdownSchema.Fields(), &md)
}()

// TestLoadDatasetMarkdown: a loaded document answers its Markdown through
// get_document and fetch, whether the dataset keeps it in the markdown
// table (current format) or in the rows (version 1); a markdown table that
// does not follow the documents is an error.
func TestLoadDatasetMarkdown(t *testing.T) {
	mem := memory.NewGoAllocator()
	var docs []schemas.Document
	for i := 0; i < 2500; i++ {
		d := mkDoc(fmt.Sprintf("m%04d", i), fmt.Sprintf("https://md.example.com/%d", i), fmt.Sprintf("Page %d", i), fmt.Sprintf("body of page %d", i), t0)
		if i%3 == 0 {
			d.Markdown = nil // pages without Markdown have no markdown row
		}
		docs = append(docs, d)
	}
	maxAge := int64(1 << 40)
	reversed := slices.Clone(docs)
	slices.Reverse(reversed)
	tests := []struct {
		name    string
		write   func(t *testing.T, dir string)
		wantErr string
	}{
		{"markdown table", func(t *testing.T, dir string) {
			writeShard(t, filepath.Join(dir, "data", "train-00000-of-00002.parquet"), docs[:1300])
			writeShard(t, filepath.Join(dir, "data", "train-00001-of-00002.parquet"), docs[1300:])
			// Shard boundaries of the two tables need not agree.
			writeParquet(t, filepath.Join(dir, "markdown", "train-00000-of-00002.parquet"), schemas.MarkdownSchema, schemas.MarkdownToRecord(mem, docs[:700]))
			writeParquet(t, filepath.Join(dir, "markdown", "train-00001-of-00002.parquet"), schemas.MarkdownSchema, schemas.MarkdownToRecord(mem, docs[700:]))
		}, ""},
		{"version 1 rows", func(t *testing.T, dir string) {
			rec := schemas.DocumentsWithMarkdownToRecord(mem, docs)
			defer rec.Release()
			old := array.NewRecordBatch(v1Schema, rec.Columns(), rec.NumRows())
			writeParquet(t, filepath.Join(dir, "data", "train-00000-of-00001.parquet"), v1Schema, old)
		}, ""},
		{"markdown out of order", func(t *testing.T, dir string) {
			writeShard(t, filepath.Join(dir, "data", "train-00000-of-00001.parquet"), docs)
			writeParquet(t, filepath.Join(dir, "markdown", "train-00000-of-00001.parquet"), schemas.MarkdownSchema, schemas.MarkdownToRecord(mem, reversed))
		}, "markdown rows name no document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.write(t, dir)
			f := newTestFeed(t, Config{})
			n, err := f.LoadDataset(context.Background(), dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadDataset = %d, %v; want error %q", n, err, tc.wantErr)
				}
				return
			}
			if err != nil || n != len(docs) {
				t.Fatalf("LoadDataset: %d, %v", n, err)
			}
			for _, i := range []int{0, 1, 699, 700, 1299, 1300, 2498, 2499} {
				want := docs[i]
				r, err := f.Get(context.Background(), want.ID)
				if err != nil || r == nil {
					t.Fatalf("Get(%s): %v, %v", want.ID, r, err)
				}
				if (r.Markdown == nil) != (want.Markdown == nil) || (r.Markdown != nil && *r.Markdown != *want.Markdown) {
					t.Errorf("%s: markdown %v, want %v", want.ID, r.Markdown, want.Markdown)
				}
				res, err := f.Fetch(context.Background(), FetchRequest{URL: want.URL, Format: FormatMarkdown, MaxAge: &maxAge})
				if err != nil {
					t.Fatalf("Fetch(%s): %v", want.URL, err)
				}
				wantContent := want.Text
				if want.Markdown != nil {
					wantContent = *want.Markdown
				}
				if res.Content != wantContent {
					t.Errorf("fetch %s as markdown = %q, want %q", want.URL, res.Content, wantContent)
				}
			}
		})
	}
}

func TestLoadDataset(t *testing.T) {
	dir := t.TempDir()
	var a, b []schemas.Document
	for i := 0; i < 1100; i++ {
		a = append(a, mkDoc(fmt.Sprintf("a%d", i), fmt.Sprintf("https://ds.example.com/a/%d", i), "Alpha", fmt.Sprintf("alpha shard document %d", i), t0))
	}
	b = append(b, mkDoc("b0", "https://ds.example.com/b", "Beta", "the beta shard holds a zeppelin", t0))
	writeShard(t, filepath.Join(dir, "data", "shard-00000.parquet"), a)
	writeShard(t, filepath.Join(dir, "data", "sub", "shard-00001.parquet"), b)
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}

	f := newTestFeed(t, Config{})
	srv := newTestServer(t, f)
	ch, stop := openFeed(t, srv.URL, "", "")
	defer stop()
	n, err := f.LoadDataset(context.Background(), dir)
	if err != nil || n != 1101 {
		t.Fatalf("LoadDataset: %d, %v", n, err)
	}
	if c, _ := f.Len(); c != 1101 {
		t.Errorf("index holds %d", c)
	}
	res, err := f.Search(context.Background(), SearchRequest{Query: "zeppelin"})
	if err != nil || len(res.Hits) != 1 || res.Hits[0].ID != "b0" || res.Hits[0].CaptureCID != "bafkreib0" {
		t.Fatalf("search: %+v %v", res, err)
	}
	// Loading is not news: subscribers get nothing.
	select {
	case ev := <-ch:
		if ev.Event == "document" {
			t.Errorf("dataset load pushed %s to the feed", ev.ID)
		}
	case <-time.After(100 * time.Millisecond):
	}

	for _, bad := range []string{t.TempDir(), filepath.Join(dir, "missing")} {
		if _, err := f.LoadDataset(context.Background(), bad); err == nil {
			t.Errorf("LoadDataset(%s) succeeded", bad)
		}
	}
	corrupt := t.TempDir()
	if err := os.MkdirAll(filepath.Join(corrupt, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corrupt, "data", "x.parquet"), []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.LoadDataset(context.Background(), corrupt); err == nil {
		t.Error("corrupt shard loaded")
	}
}
