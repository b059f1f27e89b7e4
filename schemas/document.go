package schemas

import (
	"fmt"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Document is one cleaned page, ready for training or retrieval. Its first
// columns match FineWeb's (text, id, url, date, language, language_score,
// token_count) so tools written for FineWeb read sward datasets unchanged.
// Pointer fields are optional: nil is stored as a typed Parquet null.
type Document struct {
	Text          string  `json:"text"`
	ID            string  `json:"id"`
	URL           string  `json:"url"`
	Date          string  `json:"date"` // fetch time, RFC 3339 UTC, as FineWeb writes it
	Language      string  `json:"language"`
	LanguageScore float64 `json:"language_score"`
	TokenCount    int64   `json:"token_count"`

	Title         *string    `json:"title,omitempty"`
	Author        *string    `json:"author,omitempty"`
	PublishedAt   *time.Time `json:"published_at,omitempty"`
	SiteName      *string    `json:"site_name,omitempty"`
	Description   *string    `json:"description,omitempty"`
	CanonicalURL  *string    `json:"canonical_url,omitempty"`
	Host          string     `json:"host"`
	FetchedAt     time.Time  `json:"fetched_at"`
	CaptureCID    string     `json:"capture_cid"`
	NodePeerID    string     `json:"node_peer_id"`
	ContentSHA256 string     `json:"content_sha256"`
	// Markdown is the article as Markdown. It is not a column of the
	// document table (DocumentSchema) but a row of the markdown table
	// (MarkdownSchema), keyed by ID, so a training download carries the
	// article once; version 1 document tables held it as a column.
	Markdown *string `json:"markdown,omitempty"`
	JobID    string  `json:"job_id"`
	// PIIRedactions counts the spans the pipeline redacted from Text.
	PIIRedactions int32 `json:"pii_redactions"`
	// DupClusterSize is the number of near-duplicates seen for this text,
	// including itself (1 when unique).
	DupClusterSize int32 `json:"dup_cluster_size"`
	// StructuredData is the page's schema.org JSON-LD and OpenGraph
	// metadata as one JSON object {"jsonld": [...], "opengraph": {...}},
	// nil when the page has neither.
	StructuredData *string `json:"structured_data,omitempty"`
	// PageType is the kind of page the extractor recognised: article, forum,
	// product, collection, listing, documentation or service.
	PageType string `json:"page_type"`
}

// timestampUTC is the Arrow type for every time column: microseconds, UTC,
// which Parquet, DuckDB, Polars and pandas all read as a zoned timestamp.
var timestampUTC = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// column describes one Document column once: its Arrow field, how to append
// a document's value to a builder and how to read it back.
type column struct {
	field  arrow.Field
	append func(b array.Builder, d *Document)
	read   func(a arrow.Array, i int, d *Document)
}

func strCol(name string, get func(*Document) *string, set func(*Document, string)) column {
	return column{
		field: arrow.Field{Name: name, Type: arrow.BinaryTypes.String},
		append: func(b array.Builder, d *Document) {
			b.(*array.StringBuilder).Append(*get(d))
		},
		read: func(a arrow.Array, i int, d *Document) {
			if !a.IsNull(i) {
				set(d, a.(*array.String).Value(i))
			}
		},
	}
}

func optStrCol(name string, get func(*Document) **string) column {
	return column{
		field: arrow.Field{Name: name, Type: arrow.BinaryTypes.String, Nullable: true},
		append: func(b array.Builder, d *Document) {
			sb := b.(*array.StringBuilder)
			if p := *get(d); p != nil {
				sb.Append(*p)
			} else {
				sb.AppendNull()
			}
		},
		read: func(a arrow.Array, i int, d *Document) {
			if !a.IsNull(i) {
				v := a.(*array.String).Value(i)
				*get(d) = &v
			}
		},
	}
}

func timeCol(name string, get func(*Document) *time.Time) column {
	return column{
		field: arrow.Field{Name: name, Type: timestampUTC},
		append: func(b array.Builder, d *Document) {
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(get(d).UnixMicro()))
		},
		read: func(a arrow.Array, i int, d *Document) {
			if !a.IsNull(i) {
				*get(d) = time.UnixMicro(int64(a.(*array.Timestamp).Value(i))).UTC()
			}
		},
	}
}

func optTimeCol(name string, get func(*Document) **time.Time) column {
	return column{
		field: arrow.Field{Name: name, Type: timestampUTC, Nullable: true},
		append: func(b array.Builder, d *Document) {
			tb := b.(*array.TimestampBuilder)
			if p := *get(d); p != nil {
				tb.Append(arrow.Timestamp(p.UnixMicro()))
			} else {
				tb.AppendNull()
			}
		},
		read: func(a arrow.Array, i int, d *Document) {
			if !a.IsNull(i) {
				t := time.UnixMicro(int64(a.(*array.Timestamp).Value(i))).UTC()
				*get(d) = &t
			}
		},
	}
}

