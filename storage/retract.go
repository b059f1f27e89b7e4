package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/swardnet/sward/schemas"
)

// Retracting published rows.
//
// A published version never changes, but a later one may leave rows out.
// Remove records each published ID it is given as retracted, in the same
// synced batch that stops marking the ID published (so the same ID may be
// added again, by an honest re-fetch), and the next Publish rewrites every
// shard of the parent that holds a retracted row, in every table, without
// that row. A shard holding none keeps its CID, so the new version still
// shares it with the parent. The retractions are cleared in the batch that
// records the new version: a crash before it leaves them to the next
// Publish, a crash after it leaves nothing to redo.

// retractPrefix holds the retracted ids of a dataset, kind+hash -> id.
func retractPrefix(name string) string { return "/datasets/" + name + "/retracted/" }

func retractKey(name, kind, id string) ds.Key {
	return hashedIDKey(retractPrefix(name), kind, id)
}

// retract marks the published ones of ids (documents and rejects)
// retracted in one synced batch, then calls retracted once for each
// record it marked, with its ID. w.mu held.
func (w *DatasetWriter) retract(ctx context.Context, ids []string, retracted func(id string)) error {
	batch, err := w.s.meta.Batch(ctx)
	if err != nil {
		return fmt.Errorf("retracting from %q: %w", w.name, err)
	}
	var done []string
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		for _, kind := range []string{"d", "r"} {
			published, err := w.s.meta.Has(ctx, idKey(w.name, kind, id))
			if err != nil {
				return fmt.Errorf("checking id %q in %q: %w", id, w.name, err)
			}
			if !published {
				continue
			}
			if err := batch.Delete(ctx, idKey(w.name, kind, id)); err != nil {
				return fmt.Errorf("retracting %q from %q: %w", id, w.name, err)
			}
			if err := batch.Put(ctx, retractKey(w.name, kind, id), []byte(id)); err != nil {
				return fmt.Errorf("retracting %q from %q: %w", id, w.name, err)
			}
			done = append(done, id)
		}
	}
	if len(done) == 0 {
		return nil
	}
	if err := batch.Commit(ctx); err != nil {
		return fmt.Errorf("retracting from %q: %w", w.name, err)
	}
	if err := w.s.sync(ctx); err != nil {
		return err
	}
	for _, id := range done {
		retracted(id)
	}
	return nil
}

// Retracted is the number of published records (documents and rejects)
// that the next Publish leaves out.
func (w *DatasetWriter) Retracted(ctx context.Context) (int, error) {
	r, err := w.s.retractions(ctx, w.name)
	if err != nil {
		return 0, err
	}
	return len(r.keys), nil
}

// retractions is what the next Publish leaves out of the parent.
type retractions struct {
	drop map[string]bool // kind+id
	keys []ds.Key        // to clear when the version is recorded
}

func (s *Store) retractions(ctx context.Context, name string) (retractions, error) {
	r := retractions{drop: map[string]bool{}}
	res, err := s.meta.Query(ctx, query.Query{Prefix: retractPrefix(name)})
	if err != nil {
		return r, fmt.Errorf("listing retractions of %q: %w", name, err)
	}
	defer res.Close()
	for e := range res.Next() {
		if e.Error != nil {
			return r, fmt.Errorf("listing retractions of %q: %w", name, e.Error)
		}
		k := ds.NewKey(e.Key)
		kind := k.BaseNamespace()[:1]
		r.drop[kind+string(e.Value)] = true
		r.keys = append(r.keys, k)
	}
	return r, nil
}

// retracted is what taking retracted rows out of a parent changed.
type retracted struct {
	// tables holds the parent's shards of each table, those that held a
	// retracted row rewritten (or gone when nothing was left).
	tables        map[string][]schemas.Shard
	rows, rejects int64
	langs, hosts  map[string]int64
}

// retractTable describes one table for rewriteTable.
type retractTable struct {
	dir    string
	schema *arrow.Schema
	idCol  string
	kind   string // "d" or "r"
}

// retract rewrites the parent's tables without the rows in drop. The
// document table of a migrated parent is already rewritten (migrate
// filters it), so only the other tables are done then. A table whose kind
// of record has nothing in drop is kept as it is, unread: retracting a
// reject reads no document shard, and retracting a document no reject.
func (b *versionBuilder) retract(parentCID cid.Cid, parent *schemas.Manifest, drop map[string]bool) error {
	r := b.retractedCounts()
	kinds := map[string]bool{}
	for k := range drop {
		kinds[k[:1]] = true
	}
	tables := []retractTable{
		{chunksDir, ChunkSchema, "document_id", "d"},
		{rejectsDir, RejectSchema, "id", "r"},
	}
	if !b.migrated {
		tables = append(tables,
			retractTable{dataDir, schemas.DocumentSchema, "id", "d"},
			retractTable{markdownDir, schemas.MarkdownSchema, "id", "d"})
	}
	for _, t := range tables {
		shards := parent.Shards
		if t.dir != dataDir {
			shards = parent.Tables[t.dir]
		}
		if !kinds[t.kind] {
			r.tables[t.dir] = shards
			continue
		}
		var onDrop func(rec arrow.RecordBatch, row int)
		switch t.dir {
		case dataDir:
			onDrop = func(rec arrow.RecordBatch, row int) {
				r.dropDoc(stringAt(rec, "language", row), stringAt(rec, "host", row))
			}
		case rejectsDir:
			onDrop = func(arrow.RecordBatch, int) { r.rejects++ }
		}
		out, err := b.rewriteTable(parentCID, t, shards, drop, onDrop)
		if err != nil {
			return fmt.Errorf("retracting rows from %s of version %s: %w", t.dir, parentCID, err)
		}
		r.tables[t.dir] = out
	}
	return nil
}

