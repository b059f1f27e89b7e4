package storage

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// DefaultBatchBytes is how much input a publish turns into one Arrow record
// batch unless DatasetOptions says otherwise.
const DefaultBatchBytes = 8 << 20

// DatasetOptions tunes a dataset writer. The zero value is valid: Default
// fills it.
type DatasetOptions struct {
	// RowGroupBytes is the uncompressed size of a row group (default
	// DefaultRowGroupBytes, 100 MiB).
	RowGroupBytes int64
	// ShardBytes bounds one Parquet shard (default DefaultShardBytes,
	// 500 MiB).
	ShardBytes int64
	// Chunks controls the RAG chunks table.
	Chunks ChunkOptions
	// BatchBytes is how much input is turned into one Arrow record batch
	// while publishing (default DefaultBatchBytes, 8 MiB; at most a
	// quarter of RowGroupBytes is used, so row groups come out near size).
	BatchBytes int64
}

// Default fills the unset fields of o.
func (o *DatasetOptions) Default() {
	if o.RowGroupBytes == 0 {
		o.RowGroupBytes = DefaultRowGroupBytes
	}
	if o.ShardBytes == 0 {
		o.ShardBytes = DefaultShardBytes
	}
	if o.BatchBytes == 0 {
		o.BatchBytes = DefaultBatchBytes
	}
	o.Chunks.Default()
}

// Validate checks o after Default.
func (o DatasetOptions) Validate() error {
	var errs []error
	if o.RowGroupBytes <= 0 {
		errs = append(errs, fmt.Errorf("storage dataset options: row group bytes %d must be positive (leave it 0 for %d)", o.RowGroupBytes, DefaultRowGroupBytes))
	}
	if o.ShardBytes <= 0 {
		errs = append(errs, fmt.Errorf("storage dataset options: shard bytes %d must be positive (leave it 0 for %d)", o.ShardBytes, DefaultShardBytes))
	}
	if o.BatchBytes <= 0 {
		errs = append(errs, fmt.Errorf("storage dataset options: batch bytes %d must be positive (leave it 0 for %d)", o.BatchBytes, DefaultBatchBytes))
	}
	if err := o.Chunks.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("storage dataset options: chunks: %w", err))
	}
	return errors.Join(errs...)
}

// VersionMeta is what the caller knows about a version beyond its rows.
type VersionMeta struct {
	JobID      string
	CrawlStart *time.Time
	CrawlEnd   *time.Time
	// Filters names the pipeline stages and thresholds applied.
	Filters   []string
	TDMPolicy string
	// License is an SPDX id or "other" (the default) for the dataset card.
	License string
	// LicenseName and LicenseLink name and link the licence when License
	// is "other" (defaults DefaultLicenseName and DefaultLicenseLink).
	LicenseName string
	LicenseLink string
	// Description is a paragraph for the dataset card.
	Description string
	// CreatedAt defaults to now.
	CreatedAt time.Time
}

// DatasetWriter accumulates documents into a dataset's next version. Add and
// AddRejects may be called from any goroutine, also while Publish runs; the
// writer is closed by Store.Close or Close.
type DatasetWriter struct {
	s    *Store
	name string
	opts DatasetOptions
	dir  string

	pubMu sync.Mutex // one Publish at a time

	mu       sync.Mutex
	seg      int64 // number of the open spool segment
	f        *os.File
	size     int64
	pending  map[string]struct{} // ids (kind+id) in the spool, not yet published
	closed   bool
	nPending int
	// spoolBuf is reused by every Add (under mu), so a batch's JSON is not
	// grown from empty by doubling each time.
	spoolBuf bytes.Buffer
}

// maxKeptSpoolBuf bounds the spool buffer kept between Adds.
const maxKeptSpoolBuf = 64 << 20

// spoolRecord is one line of a spool segment.
type spoolRecord struct {
	Doc    *schemas.Document `json:"doc,omitempty"`
	Reject *Reject           `json:"reject,omitempty"`
}