func plainStr(name string, get func(*Document) *string) column {
	return strCol(name, get, func(d *Document, v string) { *get(d) = v })
}

var documentColumns = []column{
	plainStr("text", func(d *Document) *string { return &d.Text }),
	plainStr("id", func(d *Document) *string { return &d.ID }),
	plainStr("url", func(d *Document) *string { return &d.URL }),
	plainStr("date", func(d *Document) *string { return &d.Date }),
	plainStr("language", func(d *Document) *string { return &d.Language }),
	{
		field: arrow.Field{Name: "language_score", Type: arrow.PrimitiveTypes.Float64},
		append: func(b array.Builder, d *Document) {
			b.(*array.Float64Builder).Append(d.LanguageScore)
		},
		read: func(a arrow.Array, i int, d *Document) {
			d.LanguageScore = a.(*array.Float64).Value(i)
		},
	},
	{
		field: arrow.Field{Name: "token_count", Type: arrow.PrimitiveTypes.Int64},
		append: func(b array.Builder, d *Document) {
			b.(*array.Int64Builder).Append(d.TokenCount)
		},
		read: func(a arrow.Array, i int, d *Document) {
			d.TokenCount = a.(*array.Int64).Value(i)
		},
	},
	optStrCol("title", func(d *Document) **string { return &d.Title }),
	optStrCol("author", func(d *Document) **string { return &d.Author }),
	optTimeCol("published_at", func(d *Document) **time.Time { return &d.PublishedAt }),
	optStrCol("site_name", func(d *Document) **string { return &d.SiteName }),
	optStrCol("description", func(d *Document) **string { return &d.Description }),
	optStrCol("canonical_url", func(d *Document) **string { return &d.CanonicalURL }),
	plainStr("host", func(d *Document) *string { return &d.Host }),
	timeCol("fetched_at", func(d *Document) *time.Time { return &d.FetchedAt }),
	plainStr("capture_cid", func(d *Document) *string { return &d.CaptureCID }),
	plainStr("node_peer_id", func(d *Document) *string { return &d.NodePeerID }),
	plainStr("content_sha256", func(d *Document) *string { return &d.ContentSHA256 }),
	plainStr("job_id", func(d *Document) *string { return &d.JobID }),
	{
		field: arrow.Field{Name: "pii_redactions", Type: arrow.PrimitiveTypes.Int32},
		append: func(b array.Builder, d *Document) {
			b.(*array.Int32Builder).Append(d.PIIRedactions)
		},
		read: func(a arrow.Array, i int, d *Document) {
			d.PIIRedactions = a.(*array.Int32).Value(i)
		},
	},
	{
		field: arrow.Field{Name: "dup_cluster_size", Type: arrow.PrimitiveTypes.Int32},
		append: func(b array.Builder, d *Document) {
			b.(*array.Int32Builder).Append(d.DupClusterSize)
		},
		read: func(a arrow.Array, i int, d *Document) {
			d.DupClusterSize = a.(*array.Int32).Value(i)
		},
	},
	optStrCol("structured_data", func(d *Document) **string { return &d.StructuredData }),
	plainStr("page_type", func(d *Document) *string { return &d.PageType }),
}

// markdownColumn is the markdown field, a column of version 1 document
// tables and of the feed's export stream.
var markdownColumn = optStrCol("markdown", func(d *Document) **string { return &d.Markdown })

// schemaVersionKey is the Arrow schema metadata key of a table's version.
const schemaVersionKey = "sward.schema_version"

func versionMetadata() *arrow.Metadata {
	md := arrow.NewMetadata([]string{schemaVersionKey}, []string{fmt.Sprint(DocumentVersion)})
	return &md
}

// DocumentSchema is the Arrow schema of a dataset's document table. The
// metadata key "sward.schema_version" carries DocumentVersion.
var DocumentSchema = func() *arrow.Schema {
	fields := make([]arrow.Field, len(documentColumns))
	for i, c := range documentColumns {
		fields[i] = c.field
	}
	return arrow.NewSchema(fields, versionMetadata())
}()

// DocumentMarkdownSchema is DocumentSchema with the markdown column at the
// end: the shape of the feed's Arrow export, which serves apps that want
// the Markdown with each document in one stream.
var DocumentMarkdownSchema = func() *arrow.Schema {
	fields := append(slices.Clone(DocumentSchema.Fields()), markdownColumn.field)
	return arrow.NewSchema(fields, versionMetadata())
}()

// MarkdownSchema is the Arrow schema of a dataset's markdown table: one row
// per document that has Markdown, keyed by the document's id, in the
// document table's row order.
var MarkdownSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.BinaryTypes.String},
	{Name: "markdown", Type: arrow.BinaryTypes.String},
}, versionMetadata())

// DocumentsToRecord builds an Arrow record batch of docs in DocumentSchema
// (without their Markdown, which MarkdownToRecord writes). The caller
// releases the result.
func DocumentsToRecord(mem memory.Allocator, docs []Document) arrow.RecordBatch {
	return documentsToRecord(mem, docs, DocumentSchema, documentColumns)
}

