package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/swardnet/sward/schemas"
)

// Default sizes of Parquet output.
const (
	// DefaultRowGroupBytes is the uncompressed size at which a row group is
	// closed: about 100 MB, sized by bytes rather than rows because web pages
	// vary from a few hundred bytes to megabytes.
	DefaultRowGroupBytes = 100 << 20
	// DefaultShardBytes bounds a shard file's size.
	DefaultShardBytes = 500 << 20
)

// dictionaryColumns are the low-cardinality columns where dictionary
// encoding pays; every other column (text above all) is written plain.
var dictionaryColumns = []string{
	"language", "host", "job_id", "node_peer_id", "site_name", "reason",
}

// Compression settings, measured on real web pages (docs/storage.md,
// BENCHMARKS.md issue 16): every column, the long text columns included,
// gets zstd level 3. Level 6 ("better") made text and markdown about 4.5%
// smaller but cost about 1.5x the write CPU, and the write-speed goal
// (storage at least 10x the pipeline per core) needs the CPU. The level
// is kept per text column so it can be raised again. Pages of 1 MiB keep
// the page index useful.
const (
	zstdLevel     = 3
	textZstdLevel = 3
	pageSize      = int64(1 << 20)
)

var textColumns = []string{"text", "markdown"}

// writerProperties are the Parquet settings of every sward table: zstd,
// statistics and page index on, dictionary only where it pays.
func writerProperties() *parquet.WriterProperties {
	opts := []parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(zstdLevel),
		parquet.WithStats(true),
		parquet.WithPageIndexEnabled(true),
		parquet.WithDictionaryDefault(false),
		parquet.WithMaxRowGroupLength(1 << 40),
		parquet.WithDataPageSize(pageSize),
		parquet.WithCreatedBy("sward"),
	}
	for _, c := range textColumns {
		opts = append(opts, parquet.WithCompressionLevelFor(c, textZstdLevel))
	}
	for _, c := range dictionaryColumns {
		opts = append(opts, parquet.WithDictionaryFor(c, true))
	}
	return parquet.NewWriterProperties(opts...)
}

// shardSink receives finished shard files as a stream and names them.
type shardSink func(ctx context.Context, r io.Reader) (cid.Cid, error)

// tableWriter writes one table (documents, chunks or rejects) as a series of
// Parquet shards, streaming each shard straight into the UnixFS importer.
// Row groups close at rowGroupBytes of (estimated) uncompressed data; a
// shard closes before a new row group could push it past shardBytes.
type tableWriter struct {
	ctx           context.Context
	schema        *arrow.Schema
	props         *parquet.WriterProperties
	sink          shardSink
	rowGroupBytes int64
	shardBytes    int64

	cur    *openShard
	rgSize int64 // estimated uncompressed bytes in the open row group
	shards []schemas.Shard
}

type openShard struct {
	fw     *parquetWriter
	pw     *io.PipeWriter
	hash   hashCounter
	rows   int64
	result chan importResult
}

type importResult struct {
	c   cid.Cid
	err error
}

// hashCounter hashes and counts the bytes of a shard as they are written.
type hashCounter struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func (h *hashCounter) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	return h.h.Write(p)
}

func newTableWriter(ctx context.Context, schema *arrow.Schema, sink shardSink, rowGroupBytes, shardBytes int64) *tableWriter {
	if rowGroupBytes <= 0 {
		rowGroupBytes = DefaultRowGroupBytes
	}
	if shardBytes <= 0 {
		shardBytes = DefaultShardBytes
	}
	return &tableWriter{
		ctx: ctx, schema: schema, props: writerProperties(), sink: sink,
		rowGroupBytes: rowGroupBytes, shardBytes: shardBytes,
	}
}

// dagSink imports each shard into dag.
func dagSink(dag ipld.DAGService) shardSink {
	return func(ctx context.Context, r io.Reader) (cid.Cid, error) { return addFile(ctx, dag, r) }
}