// ErrWriterOpen is returned when a dataset already has an open writer.
var ErrWriterOpen = errors.New("dataset already has an open writer")

// OpenDataset opens the writer of dataset name, recovering its spool after a
// crash: a torn last line (never acknowledged) is cut off, and segments a
// published version already consumed are removed.
func (s *Store) OpenDataset(ctx context.Context, name string, opts DatasetOptions) (*DatasetWriter, error) {
	if err := ValidateDatasetName(name); err != nil {
		return nil, err
	}
	opts.Default()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("opening dataset %q: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.open[name]; ok {
		return nil, fmt.Errorf("opening dataset %q: %w", name, ErrWriterOpen)
	}
	w := &DatasetWriter{
		s: s, name: name, opts: opts,
		dir:     filepath.Join(s.dir, "datasets", name, "spool"),
		pending: map[string]struct{}{},
	}
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating spool of %q: %w", name, err)
	}
	consumed, err := s.consumed(ctx, name)
	if err != nil {
		return nil, err
	}
	segs, err := w.segments()
	if err != nil {
		return nil, err
	}
	last := consumed
	for i, seg := range segs {
		if seg > last {
			last = seg
		}
		path := w.segPath(seg)
		if seg <= consumed {
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				return nil, fmt.Errorf("removing consumed spool segment %s: %w", path, err)
			}
			continue
		}
		err := w.scanSegment(path, i == len(segs)-1, func(r *spoolRecord) error {
			w.pending[r.key()] = struct{}{}
			w.nPending++
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	w.seg = last
	if err := w.rotate(); err != nil {
		return nil, err
	}
	s.open[name] = w
	w.logger().Debug("dataset opened", logkey.Dataset, name, "pending", w.nPending)
	return w, nil
}

func (r *spoolRecord) key() string {
	if r.Doc != nil {
		return "d" + r.Doc.ID
	}
	return "r" + r.Reject.ID
}

func (w *DatasetWriter) segPath(seg int64) string {
	return filepath.Join(w.dir, fmt.Sprintf("%012d.jsonl", seg))
}

// segments lists spool segment numbers in order.
func (w *DatasetWriter) segments() ([]int64, error) {
	ents, err := os.ReadDir(w.dir)
	if err != nil {
		return nil, fmt.Errorf("reading spool %s: %w", w.dir, err)
	}
	var out []int64
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".jsonl")
		if !ok {
			continue
		}
		seg, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, seg)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// scanSegment calls fn for every record of a segment. In the newest segment
// a torn tail (a crash during an unacknowledged write) is cut off; anywhere
// else a bad line is corruption and an error.
func (w *DatasetWriter) scanSegment(path string, newest bool, fn func(*spoolRecord) error) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening spool segment: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var off int64
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			var r spoolRecord
			if jerr := json.Unmarshal(line, &r); jerr != nil || (r.Doc == nil) == (r.Reject == nil) {
				if !newest {
					return fmt.Errorf("spool segment %s is corrupt at byte %d; move it aside to continue", path, off)
				}
				return w.cutTail(f, path, off)
			}
			if ferr := fn(&r); ferr != nil {
				return ferr
			}
			off += int64(len(line))
			continue
		}
		if err == nil || errors.Is(err, io.EOF) {
			if len(line) > 0 {
				return w.cutTail(f, path, off)
			}
			return nil
		}
		return fmt.Errorf("reading spool segment %s: %w", path, err)
	}
}

func (w *DatasetWriter) cutTail(f *os.File, path string, off int64) error {
	w.logger().Warn("cutting torn tail of spool segment", logkey.Path, path, "offset", off)
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("truncating torn spool segment %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing spool segment %s: %w", path, err)
	}
	return nil
}

