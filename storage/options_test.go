package storage

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestChunkOptionsDefault(t *testing.T) {
	tests := []struct {
		name string
		in   ChunkOptions
		want ChunkOptions
	}{
		{"zero", ChunkOptions{}, ChunkOptions{Size: DefaultChunkSize, Overlap: DefaultChunkOverlap}},
		{"small size", ChunkOptions{Size: 100}, ChunkOptions{Size: 100, Overlap: 20}},
		{"tiny size", ChunkOptions{Size: 3}, ChunkOptions{Size: 3, Overlap: 0}},
		{"no overlap", ChunkOptions{Overlap: -1}, ChunkOptions{Size: DefaultChunkSize, Overlap: -1}},
		{"own values", ChunkOptions{Size: 300, Overlap: 60}, ChunkOptions{Size: 300, Overlap: 60}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.in
			o.Default()
			if o != tc.want {
				t.Errorf("Default(%+v) = %+v, want %+v", tc.in, o, tc.want)
			}
			// Default is idempotent: options defaulted by a dataset writer
			// and again by ChunkText mean the same.
			again := o
			again.Default()
			if again != o {
				t.Errorf("second Default changed %+v to %+v", o, again)
			}
		})
	}
}

func TestChunkOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    ChunkOptions
		wantErr string
	}{
		{"zero value", ChunkOptions{}, ""},
		{"no overlap", ChunkOptions{Size: 10, Overlap: -1}, ""},
		{"own values", ChunkOptions{Size: 10, Overlap: 9}, ""},
		{"negative size", ChunkOptions{Size: -1}, "size -1"},
		{"overlap equal to size", ChunkOptions{Size: 10, Overlap: 10}, "overlap 10"},
		{"overlap above default size", ChunkOptions{Overlap: 5000}, "overlap 5000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Default()
			err := o.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "storage chunk options") {
				t.Fatalf("Validate = %v, want a storage chunk options error about %q", err, tc.wantErr)
			}
		})
	}
}

// TestChunkTextTakesAnyOptions: ChunkText still reads options Validate
// refuses as it always has.
func TestChunkTextTakesAnyOptions(t *testing.T) {
	text := strings.Repeat("A sentence of some length here. ", 20) + "\n\n" + strings.Repeat("Another one, a bit longer than that. ", 30)
	tests := []struct {
		name      string
		opts      ChunkOptions
		sameAsFor ChunkOptions
	}{
		{"negative size", ChunkOptions{Size: -3}, ChunkOptions{}},
		{"overlap not below size", ChunkOptions{Size: 100, Overlap: 100}, ChunkOptions{Size: 100}},
		{"negative overlap", ChunkOptions{Size: 100, Overlap: -7}, ChunkOptions{Size: 100, Overlap: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ChunkText("d", "", text, tc.opts)
			want := ChunkText("d", "", text, tc.sameAsFor)
			if len(got) == 0 || len(got) != len(want) {
				t.Fatalf("%d chunks, want %d", len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("chunk %d = %+v, want %+v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestDatasetOptionsDefault(t *testing.T) {
	var o DatasetOptions
	o.Default()
	want := DatasetOptions{
		RowGroupBytes: DefaultRowGroupBytes,
		ShardBytes:    DefaultShardBytes,
		BatchBytes:    DefaultBatchBytes,
		Chunks:        ChunkOptions{Size: DefaultChunkSize, Overlap: DefaultChunkOverlap},
	}
	if o != want {
		t.Errorf("Default = %+v, want %+v", o, want)
	}
	if o.RowGroupBytes != 100<<20 || o.ShardBytes != 500<<20 || o.BatchBytes != 8<<20 {
		t.Errorf("defaults changed: %+v", o)
	}
	own := DatasetOptions{RowGroupBytes: 1, ShardBytes: 2, BatchBytes: 3, Chunks: ChunkOptions{Size: 40, Overlap: 4}}
	kept := own
	kept.Default()
	if kept != own {
		t.Errorf("Default replaced set fields: %+v, want %+v", kept, own)
	}
}

func TestDatasetOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    DatasetOptions
		wantErr string
	}{
		{"zero value", DatasetOptions{}, ""},
		{"own values", DatasetOptions{RowGroupBytes: 8 << 10, ShardBytes: 10 << 10, BatchBytes: 4 << 10, Chunks: ChunkOptions{Size: 40, Overlap: -1}}, ""},
		{"negative row group", DatasetOptions{RowGroupBytes: -1}, "row group bytes -1"},
		{"negative shard", DatasetOptions{ShardBytes: -2}, "shard bytes -2"},
		{"negative batch", DatasetOptions{BatchBytes: -3}, "batch bytes -3"},
		{"bad chunks", DatasetOptions{Chunks: ChunkOptions{Size: -4}}, "chunks: storage chunk options: size -4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Default()
			err := o.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "storage dataset options") {
				t.Fatalf("Validate = %v, want a storage dataset options error about %q", err, tc.wantErr)
			}
		})
	}
}

// TestOpenDatasetRefusesBadOptions: OpenDataset returns Validate's error
// and leaves no writer open.
func TestOpenDatasetRefusesBadOptions(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.OpenDataset(ctx, "d", DatasetOptions{ShardBytes: -1}); err == nil || !strings.Contains(err.Error(), "shard bytes -1") {
		t.Fatalf("OpenDataset with bad options = %v, want the shard bytes error", err)
	}
	w, err := s.OpenDataset(ctx, "d", DatasetOptions{})
	if err != nil {
		t.Fatalf("OpenDataset after a refused open: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestServeConfigDefaultValidate: a zero ServeConfig reprovides every
// ReprovideInterval; an interval under a minute is refused.
func TestServeConfigDefaultValidate(t *testing.T) {
	var c ServeConfig
	c.Default()
	if c.Reprovide != ReprovideInterval {
		t.Errorf("default reprovide %s, want %s", c.Reprovide, ReprovideInterval)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	c.Reprovide = time.Second
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "reprovide") {
		t.Errorf("a 1s reprovide interval: %v, want an error naming it", err)
	}
}
