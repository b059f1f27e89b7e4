package offline

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/nlnwa/gowarc/v3"

	"github.com/swardnet/sward/internal/evalset"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

// realPages returns n labelled news pages from the shared extraction set,
// skipping the test when the set is absent (unless SWARD_REQUIRE_E2E=1).
func realPages(t *testing.T, n int) []pipeline.EvalCase {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "testdata", "extraction")
	if _, err := os.Stat(filepath.Join(dir, "ground-truth.json")); err != nil {
		if os.Getenv("SWARD_REQUIRE_E2E") == "1" {
			t.Fatalf("extraction test set missing: %v", err)
		}
		t.Skipf("extraction test set not present at %s", dir)
	}
	pages, err := evalset.LoadArticle(dir)
	if err != nil {
		t.Fatal(err)
	}
	cases := make([]pipeline.EvalCase, n)
	for i, p := range pages[:n] {
		cases[i] = pipeline.EvalCase(p)
	}
	return cases
}

// acceptedByFreshPipeline says which pages a fresh pipeline accepts.
func acceptedByFreshPipeline(t *testing.T, cases []pipeline.EvalCase) map[string]bool {
	p, err := pipeline.New(pipeline.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, c := range cases {
		r := p.Process(&schemas.Capture{URL: c.URL, Status: 200, ContentType: "text/html", Body: c.HTML, FetchedAt: time.Now()}, nil)
		if r.Decision == pipeline.Accept {
			out[c.URL] = true
		}
	}
	return out
}

// writeTestWARC writes gzip-per-record WARC response records.
func writeTestWARC(t *testing.T, path string, pages []struct {
	url, status, ctype, body string
}) {
	t.Helper()
	var out bytes.Buffer
	m := gowarc.NewMarshaler()
	for i, p := range pages {
		rb := gowarc.NewRecordBuilder(gowarc.Response, gowarc.WithAddMissingDigest(true), gowarc.WithFixContentLength(true),
			gowarc.WithAddMissingContentLength(true), gowarc.WithAddMissingRecordId(true))
		fmt.Fprintf(rb, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", p.status, p.ctype, len(p.body), p.body)
		rb.AddWarcHeader(gowarc.WarcTargetURI, p.url)
		rb.AddWarcHeader(gowarc.WarcDate, fmt.Sprintf("2026-01-02T03:04:%02dZ", i))
		rb.AddWarcHeader(gowarc.ContentType, "application/http;msgtype=response")
		rec, _, err := rb.Build()
		if err != nil {
			t.Fatal(err)
		}
		zw := gzip.NewWriter(&out)
		if _, _, err := m.Marshal(zw, rec, 0); err != nil {
			t.Fatal(err)
		}
		zw.Close()
		rec.Close()
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readDocsParquet(t *testing.T, dir string) []schemas.Document {
	t.Helper()
	var docs []schemas.Document
	paths, _ := filepath.Glob(filepath.Join(dir, "data", "*.parquet"))
	if len(paths) == 0 {
		t.Fatalf("no Parquet shards under %s/data", dir)
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		pf, err := file.NewParquetReader(f)
		if err != nil {
			t.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1024}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		rr, err := fr.GetRecordReader(context.Background(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for rr.Next() {
			ds, err := schemas.DocumentsFromRecord(rr.RecordBatch())
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, ds...)
		}
		rr.Release()
		pf.Close()
	}
	return docs
}

func TestPipelineRunWARCResumes(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "crawl.warc.gz")
	type page = struct{ url, status, ctype, body string }
	real := realPages(t, 6)
	want := acceptedByFreshPipeline(t, real)
	if len(want) < 2 {
		t.Fatalf("only %d of the first pages are accepted; pick others", len(want))
	}
	var pages []page
	var copied string
	for i, c := range real {
		pages = append(pages, page{c.URL, "200 OK", "text/html; charset=utf-8", string(c.HTML)})
		if i == 1 {
			pages = append(pages, page{"https://a.example/missing", "404 Not Found", "text/html", "<p>not found</p>"},
				page{"https://a.example/logo.png", "200 OK", "image/png", "\x89PNG\r\n\x1a\n"})
		}
		if copied == "" && want[c.URL] {
			copied = string(c.HTML)
		}
	}
	// A copy of the first accepted page, after the resume point.
	pages = append(pages, page{"https://mirror.example/copy", "200 OK", "text/html; charset=utf-8", copied})
	writeTestWARC(t, in, pages)
	out := filepath.Join(dir, "out")
	o := Config{In: in, Out: out, Workers: 2, StopAfter: 3}
	if _, err := Run(context.Background(), o); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("first run: %v", err)
	}
	o.StopAfter = 0
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("resumed run: %v", err)
	}
	docs := readDocsParquet(t, out)
	urls := map[string]bool{}
	for _, d := range docs {
		if urls[d.URL] {
			t.Errorf("%s written twice", d.URL)
		}
		urls[d.URL] = true
	}
	for u := range want {
		if !urls[u] {
			t.Errorf("accepted page %s missing from the dataset (have %v)", u, urls)
		}
	}
	if len(urls) != len(want) {
		t.Errorf("dataset has %d documents, want %d", len(urls), len(want))
	}
	if urls["https://mirror.example/copy"] {
		t.Error("duplicate across the resume point was not caught")
	}
	raw, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := schemas.ParseManifest(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != int64(len(docs)) || m.Rejected < 3 {
		t.Errorf("manifest rows %d rejected %d, want %d and at least 3", m.Rows, m.Rejected, len(docs))
	}
	var st State
	raw, _ = os.ReadFile(filepath.Join(out, ".pipeline", "progress.json"))
	if err := json.Unmarshal(raw, &st); err != nil || !st.Finished || st.Done != int64(len(pages)) {
		t.Errorf("progress state %+v (%v)", st, err)
	}
	// A finished run is not redone.
	cid, _ := os.ReadFile(filepath.Join(out, "CID"))
	if sum, err := Run(context.Background(), o); err != nil || !sum.AlreadyComplete || sum.Captures != int64(len(pages)) || sum.Version != strings.TrimSpace(string(cid)) {
		t.Errorf("rerun of a finished run: %v %+v", err, sum)
	}
}

func TestPipelineRunJSONL(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "caps.jsonl")
	real := realPages(t, 3)
	want := acceptedByFreshPipeline(t, real)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, c := range real {
		capt := schemas.Capture{Version: 1, URL: c.URL, Status: 200, ContentType: "text/html", Body: c.HTML, NodePeerID: "peer"}
		if err := enc.Encode(capt); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(in, buf.Bytes(), 0o644)
	out := filepath.Join(dir, "out")
	var logs bytes.Buffer
	if _, err := Run(context.Background(), Config{In: in, Out: out, Workers: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil))}); err != nil {
		t.Fatal(err)
	}
	if docs := readDocsParquet(t, out); len(docs) != len(want) {
		t.Fatalf("got %d documents, want %d", len(docs), len(want))
	}
	// The run's store logs through the run's Logger too.
	if !strings.Contains(logs.String(), "dataset version published") {
		t.Errorf("the run's Logger got no line from its store:\n%s", logs.String())
	}
}

func TestDatasetNameFor(t *testing.T) {
	for in, want := range map[string]string{"/x/CC-MAIN-2024.warc.gz": "cc-main-2024", "caps.parquet": "caps", "???.jsonl": "offline"} {
		if got := DatasetNameFor(in); got != want {
			t.Errorf("DatasetNameFor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPipelineRunCaptureParquet(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "caps.parquet")
	real := realPages(t, 3)
	want := acceptedByFreshPipeline(t, real)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "url", Type: arrow.BinaryTypes.String},
		{Name: "status", Type: arrow.PrimitiveTypes.Int32},
		{Name: "content_type", Type: arrow.BinaryTypes.String},
		{Name: "body", Type: arrow.BinaryTypes.Binary},
		{Name: "fetched_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	for _, c := range real {
		b.Field(0).(*array.StringBuilder).Append(c.URL)
		b.Field(1).(*array.Int32Builder).Append(200)
		b.Field(2).(*array.StringBuilder).Append("text/html; charset=utf-8")
		b.Field(3).(*array.BinaryBuilder).Append(c.HTML)
		b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC).UnixMicro()))
	}
	rec := b.NewRecordBatch()
	b.Release()
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if _, err := Run(context.Background(), Config{In: in, Out: out, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	docs := readDocsParquet(t, out)
	if len(docs) != len(want) {
		t.Fatalf("got %d documents, want %d", len(docs), len(want))
	}
	for _, d := range docs {
		if !want[d.URL] || d.Date != "2026-01-02T00:00:00Z" {
			t.Errorf("unexpected document %s dated %s", d.URL, d.Date)
		}
	}
	// A Parquet file without the capture columns is refused with a hint.
	if _, err := openParquet(filepath.Join(out, "data", filepath.Base(mustGlob(t, filepath.Join(out, "data", "*.parquet"))))); err == nil || !strings.Contains(err.Error(), "body") {
		t.Errorf("documents Parquet accepted as captures: %v", err)
	}
}

func mustGlob(t *testing.T, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) == 0 {
		t.Fatalf("nothing matches %s", pattern)
	}
	return m[0]
}
