package storage

import (
	"context"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/swardnet/sward/schemas"
)

func TestChunkText(t *testing.T) {
	sentences := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString("This is sentence number ")
			b.WriteString(strings.Repeat("x", i%5))
			b.WriteString(". ")
		}
		return b.String()
	}
	tests := []struct {
		name       string
		text       string
		opts       ChunkOptions
		wantChunks int // -1: at least 2
		maxLen     int
	}{
		{"empty", "", ChunkOptions{}, 0, 0},
		{"whitespace only", " \n\n \t", ChunkOptions{}, 0, 0},
		{"short", "One sentence. Two sentences.", ChunkOptions{}, 1, 1000},
		{"paragraphs", strings.Repeat("Para text here.\n\n", 10), ChunkOptions{Size: 40, Overlap: -1}, -1, 40},
		{"long text with overlap", sentences(200), ChunkOptions{Size: 300, Overlap: 60}, -1, 300},
		{"one huge sentence", strings.Repeat("word ", 500), ChunkOptions{Size: 100, Overlap: -1}, -1, 100},
		{"no spaces at all", strings.Repeat("a", 250), ChunkOptions{Size: 100, Overlap: -1}, 3, 100},
		{"cjk", strings.Repeat("这是一个句子。", 60), ChunkOptions{Size: 50, Overlap: 10}, -1, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chunks := ChunkText("doc", "http://127.0.0.1/", tc.text, tc.opts)
			if tc.wantChunks >= 0 && len(chunks) != tc.wantChunks {
				t.Fatalf("got %d chunks, want %d", len(chunks), tc.wantChunks)
			}
			if tc.wantChunks < 0 && len(chunks) < 2 {
				t.Fatalf("got %d chunks, want several", len(chunks))
			}
			checkChunks(t, tc.text, chunks, tc.maxLen)
		})
	}
}

func TestChunkOverlapRepeatsSentences(t *testing.T) {
	text := "Alpha one. Beta two. Gamma three. Delta four. Epsilon five. Zeta six."
	chunks := ChunkText("d", "", text, ChunkOptions{Size: 35, Overlap: 12})
	if len(chunks) < 3 {
		t.Fatalf("got %d chunks", len(chunks))
	}
	for i := 1; i < len(chunks); i++ {
		if chunks[i].CharStart >= chunks[i-1].CharEnd {
			t.Errorf("chunk %d starts at %d, after the previous end %d: no overlap", i, chunks[i].CharStart, chunks[i-1].CharEnd)
		}
		if !strings.HasSuffix(chunks[i-1].Text, ".") {
			t.Errorf("chunk %d does not end on a sentence: %q", i-1, chunks[i-1].Text)
		}
	}
}

// checkChunks asserts the invariants every chunking must keep.
func checkChunks(t *testing.T, text string, chunks []Chunk, maxLen int) {
	t.Helper()
	runes := []rune(text)
	prevStart, prevEnd := int64(-1), int64(0)
	for i, c := range chunks {
		if c.Index != int32(i) {
			t.Fatalf("chunk %d has index %d", i, c.Index)
		}
		if c.CharStart < 0 || c.CharEnd > int64(len(runes)) || c.CharStart >= c.CharEnd {
			t.Fatalf("chunk %d has bad offsets [%d,%d) in %d runes", i, c.CharStart, c.CharEnd, len(runes))
		}
		if got := string(runes[c.CharStart:c.CharEnd]); got != c.Text {
			t.Fatalf("chunk %d text %q != text[%d:%d] %q", i, c.Text, c.CharStart, c.CharEnd, got)
		}
		if maxLen > 0 && utf8.RuneCountInString(c.Text) > maxLen {
			t.Fatalf("chunk %d has %d runes, over %d", i, utf8.RuneCountInString(c.Text), maxLen)
		}
		if c.CharStart <= prevStart || c.CharEnd <= prevEnd {
			t.Fatalf("chunk %d [%d,%d) does not advance past [%d,%d)", i, c.CharStart, c.CharEnd, prevStart, prevEnd)
		}
		if c.TokenEstimate <= 0 {
			t.Fatalf("chunk %d has token estimate %d", i, c.TokenEstimate)
		}
		prevStart, prevEnd = c.CharStart, c.CharEnd
	}
	// Every non-space character is covered by some chunk.
	covered := make([]bool, len(runes))
	for _, c := range chunks {
		for j := c.CharStart; j < c.CharEnd; j++ {
			covered[j] = true
		}
	}
	for j, r := range runes {
		if !covered[j] && !unicode.IsSpace(r) {
			t.Fatalf("character %d (%q) is in no chunk", j, r)
		}
	}
}

