package storage

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/ipfs/go-cid"
	"github.com/swardnet/sward/schemas"
)

// Diff compares two dataset versions shard by shard. Shards are compared by
// CID, so a shard that was only renamed counts as shared.
type Diff struct {
	From, To string
	// Tables maps "data", "markdown", "chunks" and "rejects" to their shard changes.
	Tables    map[string]TableDiff
	RowsDelta int64
	// Languages and Hosts hold count changes (non-zero only).
	Languages map[string]int64
	Hosts     map[string]int64
	// Ancestor reports whether From is an ancestor of To by parent links
	// available in the store.
	Ancestor bool
}

// TableDiff lists shards only in one version and the number shared.
type TableDiff struct {
	Added   []schemas.Shard
	Removed []schemas.Shard
	Shared  int
}

// DiffVersions compares versions a and b, both in the store.
func (s *Store) DiffVersions(ctx context.Context, a, b cid.Cid) (*Diff, error) {
	ma, err := s.Manifest(ctx, a)
	if err != nil {
		return nil, err
	}
	mb, err := s.Manifest(ctx, b)
	if err != nil {
		return nil, err
	}
	d := &Diff{From: a.String(), To: b.String(), Tables: map[string]TableDiff{},
		RowsDelta: mb.Rows - ma.Rows, Languages: countDelta(ma.Languages, mb.Languages), Hosts: countDelta(ma.Hosts, mb.Hosts)}
	tables := func(m *schemas.Manifest) map[string][]schemas.Shard {
		t := map[string][]schemas.Shard{dataDir: m.Shards}
		for k, v := range m.Tables {
			t[k] = v
		}
		return t
	}
	ta, tb := tables(ma), tables(mb)
	for name := range mergeKeys(ta, tb) {
		d.Tables[name] = diffShards(ta[name], tb[name])
	}
	// Follow parents from b looking for a (bounded, local only).
	cur := mb
	for i := 0; i < 10000 && cur.Parent != ""; i++ {
		if cur.Parent == a.String() {
			d.Ancestor = true
			break
		}
		pc, err := cid.Decode(cur.Parent)
		if err != nil {
			break
		}
		if cur, err = s.Manifest(ctx, pc); err != nil {
			break
		}
	}
	return d, nil
}

func mergeKeys(a, b map[string][]schemas.Shard) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func diffShards(a, b []schemas.Shard) TableDiff {
	inA := map[string]bool{}
	for _, s := range a {
		inA[s.CID] = true
	}
	inB := map[string]bool{}
	var d TableDiff
	for _, s := range b {
		inB[s.CID] = true
		if inA[s.CID] {
			d.Shared++
		} else {
			d.Added = append(d.Added, s)
		}
	}
	for _, s := range a {
		if !inB[s.CID] {
			d.Removed = append(d.Removed, s)
		}
	}
	return d
}

func countDelta(a, b map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range b {
		if dv := v - a[k]; dv != 0 {
			out[k] = dv
		}
	}
	for k, v := range a {
		if _, ok := b[k]; !ok {
			out[k] = -v
		}
	}
	return out
}

// WriteText prints the diff for a terminal.
func (d *Diff) WriteText(w io.Writer) {
	fmt.Fprintf(w, "from %s\n  to %s\n", d.From, d.To)
	if d.Ancestor {
		fmt.Fprintln(w, "  (from is an ancestor of to)")
	}
	fmt.Fprintf(w, "rows: %+d\n", d.RowsDelta)
	names := make([]string, 0, len(d.Tables))
	for n := range d.Tables {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := d.Tables[n]
		fmt.Fprintf(w, "%s: %d shared, %d added, %d removed\n", n, t.Shared, len(t.Added), len(t.Removed))
		for _, s := range t.Added {
			fmt.Fprintf(w, "  + %s %s (%d rows, %d bytes)\n", s.Path, s.CID, s.Rows, s.Bytes)
		}
		for _, s := range t.Removed {
			fmt.Fprintf(w, "  - %s %s (%d rows, %d bytes)\n", s.Path, s.CID, s.Rows, s.Bytes)
		}
	}
	for _, kv := range topCounts(d.Languages, 0) {
		fmt.Fprintf(w, "language %s: %+d\n", kv.key, kv.n)
	}
	for _, kv := range topCounts(d.Hosts, 20) {
		fmt.Fprintf(w, "host %s: %+d\n", kv.key, kv.n)
	}
}