// rotate closes the open segment and starts the next one. Caller holds mu
// (or is the opener).
func (w *DatasetWriter) rotate() error {
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			return fmt.Errorf("closing spool segment: %w", err)
		}
		w.f = nil
	}
	w.seg++
	f, err := os.OpenFile(w.segPath(w.seg), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("creating spool segment: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, 0
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening %s to sync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// Name is the dataset's name.
func (w *DatasetWriter) Name() string { return w.name }

// Pending is the number of documents and rejects waiting for Publish.
func (w *DatasetWriter) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nPending
}

// IDs returns the IDs of the documents and rejects waiting for Publish (a
// resumed offline run rebuilds its set of decided pages from it).
func (w *DatasetWriter) IDs() (map[string]bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, fmt.Errorf("listing %q: writer is closed", w.name)
	}
	out := make(map[string]bool, len(w.pending))
	for k := range w.pending {
		out[k[1:]] = true
	}
	return out, nil
}

// Add appends documents to the next version. It returns only once they are
// fsync'd to the spool. A document whose ID is already pending or published
// is skipped, so retrying an Add is safe. Every document needs an ID.
func (w *DatasetWriter) Add(ctx context.Context, docs ...schemas.Document) error {
	_, err := w.AddNew(ctx, docs...)
	return err
}

// AddNew is Add that also says how many of docs were new (neither pending
// nor published before), so a caller can count each document once.
func (w *DatasetWriter) AddNew(ctx context.Context, docs ...schemas.Document) (int, error) {
	recs := make([]spoolRecord, len(docs))
	for i := range docs {
		if docs[i].ID == "" {
			return 0, fmt.Errorf("adding to %q: document %d (url %q) has no id", w.name, i, docs[i].URL)
		}
		recs[i].Doc = &docs[i]
	}
	return w.append(ctx, recs)
}

// AddRejects records rejected pages for the next version's rejects table,
// durably and idempotently on Reject.ID like Add.
func (w *DatasetWriter) AddRejects(ctx context.Context, rejects ...Reject) error {
	recs := make([]spoolRecord, len(rejects))
	for i := range rejects {
		if rejects[i].ID == "" {
			return fmt.Errorf("adding reject to %q: reject %d (url %q) has no id", w.name, i, rejects[i].URL)
		}
		recs[i].Reject = &rejects[i]
	}
	_, err := w.append(ctx, recs)
	return err
}

// append spools the records not yet pending or published and returns how
// many it wrote.
func (w *DatasetWriter) append(ctx context.Context, recs []spoolRecord) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, fmt.Errorf("adding to %q: writer is closed", w.name)
	}
	buf := &w.spoolBuf
	buf.Reset()
	defer func() {
		if buf.Cap() > maxKeptSpoolBuf {
			*buf = bytes.Buffer{}
		}
	}()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	batch := map[string]struct{}{}
	var keys []string
	for i := range recs {
		k := recs[i].key()
		if _, ok := w.pending[k]; ok {
			continue
		}
		if _, ok := batch[k]; ok {
			continue
		}
		kind, id := k[:1], k[1:]
		published, err := w.s.meta.Has(ctx, idKey(w.name, kind, id))
		if err != nil {
			return 0, fmt.Errorf("checking id %q in %q: %w", id, w.name, err)
		}
		if published {
			continue
		}
		if err := enc.Encode(&recs[i]); err != nil {
			return 0, fmt.Errorf("encoding %q for the spool: %w", id, err)
		}
		batch[k] = struct{}{}
		keys = append(keys, k)
	}
	if buf.Len() == 0 {
		return 0, nil
	}
	if _, err := w.f.Write(buf.Bytes()); err != nil {
		// Drop a partial write so the next line starts clean.
		_ = w.f.Truncate(w.size)
		return 0, fmt.Errorf("writing spool of %q: %w", w.name, err)
	}
	if err := w.f.Sync(); err != nil {
		_ = w.f.Truncate(w.size)
		return 0, fmt.Errorf("syncing spool of %q: %w", w.name, err)
	}
	w.size += int64(buf.Len())
	for _, k := range keys {
		w.pending[k] = struct{}{}
	}
	w.nPending += len(keys)
	return len(keys), nil
}