// DocumentsWithMarkdownToRecord builds a record batch of docs in
// DocumentMarkdownSchema. The caller releases the result.
func DocumentsWithMarkdownToRecord(mem memory.Allocator, docs []Document) arrow.RecordBatch {
	return documentsToRecord(mem, docs, DocumentMarkdownSchema, append(documentColumns[:len(documentColumns):len(documentColumns)], markdownColumn))
}

func documentsToRecord(mem memory.Allocator, docs []Document, schema *arrow.Schema, cols []column) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	// Size the buffers once: growing a long text column by doubling copies
	// it several times over.
	b.Reserve(len(docs))
	var text int
	for i := range docs {
		text += len(docs[i].Text)
	}
	b.Field(0).(*array.StringBuilder).ReserveData(text)
	for i := range docs {
		for j, c := range cols {
			c.append(b.Field(j), &docs[i])
		}
	}
	return b.NewRecordBatch()
}

// checkSchemaVersion refuses a table written by a newer sward. A table
// without the metadata key (written by another tool) is read as current.
func checkSchemaVersion(kind string, schema *arrow.Schema) error {
	v, ok := schema.Metadata().GetValue(schemaVersionKey)
	if !ok {
		return nil
	}
	var n int
	if _, err := fmt.Sscan(v, &n); err != nil {
		return fmt.Errorf("%s: schema version %q is not a number", kind, v)
	}
	return checkVersion(kind+" table", n, DocumentVersion)
}

// DocumentsFromRecord reads documents back from a record batch. Columns are
// found by name, so extra columns (for example a job's structured fields)
// and a different column order are fine; a missing or mistyped column is an
// error. A markdown column (version 1 document tables, the feed's export)
// fills Markdown; without one, Markdown is nil and lives in the markdown
// table (MarkdownFromRecord).
func DocumentsFromRecord(rec arrow.RecordBatch) ([]Document, error) {
	schema := rec.Schema()
	if err := checkSchemaVersion("documents", schema); err != nil {
		return nil, err
	}
	cols := documentColumns
	if len(schema.FieldIndices(markdownColumn.field.Name)) > 0 {
		cols = append(cols[:len(cols):len(cols)], markdownColumn)
	}
	arrays := make([]arrow.Array, len(cols))
	for j, c := range cols {
		idx := schema.FieldIndices(c.field.Name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("documents: column %q missing", c.field.Name)
		}
		col := rec.Column(idx[0])
		if !arrow.TypeEqual(col.DataType(), c.field.Type) {
			return nil, fmt.Errorf("documents: column %q has type %s, want %s", c.field.Name, col.DataType(), c.field.Type)
		}
		arrays[j] = col
	}
	docs := make([]Document, rec.NumRows())
	for i := range docs {
		for j, c := range cols {
			c.read(arrays[j], i, &docs[i])
		}
	}
	return docs, nil
}

// Markdown is one row of the markdown table.
type Markdown struct {
	ID       string
	Markdown string
}

// MarkdownToRecord builds a record batch in MarkdownSchema of the docs that
// have Markdown, in the order of docs. The caller releases the result.
func MarkdownToRecord(mem memory.Allocator, docs []Document) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, MarkdownSchema)
	defer b.Release()
	ids, mds := b.Field(0).(*array.StringBuilder), b.Field(1).(*array.StringBuilder)
	var n, idBytes, mdBytes int
	for i := range docs {
		if docs[i].Markdown != nil {
			n, idBytes, mdBytes = n+1, idBytes+len(docs[i].ID), mdBytes+len(*docs[i].Markdown)
		}
	}
	b.Reserve(n)
	ids.ReserveData(idBytes)
	mds.ReserveData(mdBytes)
	for i := range docs {
		if docs[i].Markdown != nil {
			ids.Append(docs[i].ID)
			mds.Append(*docs[i].Markdown)
		}
	}
	return b.NewRecordBatch()
}

// MarkdownFromRecord reads the rows of a markdown table's record batch.
func MarkdownFromRecord(rec arrow.RecordBatch) ([]Markdown, error) {
	schema := rec.Schema()
	if err := checkSchemaVersion("markdown", schema); err != nil {
		return nil, err
	}
	var arrs [2]*array.String
	for j, name := range []string{"id", "markdown"} {
		idx := schema.FieldIndices(name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("markdown: column %q missing", name)
		}
		a, ok := rec.Column(idx[0]).(*array.String)
		if !ok {
			return nil, fmt.Errorf("markdown: column %q has type %s, want utf8", name, rec.Column(idx[0]).DataType())
		}
		arrs[j] = a
	}
	out := make([]Markdown, 0, rec.NumRows())
	for i := 0; i < int(rec.NumRows()); i++ {
		if arrs[0].IsNull(i) || arrs[1].IsNull(i) {
			continue
		}
		out = append(out, Markdown{ID: arrs[0].Value(i), Markdown: arrs[1].Value(i)})
	}
	return out, nil
}
