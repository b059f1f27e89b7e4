package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/ipfs/go-cid"
	"github.com/swardnet/sward/schemas"
)

// shardSchema reads the Arrow schema stored in a shard of the version root.
func shardSchema(t *testing.T, s *Store, root cid.Cid, path string) *arrow.Schema {
	t.Helper()
	data := readStoreFile(t, s, root, path)
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := fr.Schema()
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func readStoreFile(t *testing.T, s *Store, root cid.Cid, path string) []byte {
	t.Helper()
	r, err := s.OpenFile(context.Background(), root, path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// readMarkdown reads every markdown row of a version, in table order.
func readMarkdown(t *testing.T, s *Store, root cid.Cid, m *schemas.Manifest) []schemas.Markdown {
	t.Helper()
	var out []schemas.Markdown
	for _, sh := range m.Tables[markdownDir] {
		out = append(out, readParquetMarkdown(t, readStoreFile(t, s, root, sh.Path))...)
	}
	return out
}

// checkMarkdownTable asserts the current format of version root: the
// document shards have no markdown column, and the markdown table holds
// exactly the Markdown of want's documents, in the document table's row
// order.
func checkMarkdownTable(t *testing.T, s *Store, root cid.Cid, want []schemas.Document) {
	t.Helper()
	m, err := s.Manifest(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != schemas.ManifestVersion {
		t.Errorf("manifest version %d, want %d", m.Version, schemas.ManifestVersion)
	}
	for _, sh := range m.Shards {
		sc := shardSchema(t, s, root, sh.Path)
		if len(sc.FieldIndices("markdown")) != 0 {
			t.Errorf("%s still has a markdown column", sh.Path)
		}
		if v, _ := sc.Metadata().GetValue("sward.schema_version"); v != "2" {
			t.Errorf("%s: schema version %q, want 2", sh.Path, v)
		}
	}
	if len(m.Tables[markdownDir]) == 0 {
		t.Fatalf("manifest lists no markdown table: %+v", m.Tables)
	}
	byID := map[string]string{}
	for _, d := range want {
		if d.Markdown != nil {
			byID[d.ID] = *d.Markdown
		}
	}
	rows := readMarkdown(t, s, root, m)
	if len(rows) != len(byID) {
		t.Fatalf("markdown table holds %d rows, want %d", len(rows), len(byID))
	}
	var order []string // document ids with markdown, in the data table's order
	for _, d := range readDocs(t, s, root, m.Shards) {
		if d.Markdown != nil {
			t.Fatalf("document %s read back with markdown from the document table", d.ID)
		}
		if _, ok := byID[d.ID]; ok {
			order = append(order, d.ID)
		}
	}
	for i, r := range rows {
		if r.Markdown != byID[r.ID] {
			t.Errorf("markdown of %s = %q, want %q", r.ID, r.Markdown, byID[r.ID])
		}
		if i < len(order) && order[i] != r.ID {
			t.Fatalf("markdown row %d is %s; the document table's %d-th document with markdown is %s", i, r.ID, i, order[i])
		}
	}
}

// TestMarkdownTable: documents are stored once in the document table, their
// Markdown in its own table keyed by id and in the same row order; a new
// version appends markdown shards as it appends document shards.
func TestMarkdownTable(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	opts := DatasetOptions{RowGroupBytes: 8 << 10, ShardBytes: 16 << 10, BatchBytes: 4 << 10}
	first := testDocs("a", 90)
	v1, m1 := publishDocs(t, s, "md", opts, first)
	checkMarkdownTable(t, s, v1, first)

	second := testDocs("b", 30)
	v2, m2 := publishDocs(t, s, "md", opts, second)
	checkMarkdownTable(t, s, v2, append(slices.Clone(first), second...))
	for i, sh := range m1.Tables[markdownDir] {
		if m2.Tables[markdownDir][i].CID != sh.CID {
			t.Errorf("markdown shard %d of the parent not shared: %s vs %s", i, sh.CID, m2.Tables[markdownDir][i].CID)
		}
	}
	for i, sh := range m1.Shards {
		if m2.Shards[i].CID != sh.CID {
			t.Errorf("document shard %d of the parent not shared", i)
		}
	}
}

// v1DocumentSchema is the document table of schema version 1: markdown a
// column between content_sha256 and job_id.
func v1DocumentSchema() *arrow.Schema {
	var fields []arrow.Field
	for _, f := range schemas.DocumentSchema.Fields() {
		if f.Name == "job_id" {
			fields = append(fields, arrow.Field{Name: "markdown", Type: arrow.BinaryTypes.String, Nullable: true})
		}
		fields = append(fields, f)
	}
	md := arrow.NewMetadata([]string{"sward.schema_version"}, []string{"1"})
	return arrow.NewSchema(fields, &md)
}

// publishV1 records a version of dataset name in the format sward wrote
// before the markdown table (manifest version 1, markdown a document
// column), as an older build left it in a store.
func publishV1(t *testing.T, s *Store, name string, docs []schemas.Document) cid.Cid {
	t.Helper()
	return publishV1Tables(t, s, name, docs, nil, false)
}

// publishV1Tables is publishV1 that also writes the tables an older build
// wrote beside the documents: the chunks of docs when chunks is set, and
// the rejects table when rejects are given.
func publishV1Tables(t *testing.T, s *Store, name string, docs []schemas.Document, rejects []Reject, chunks bool) cid.Cid {
	t.Helper()
	ctx := context.Background()
	schema := v1DocumentSchema()
	rec := schemas.DocumentsWithMarkdownToRecord(memory.DefaultAllocator, docs)
	defer rec.Release()
	cols := make([]arrow.Array, 0, rec.NumCols())
	for _, f := range schema.Fields() {
		cols = append(cols, rec.Column(rec.Schema().FieldIndices(f.Name)[0]))
	}
	old := array.NewRecordBatch(schema, cols, rec.NumRows())
	defer old.Release()
	tw := newTableWriter(ctx, schema, dagSink(s.dag), 0, 0)
	if err := tw.write(old, 1<<20); err != nil {
		t.Fatal(err)
	}
	shards, err := tw.close(true)
	if err != nil {
		t.Fatal(err)
	}
	m := &schemas.Manifest{Version: 1, Dataset: name, Shards: nameShards(dataDir, shards), Rows: int64(len(docs)),
		Languages: map[string]int64{}, Hosts: map[string]int64{}}
	for _, d := range docs {
		m.Languages[d.Language]++
		m.Hosts[d.Host]++
	}
	// writeTable writes rec as one table of the version.
	writeTable := func(dir string, schema *arrow.Schema, rec arrow.RecordBatch) {
		defer rec.Release()
		tw := newTableWriter(ctx, schema, dagSink(s.dag), 0, 0)
		if err := tw.write(rec, 1<<20); err != nil {
			t.Fatal(err)
		}
		shards, err := tw.close(false)
		if err != nil {
			t.Fatal(err)
		}
		if m.Tables == nil {
			m.Tables = map[string][]schemas.Shard{}
		}
		m.Tables[dir] = nameShards(dir, shards)
	}
	if chunks {
		var cs []Chunk
		for _, d := range docs {
			for _, c := range ChunkText(d.ID, d.URL, d.Text, ChunkOptions{}) {
				c.Title, c.Language = d.Title, d.Language
				cs = append(cs, c)
			}
		}
		writeTable(chunksDir, ChunkSchema, chunksToRecord(memory.DefaultAllocator, cs))
	}
	if len(rejects) > 0 {
		writeTable(rejectsDir, RejectSchema, rejectsToRecord(memory.DefaultAllocator, rejects))
		m.Rejected = int64(len(rejects))
	}
	root, err := buildVersion(ctx, s.dag, m, VersionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.sync(ctx); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(docs)+len(rejects))
	for _, d := range docs {
		keys = append(keys, "d"+d.ID)
	}
	for _, r := range rejects {
		keys = append(keys, "r"+r.ID)
	}
	if err := s.commitVersion(ctx, name, versionInfo(root, m, 1), -1, keys, nil); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestReadVersion1: a version written before the markdown table still
// reads (manifest version 1, markdown from the rows), and publishing on top
// of it rewrites its documents into the current format, so the new version
// has one format throughout and loses no Markdown.
func TestReadVersion1(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := testDocs("old", 40)
	v1 := publishV1(t, s, "legacy", old)
	m1, err := s.Manifest(ctx, v1)
	if err != nil {
		t.Fatalf("version 1 manifest does not read: %v", err)
	}
	if m1.Version != 1 || m1.Tables[markdownDir] != nil {
		t.Fatalf("not a version 1 manifest: %+v", m1)
	}
	back := readDocs(t, s, v1, m1.Shards)
	withMD := 0
	for i, d := range back {
		if (d.Markdown == nil) != (old[i].Markdown == nil) {
			t.Fatalf("version 1 row %s: markdown %v, want %v", d.ID, d.Markdown, old[i].Markdown)
		}
		if d.Markdown != nil {
			withMD++
		}
	}
	if withMD == 0 {
		t.Fatal("test corpus has no markdown")
	}

	added := testDocs("new", 20)
	v2, m2 := publishDocs(t, s, "legacy", DatasetOptions{}, added)
	if m2.Parent != v1.String() || m2.Rows != int64(len(old)+len(added)) {
		t.Fatalf("version 2: parent %s rows %d", m2.Parent, m2.Rows)
	}
	checkMarkdownTable(t, s, v2, append(slices.Clone(old), added...))
	got := readDocs(t, s, v2, m2.Shards)
	ids := map[string]bool{}
	for _, d := range got {
		ids[d.ID] = true
	}
	for _, d := range append(slices.Clone(old), added...) {
		if !ids[d.ID] {
			t.Errorf("document %s lost in the rewrite", d.ID)
		}
	}
	if len(got) != len(old)+len(added) {
		t.Errorf("version 2 holds %d documents, want %d", len(got), len(old)+len(added))
	}
}

// TestNewerSchemaRefused: a table from a newer sward is refused with a
// VersionError rather than misread.
func TestNewerSchemaRefused(t *testing.T) {
	md := arrow.NewMetadata([]string{"sward.schema_version"}, []string{"99"})
	schema := arrow.NewSchema(schemas.DocumentSchema.Fields(), &md)
	rec := schemas.DocumentsToRecord(memory.DefaultAllocator, testDocs("x", 2))
	defer rec.Release()
	newer := array.NewRecordBatch(schema, rec.Columns(), rec.NumRows())
	defer newer.Release()
	_, err := schemas.DocumentsFromRecord(newer)
	var ve *schemas.VersionError
	if !errors.As(err, &ve) || ve.Got != 99 {
		t.Fatalf("DocumentsFromRecord of a version 99 table: %v", err)
	}
}