func (t *tableWriter) start() error {
	pr, pw := io.Pipe()
	sh := &openShard{pw: pw, hash: hashCounter{h: sha256.New()}, result: make(chan importResult, 1)}
	go func() {
		c, err := t.sink(t.ctx, pr)
		// Drain whatever the writer still sends so it never blocks on a
		// failed import; the error reaches it through CloseWithError.
		pr.CloseWithError(errOr(err, errors.New("import finished early")))
		sh.result <- importResult{c, err}
	}()
	w := io.MultiWriter(&sh.hash, pw)
	fw, err := newParquetWriter(t.schema, w, t.props, memory.DefaultAllocator)
	if err != nil {
		pw.CloseWithError(err)
		<-sh.result
		return fmt.Errorf("starting parquet shard: %w", err)
	}
	sh.fw = fw
	t.cur = sh
	t.rgSize = 0
	return nil
}

func errOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// write appends rec, whose uncompressed size is about size bytes.
func (t *tableWriter) write(rec arrow.RecordBatch, size int64) error {
	if rec.NumRows() == 0 {
		return nil
	}
	if t.cur == nil {
		if err := t.start(); err != nil {
			return err
		}
	} else if t.rgSize > 0 && t.rgSize+size > t.rowGroupBytes {
		// Close the row group; roll the shard when another full row group
		// could push the file past its bound.
		if t.cur.hash.n+t.cur.fw.rowGroupCompressedBytes()+t.rowGroupBytes > t.shardBytes {
			if err := t.finish(); err != nil {
				return err
			}
			if err := t.start(); err != nil {
				return err
			}
		} else {
			if err := t.cur.fw.newRowGroup(); err != nil {
				return err
			}
			t.rgSize = 0
		}
	}
	if err := t.cur.fw.write(rec); err != nil {
		return fmt.Errorf("writing parquet rows: %w", err)
	}
	t.cur.rows += rec.NumRows()
	t.rgSize += size
	return nil
}

// finish closes the open shard and waits for its import.
func (t *tableWriter) finish() error {
	sh := t.cur
	if sh == nil {
		return nil
	}
	t.cur = nil
	err := sh.fw.close()
	if err != nil {
		sh.pw.CloseWithError(err)
	} else {
		sh.pw.Close()
	}
	res := <-sh.result
	if err != nil {
		return fmt.Errorf("closing parquet shard: %w", err)
	}
	if res.err != nil {
		return fmt.Errorf("importing parquet shard: %w", res.err)
	}
	t.shards = append(t.shards, schemas.Shard{
		CID:    res.c.String(),
		Rows:   sh.rows,
		Bytes:  sh.hash.n,
		SHA256: hex.EncodeToString(sh.hash.h.Sum(nil)),
	})
	return nil
}

// close finishes the last shard and returns all shards written. When no row
// was written and emptyShard is set, it writes one valid, empty shard so the
// table still has a schema to load.
func (t *tableWriter) close(emptyShard bool) ([]schemas.Shard, error) {
	if t.cur == nil && len(t.shards) == 0 && emptyShard {
		if err := t.start(); err != nil {
			return nil, err
		}
	}
	if err := t.finish(); err != nil {
		return nil, err
	}
	return t.shards, nil
}

// abort stops an open shard after an error.
func (t *tableWriter) abort(err error) {
	if t.cur != nil {
		t.cur.pw.CloseWithError(err)
		<-t.cur.result
		t.cur = nil
	}
}

// markdownBytes estimates the size of a document's markdown table row.
func markdownBytes(d *schemas.Document) int64 {
	if d.Markdown == nil {
		return 0
	}
	return int64(len(d.ID) + len(*d.Markdown))
}

// docBytes estimates a document's uncompressed size in Parquet.
func docBytes(d *schemas.Document) int64 {
	n := len(d.Text) + len(d.ID) + len(d.URL) + len(d.Date) + len(d.Language) + len(d.Host) +
		len(d.CaptureCID) + len(d.NodePeerID) + len(d.ContentSHA256) + len(d.JobID) + 8*4 + 4*2
	for _, p := range []*string{d.Title, d.Author, d.SiteName, d.Description, d.CanonicalURL} {
		if p != nil {
			n += len(*p)
		}
	}
	return int64(n)
}