func FuzzChunkText(f *testing.F) {
	f.Add("Hello world. This is a test.\n\nNew paragraph! And? More", 20, 5)
	f.Add(strings.Repeat("ab ", 100), 7, 3)
	f.Add("日本語の文。もう一つ。", 3, 1)
	f.Add("Grüße aus Köln.\u00a0Straße! Über\u0085alles?\n\n\nÄra.", 6, 2)
	f.Add("bad \xe2\x82 bytes. \xff\xfe more\xe2. end", 5, 1)
	f.Fuzz(func(t *testing.T, text string, size, overlap int) {
		if size > 5000 || size < -10 {
			return
		}
		opts := ChunkOptions{Size: size, Overlap: overlap}
		chunks := ChunkText("d", "", text, opts)
		filled := opts.lenient()
		checkChunks(t, text, chunks, filled.Size)
		if want := chunkTextByRunes("d", "", text, opts); !slices.Equal(chunks, want) {
			t.Fatalf("ChunkText differs from the rune-slice reference:\n got %+v\nwant %+v", chunks, want)
		}
	})
}

// chunkTextByRunes is the plain statement of the chunking rules that
// ChunkText implements in one pass over the string: it converts the text
// to runes and indexes them directly. Kept to check ChunkText against.
func chunkTextByRunes(docID, url, text string, opts ChunkOptions) []Chunk {
	opts = opts.lenient()
	r := []rune(text)
	type unit struct{ start, end int }
	var units []unit
	add := func(s unit) {
		for s.start < s.end && unicode.IsSpace(r[s.start]) {
			s.start++
		}
		for s.end > s.start && unicode.IsSpace(r[s.end-1]) {
			s.end--
		}
		for s.end-s.start > opts.Size {
			cut := s.start + opts.Size
			for i := cut; i > s.start+opts.Size/2; i-- {
				if unicode.IsSpace(r[i]) {
					cut = i
					break
				}
			}
			units = append(units, unit{s.start, cut})
			s.start = cut
			for s.start < s.end && unicode.IsSpace(r[s.start]) {
				s.start++
			}
		}
		if s.end > s.start {
			units = append(units, s)
		}
	}
	start := 0
	for i := 0; i < len(r); i++ {
		switch {
		case r[i] == '\n' && i+1 < len(r) && r[i+1] == '\n':
			add(unit{start, i})
			for i+1 < len(r) && r[i+1] == '\n' {
				i++
			}
			start = i + 1
		case r[i] == '。' || r[i] == '！' || r[i] == '？',
			(r[i] == '.' || r[i] == '!' || r[i] == '?') && (i+1 == len(r) || unicode.IsSpace(r[i+1])):
			add(unit{start, i + 1})
			start = i + 1
		}
	}
	add(unit{start, len(r)})
	var out []Chunk
	for first := 0; first < len(units); {
		last := first
		for last+1 < len(units) && units[last+1].end-units[first].start <= opts.Size {
			last++
		}
		a, b := units[first].start, units[last].end
		latin, cjk := 0, 0
		for _, c := range r[a:b] {
			if unicode.In(c, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) {
				cjk++
			} else {
				latin++
			}
		}
		out = append(out, Chunk{DocumentID: docID, URL: url, Index: int32(len(out)), Text: string(r[a:b]),
			CharStart: int64(a), CharEnd: int64(b), TokenEstimate: int32(cjk + (latin+3)/4)})
		if last == len(units)-1 {
			break
		}
		next := last + 1
		for next-1 > first && units[last].end-units[next-1].start <= opts.Overlap &&
			units[last+1].end-units[next-1].start <= opts.Size {
			next--
		}
		first = next
	}
	return out
}

// TestChunksTableTitleAndLanguage: every chunk row names its document's
// title (null when it has none) and language.
func TestChunksTableTitleAndLanguage(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	docs := testDocs("t", 30)
	root, m := publishDocs(t, s, "chunked", DatasetOptions{}, docs)
	byID := map[string]schemas.Document{}
	for _, d := range docs {
		byID[d.ID] = d
	}
	rows, withTitle := 0, 0
	for _, sh := range m.Tables[chunksDir] {
		readParquetRecords(t, readStoreFile(t, s, root, sh.Path), func(rec arrow.RecordBatch) {
			col := func(name string) *array.String {
				return rec.Column(rec.Schema().FieldIndices(name)[0]).(*array.String)
			}
			ids, titles, langs := col("document_id"), col("title"), col("language")
			for i := 0; i < int(rec.NumRows()); i++ {
				d := byID[ids.Value(i)]
				rows++
				if langs.Value(i) != d.Language {
					t.Errorf("chunk %d of %s: language %q, want %q", i, d.ID, langs.Value(i), d.Language)
				}
				switch {
				case d.Title == nil && !titles.IsNull(i):
					t.Errorf("chunk of %s: title %q, want null", d.ID, titles.Value(i))
				case d.Title != nil && (titles.IsNull(i) || titles.Value(i) != *d.Title):
					t.Errorf("chunk of %s: title %q, want %q", d.ID, titles.Value(i), *d.Title)
				case d.Title != nil:
					withTitle++
				}
			}
		})
	}
	if rows < len(docs) || withTitle == 0 {
		t.Fatalf("%d chunk rows (%d with a title) for %d documents", rows, withTitle, len(docs))
	}
}