// Close closes the writer's spool. Pending documents stay pending.
func (w *DatasetWriter) Close() error {
	w.s.mu.Lock()
	delete(w.s.open, w.name)
	w.s.mu.Unlock()
	return w.closeSpool()
}

func (w *DatasetWriter) closeSpool() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// ErrNothingToPublish is returned by Publish when the dataset already has a
// version and nothing would change it: no record is pending and no
// retraction is recorded. Publish then returns that version and its
// manifest too.
var ErrNothingToPublish = errors.New("nothing to publish")

// Publish turns everything pending, and every retraction recorded since the
// last version, into a new version whose manifest and dataset card name the
// parent. New documents become new shards appended to the parent's, and the
// markdown, chunks and rejects tables grow the same way. The parent's shards
// keep their CIDs, so versions share blocks, except that a shard holding a
// retracted row is rewritten without it (or left out when no row is left),
// and every document shard of a parent written before the markdown table
// existed is rewritten in the current format (migrate). Shards are renamed
// for their new place; a name is not part of a CID. The version is recorded
// as the dataset's head only after all its blocks are durable. With nothing
// pending and no retraction recorded it returns the current head, its
// manifest and ErrNothingToPublish; the very first version may be empty.
func (w *DatasetWriter) Publish(ctx context.Context, meta VersionMeta) (cid.Cid, *schemas.Manifest, error) {
	w.pubMu.Lock()
	defer w.pubMu.Unlock()
	s := w.s

	// Freeze the segments to publish; new Adds go to a fresh segment.
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return cid.Undef, nil, fmt.Errorf("publishing %q: writer is closed", w.name)
	}
	lastSeg := w.seg
	if err := w.rotate(); err != nil {
		w.mu.Unlock()
		return cid.Undef, nil, err
	}
	w.mu.Unlock()

	consumed, err := s.consumed(ctx, w.name)
	if err != nil {
		return cid.Undef, nil, err
	}
	var parent *schemas.Manifest
	parentCID, err := s.Head(ctx, w.name)
	switch {
	case err == nil:
		if parent, err = s.Manifest(ctx, parentCID); err != nil {
			return cid.Undef, nil, fmt.Errorf("reading parent version of %q: %w", w.name, err)
		}
	case errors.Is(err, ErrNotFound):
	default:
		return cid.Undef, nil, err
	}

	// Without a head there are no retractions either: one is recorded only
	// for a published ID, and IDs are marked published in the batch that
	// records a head (commitVersion), which nothing deletes.
	retr, err := s.retractions(ctx, w.name)
	if err != nil {
		return cid.Undef, nil, err
	}
	b := newVersionBuilder(ctx, s, w.opts)
	if parent != nil && parent.Tables[markdownDir] == nil {
		// A version written before the markdown table existed.
		if err := b.migrate(parentCID, parent, retr.drop); err != nil {
			b.abort(err)
			return cid.Undef, nil, fmt.Errorf("publishing %q: %w", w.name, err)
		}
	}
	if len(retr.drop) > 0 {
		if err := b.retract(parentCID, parent, retr.drop); err != nil {
			b.abort(err)
			return cid.Undef, nil, fmt.Errorf("publishing %q: %w", w.name, err)
		}
	}
	segs, err := w.segments()
	if err != nil {
		return cid.Undef, nil, err
	}
	var keys []string
	for _, seg := range segs {
		if seg <= consumed || seg > lastSeg {
			continue
		}
		err := w.scanSegment(w.segPath(seg), false, func(r *spoolRecord) error {
			keys = append(keys, r.key())
			return b.add(r)
		})
		if err != nil {
			b.abort(err)
			return cid.Undef, nil, fmt.Errorf("publishing %q: %w", w.name, err)
		}
	}
	if len(keys) == 0 && len(retr.keys) == 0 && parent != nil {
		b.abort(ErrNothingToPublish)
		return parentCID, parent, ErrNothingToPublish
	}
	root, m, err := b.finish(w.name, parent, parentCID, meta)
	if err != nil {
		return cid.Undef, nil, fmt.Errorf("publishing %q: %w", w.name, err)
	}
	if err := s.sync(ctx); err != nil {
		return cid.Undef, nil, err
	}

	// Commit: head, history, consumed segments, published ids and the
	// retractions done at once.
	vs, err := s.Versions(ctx, w.name)
	if err != nil {
		return cid.Undef, nil, err
	}
	info := versionInfo(root, m, int64(len(vs)+1))
	if err := s.commitVersion(ctx, w.name, info, lastSeg, keys, retr.keys); err != nil {
		return cid.Undef, nil, err
	}

	w.mu.Lock()
	for _, k := range keys {
		delete(w.pending, k)
	}
	w.nPending -= len(keys)
	w.mu.Unlock()
	for _, seg := range segs {
		if seg <= lastSeg {
			if err := os.Remove(w.segPath(seg)); err != nil && !os.IsNotExist(err) {
				w.logger().Warn("removing consumed spool segment", logkey.Dataset, w.name, logkey.Err, err)
			}
		}
	}
	w.logger().Info("dataset version published", logkey.Dataset, w.name, logkey.CID, root.String(), "rows", m.Rows, "new", len(keys), "retracted", m.Retracted)
	return root, m, nil
}