// retractedCounts is b.retracted, made on first use.
func (b *versionBuilder) retractedCounts() *retracted {
	if b.retracted == nil {
		b.retracted = &retracted{tables: map[string][]schemas.Shard{}, langs: map[string]int64{}, hosts: map[string]int64{}}
	}
	return b.retracted
}

// dropDoc counts one document taken out.
func (r *retracted) dropDoc(lang, host string) {
	r.rows++
	r.langs[lang]--
	if host != "" {
		r.hosts[host]--
	}
}

// stringAt is the string in column name of rec's row, "" when absent.
func stringAt(rec arrow.RecordBatch, name string, row int) string {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return ""
	}
	col, ok := rec.Column(idx[0]).(*array.String)
	if !ok || col.IsNull(row) {
		return ""
	}
	return col.Value(row)
}

// rewriteTable returns shards with every shard that holds a row whose id
// is in drop rewritten without it, in place; a shard left with no rows is
// dropped. It reads only the id column of shards it keeps as they are.
func (b *versionBuilder) rewriteTable(root cid.Cid, t retractTable, shards []schemas.Shard, drop map[string]bool, onDrop func(arrow.RecordBatch, int)) ([]schemas.Shard, error) {
	var out []schemas.Shard
	for _, sh := range shards {
		hit := false
		err := b.s.readShardColumns(b.ctx, root, sh.Path, []string{t.idCol}, func(rec arrow.RecordBatch) error {
			ids, ok := rec.Column(0).(*array.String)
			if !ok {
				return fmt.Errorf("%s: column %s is %s, not a string", sh.Path, t.idCol, rec.Column(0).DataType())
			}
			for i := range ids.Len() {
				if drop[t.kind+ids.Value(i)] {
					hit = true
					return errStopScan
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopScan) {
			return nil, err
		}
		if !hit {
			out = append(out, sh)
			continue
		}
		kept, err := b.rewriteShard(root, t, sh, drop, onDrop)
		if err != nil {
			return nil, err
		}
		out = append(out, kept...)
	}
	return out, nil
}

// errStopScan ends a shard scan early.
var errStopScan = errors.New("scan stopped")

// rewriteShard writes the rows of sh whose ids are not in drop to new
// shards, in their order.
func (b *versionBuilder) rewriteShard(root cid.Cid, t retractTable, sh schemas.Shard, drop map[string]bool, onDrop func(arrow.RecordBatch, int)) ([]schemas.Shard, error) {
	idCol := t.schema.FieldIndices(t.idCol)[0] // each table has its id column
	tw := newTableWriter(b.ctx, t.schema, dagSink(b.s.dag), b.opts.RowGroupBytes, b.opts.ShardBytes)
	err := b.s.readShard(b.ctx, root, sh.Path, func(read arrow.RecordBatch) error {
		if !sameColumns(read.Schema(), t.schema) {
			return fmt.Errorf("%s: columns %s are not the table's %s", sh.Path, read.Schema(), t.schema)
		}
		// The columns as read, under the table's own schema (the reader
		// adds Parquet field ids to each field). Having the table's
		// columns, rec has its string id column.
		rec := array.NewRecordBatch(t.schema, read.Columns(), read.NumRows())
		defer rec.Release()
		ids := rec.Column(idCol).(*array.String)
		n := int(rec.NumRows())
		perRow := recordBytes(rec) / int64(max(n, 1))
		start := 0
		flush := func(end int) error {
			if end <= start {
				return nil
			}
			part := rec.NewSlice(int64(start), int64(end))
			defer part.Release()
			return tw.write(part, perRow*int64(end-start))
		}
		for i := range n {
			if !drop[t.kind+ids.Value(i)] {
				continue
			}
			if err := flush(i); err != nil {
				return err
			}
			if onDrop != nil {
				onDrop(rec, i)
			}
			start = i + 1
		}
		return flush(n)
	})
	if err != nil {
		tw.abort(err)
		return nil, err
	}
	return tw.close(false)
}

// sameColumns reports whether a and b have the same column names, types
// and nullability, in the same order.
func sameColumns(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i, f := range a.Fields() {
		g := b.Field(i)
		if f.Name != g.Name || f.Nullable != g.Nullable || !arrow.TypeEqual(f.Type, g.Type) {
			return false
		}
	}
	return true
}

// recordBytes is the size of rec's buffers.
func recordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, col := range rec.Columns() {
		n += arrayBytes(col)
	}
	return n
}

// apply subtracts what retraction took out from m's counts.
func (r *retracted) apply(m *schemas.Manifest) {
	m.Rows -= r.rows
	m.Rejected -= r.rejects
	m.Retracted = r.rows + r.rejects
	for _, c := range []struct{ to, delta map[string]int64 }{{m.Languages, r.langs}, {m.Hosts, r.hosts}} {
		for k, d := range c.delta {
			if c.to[k] += d; c.to[k] <= 0 {
				delete(c.to, k)
			}
		}
	}
}
