package storage

import (
	"unicode"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Chunk is one retrieval passage of a document. Offsets count Unicode code
// points (Python str indices) into the document's text: Text ==
// []rune(doc.Text)[CharStart:CharEnd].
type Chunk struct {
	DocumentID    string
	URL           string
	Index         int32
	Text          string
	CharStart     int64
	CharEnd       int64
	TokenEstimate int32
}

// ChunkOptions controls how documents are cut for RAG.
type ChunkOptions struct {
	// Size is the target chunk length in characters (default 1000).
	Size int
	// Overlap is how many characters of the previous chunk a chunk repeats,
	// rounded down to whole sentences. Zero means the default (200, or a
	// fifth of Size when that is smaller); negative means no overlap.
	Overlap int
}

func (o ChunkOptions) withDefaults() ChunkOptions {
	if o.Size <= 0 {
		o.Size = 1000
	}
	switch {
	case o.Overlap < 0:
		o.Overlap = 0
	case o.Overlap == 0 || o.Overlap >= o.Size:
		o.Overlap = min(200, o.Size/5)
	}
	return o
}

// ChunkSchema is the Arrow schema of a version's chunks table.
var ChunkSchema = arrow.NewSchema([]arrow.Field{
	{Name: "document_id", Type: arrow.BinaryTypes.String},
	{Name: "chunk_index", Type: arrow.PrimitiveTypes.Int32},
	{Name: "text", Type: arrow.BinaryTypes.String},
	{Name: "char_start", Type: arrow.PrimitiveTypes.Int64},
	{Name: "char_end", Type: arrow.PrimitiveTypes.Int64},
	{Name: "token_estimate", Type: arrow.PrimitiveTypes.Int32},
	{Name: "url", Type: arrow.BinaryTypes.String},
}, nil)

// span is a half-open range of rune offsets.
type span struct{ start, end int }

// ChunkText cuts text into passages of about opts.Size characters on
// paragraph and sentence boundaries, each repeating about opts.Overlap
// characters of the one before. A sentence longer than Size is cut at
// whitespace (or hard, when it has none).
func ChunkText(docID, url, text string, opts ChunkOptions) []Chunk {
	opts = opts.withDefaults()
	runes := []rune(text)
	units := splitUnits(runes, opts.Size)
	if len(units) == 0 {
		return nil
	}
	var out []Chunk
	emit := func(s span) {
		out = append(out, Chunk{
			DocumentID:    docID,
			URL:           url,
			Index:         int32(len(out)),
			Text:          string(runes[s.start:s.end]),
			CharStart:     int64(s.start),
			CharEnd:       int64(s.end),
			TokenEstimate: estimateTokens(runes[s.start:s.end]),
		})
	}
	first := 0 // first unit of the chunk being built
	for first < len(units) {
		last := first
		for last+1 < len(units) && units[last+1].end-units[first].start <= opts.Size {
			last++
		}
		emit(span{units[first].start, units[last].end})
		if last == len(units)-1 {
			break
		}
		// Start the next chunk with trailing units that fit in the overlap,
		// but always move forward by at least one unit.
		// The overlap must leave room for the next new unit, or the
		// chunk would not advance.
		next := last + 1
		for next-1 > first && units[last].end-units[next-1].start <= opts.Overlap &&
			units[last+1].end-units[next-1].start <= opts.Size {
			next--
		}
		first = next
	}
	return out
}

// estimateTokens guesses a BPE token count: about four characters per token
// for Latin text, one per character for CJK scripts.
func estimateTokens(r []rune) int32 {
	var latin, cjk int
	for _, c := range r {
		// Every CJK script sits above U+2E80; skip the table lookup below.
		if c >= 0x2E80 && unicode.In(c, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) {
			cjk++
		} else {
			latin++
		}
	}
	return int32(cjk + (latin+3)/4)
}

// splitUnits splits text into sentence units (trimmed of surrounding
// whitespace), none longer than max runes.
func splitUnits(r []rune, max int) []span {
	var units []span
	add := func(s span) {
		for s.start < s.end && unicode.IsSpace(r[s.start]) {
			s.start++
		}
		for s.end > s.start && unicode.IsSpace(r[s.end-1]) {
			s.end--
		}
		for s.end-s.start > max {
			cut := s.start + max
			for i := cut; i > s.start+max/2; i-- {
				if unicode.IsSpace(r[i]) {
					cut = i
					break
				}
			}
			units = append(units, span{s.start, cut})
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
			add(span{start, i})
			for i+1 < len(r) && r[i+1] == '\n' {
				i++
			}
			start = i + 1
		case isSentenceEnd(r, i):
			add(span{start, i + 1})
			start = i + 1
		}
	}
	add(span{start, len(r)})
	return units
}

// isSentenceEnd reports whether r[i] ends a sentence: a terminal mark
// followed by whitespace or the end of the text (CJK marks end one alone).
func isSentenceEnd(r []rune, i int) bool {
	switch r[i] {
	case '。', '！', '？':
		return true
	case '.', '!', '?':
		return i+1 == len(r) || unicode.IsSpace(r[i+1])
	}
	return false
}

// chunksToRecord builds a record batch in ChunkSchema.
func chunksToRecord(mem memory.Allocator, chunks []Chunk) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, ChunkSchema)
	defer b.Release()
	for _, c := range chunks {
		b.Field(0).(*array.StringBuilder).Append(c.DocumentID)
		b.Field(1).(*array.Int32Builder).Append(c.Index)
		b.Field(2).(*array.StringBuilder).Append(c.Text)
		b.Field(3).(*array.Int64Builder).Append(c.CharStart)
		b.Field(4).(*array.Int64Builder).Append(c.CharEnd)
		b.Field(5).(*array.Int32Builder).Append(c.TokenEstimate)
		b.Field(6).(*array.StringBuilder).Append(c.URL)
	}
	return b.NewRecordBatch()
}

func chunkBytes(c *Chunk) int64 {
	return int64(len(c.DocumentID) + len(c.Text) + len(c.URL) + 28)
}