func versionInfo(root cid.Cid, m *schemas.Manifest, seq int64) VersionInfo {
	info := VersionInfo{Seq: seq, CID: root.String(), Parent: m.Parent, CreatedAt: m.CreatedAt, Rows: m.Rows, Shards: len(m.Shards)}
	for _, sh := range m.Shards {
		info.Bytes += sh.Bytes
	}
	return info
}

// commitVersion records a version in one synced batch.
func (s *Store) commitVersion(ctx context.Context, name string, info VersionInfo, consumedSeg int64, keys []string, retracted []ds.Key) error {
	batch, err := s.meta.Batch(ctx)
	if err != nil {
		return fmt.Errorf("recording version of %q: %w", name, err)
	}
	rec, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encoding version record: %w", err)
	}
	puts := []struct {
		k ds.Key
		v []byte
	}{
		{headKey(name), []byte(info.CID)},
		{versionKey(name, info.Seq), rec},
	}
	if consumedSeg >= 0 {
		puts = append(puts, struct {
			k ds.Key
			v []byte
		}{consumedKey(name), []byte(strconv.FormatInt(consumedSeg, 10))})
	}
	for _, p := range puts {
		if err := batch.Put(ctx, p.k, p.v); err != nil {
			return fmt.Errorf("recording version of %q: %w", name, err)
		}
	}
	for _, k := range keys {
		if err := batch.Put(ctx, idKey(name, k[:1], k[1:]), nil); err != nil {
			return fmt.Errorf("recording published ids of %q: %w", name, err)
		}
	}
	for _, k := range retracted {
		if err := batch.Delete(ctx, k); err != nil {
			return fmt.Errorf("clearing retractions of %q: %w", name, err)
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return fmt.Errorf("recording version of %q: %w", name, err)
	}
	if err := s.sync(ctx); err != nil {
		return err
	}
	s.signalHeads()
	return nil
}

var defaultMem = memory.DefaultAllocator

// logger is the store's logger, or the default one for a writer built
// without a store (the spool fuzz test scans segments that way).
func (w *DatasetWriter) logger() *slog.Logger {
	if w.s == nil || w.s.log == nil {
		return slog.Default()
	}
	return w.s.log
}
