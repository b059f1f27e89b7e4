package storage

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

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
	// Title is the document's title (nil when it has none) and Language
	// its language code, so a retriever can cite and filter a passage
	// without joining the document table.
	Title    *string
	Language string
}

// Chunking defaults.
const (
	// DefaultChunkSize is the target chunk length in characters.
	DefaultChunkSize = 1000
	// DefaultChunkOverlap is the overlap of chunks of DefaultChunkSize;
	// smaller chunks repeat a fifth of their size.
	DefaultChunkOverlap = 200
)

// ChunkOptions controls how documents are cut for RAG.
type ChunkOptions struct {
	// Size is the target chunk length in characters (default
	// DefaultChunkSize).
	Size int
	// Overlap is how many characters of the previous chunk a chunk repeats,
	// rounded down to whole sentences, and must be below Size. Zero means
	// the default (DefaultChunkOverlap, or a fifth of Size when that is
	// smaller); negative means no overlap.
	Overlap int
}

// Default fills the unset fields of o.
func (o *ChunkOptions) Default() {
	if o.Size == 0 {
		o.Size = DefaultChunkSize
	}
	if o.Overlap == 0 {
		o.Overlap = defaultOverlap(o.Size)
	}
}

// defaultOverlap is the overlap of chunks of size characters when none is
// set: DefaultChunkOverlap, or a fifth of size when that is smaller.
func defaultOverlap(size int) int {
	return max(min(DefaultChunkOverlap, size/5), 0)
}

// Validate checks o after Default.
func (o ChunkOptions) Validate() error {
	var errs []error
	if o.Size < 1 {
		errs = append(errs, fmt.Errorf("storage chunk options: size %d must be positive (leave it 0 for %d)", o.Size, DefaultChunkSize))
	}
	if o.Size >= 1 && o.Overlap >= o.Size {
		errs = append(errs, fmt.Errorf("storage chunk options: overlap %d must be below the size %d (leave it 0 for the default, negative for none)", o.Overlap, o.Size))
	}
	return errors.Join(errs...)
}

// lenient returns o with defaults, and with the settings Validate refuses
// made usable, as ChunkText has always taken them: a negative Size means
// the default size, and an Overlap not below Size the default overlap. A
// negative Overlap becomes 0.
func (o ChunkOptions) lenient() ChunkOptions {
	o.Size = max(o.Size, 0)
	o.Default()
	switch {
	case o.Overlap < 0:
		o.Overlap = 0
	case o.Overlap >= o.Size:
		o.Overlap = defaultOverlap(o.Size)
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
	{Name: "title", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "language", Type: arrow.BinaryTypes.String},
}, nil)

// span is a half-open range of text, as rune offsets (start, end) and as
// the byte offsets of the same runes (bstart, bend).
type span struct{ start, end, bstart, bend int }

// ChunkText cuts text into passages of about opts.Size characters on
// paragraph and sentence boundaries, each repeating about opts.Overlap
// characters of the one before. A sentence longer than Size is cut at
// whitespace (or hard, when it has none). Invalid UTF-8 is read as Go's
// []rune conversion reads it: each bad byte is one U+FFFD. ChunkText takes
// any opts, even those Validate refuses (see ChunkOptions).
func ChunkText(docID, url, text string, opts ChunkOptions) []Chunk {
	opts = opts.lenient()
	if !utf8.ValidString(text) {
		text = string([]rune(text))
	}
	units := splitUnits(text, opts.Size)
	if len(units) == 0 {
		return nil
	}
	var out []Chunk
	emit := func(first, last span) {
		passage := text[first.bstart:last.bend]
		out = append(out, Chunk{
			DocumentID:    docID,
			URL:           url,
			Index:         int32(len(out)),
			Text:          passage,
			CharStart:     int64(first.start),
			CharEnd:       int64(last.end),
			TokenEstimate: estimateTokens(passage),
		})
	}
	first := 0 // first unit of the chunk being built
	for first < len(units) {
		last := first
		for last+1 < len(units) && units[last+1].end-units[first].start <= opts.Size {
			last++
		}
		emit(units[first], units[last])
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
func estimateTokens(s string) int32 {
	var latin, cjk int
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			latin++
			i++
			continue
		}
		c, n := utf8.DecodeRuneInString(s[i:])
		i += n
		// Every CJK script sits above U+2E80; skip the table lookup below.
		if c >= 0x2E80 && unicode.In(c, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) {
			cjk++
		} else {
			latin++
		}
	}
	return int32(cjk + (latin+3)/4)
}

// splitUnits splits valid UTF-8 text into sentence units (trimmed of
// surrounding whitespace), none longer than max runes. It walks the string
// once; only a unit longer than max gets a table of its rune offsets.
func splitUnits(text string, max int) []span {
	var units []span
	add := func(s span) {
		for s.start < s.end {
			c, n := utf8.DecodeRuneInString(text[s.bstart:])
			if !unicode.IsSpace(c) {
				break
			}
			s.start, s.bstart = s.start+1, s.bstart+n
		}
		for s.end > s.start {
			c, n := utf8.DecodeLastRuneInString(text[:s.bend])
			if !unicode.IsSpace(c) {
				break
			}
			s.end, s.bend = s.end-1, s.bend-n
		}
		if s.end-s.start > max {
			units = cutLong(text, s, max, units)
		} else if s.end > s.start {
			units = append(units, s)
		}
	}
	start, bstart := 0, 0
	ri := 0 // rune index of the rune at byte bi
	for bi := 0; bi < len(text); {
		c, n := rune(text[bi]), 1
		if c >= utf8.RuneSelf {
			c, n = utf8.DecodeRuneInString(text[bi:])
		}
		next := bi + n
		switch c {
		case '\n':
			if next < len(text) && text[next] == '\n' {
				add(span{start, ri, bstart, bi})
				for next < len(text) && text[next] == '\n' {
					next++
					ri++
				}
				start, bstart = ri+1, next
			}
		case '.', '!', '?', '。', '！', '？':
			if isSentenceEnd(c, text[next:]) {
				add(span{start, ri + 1, bstart, next})
				start, bstart = ri+1, next
			}
		}
		ri++
		bi = next
	}
	add(span{start, ri, bstart, len(text)})
	return units
}

// cutLong appends to units the pieces of a unit longer than max runes: each
// cut at the last whitespace in its second half, or hard at max.
func cutLong(text string, s span, max int, units []span) []span {
	// offs[i] is the byte offset of rune s.start+i; one more for s.end.
	offs := make([]int, 0, s.end-s.start+1)
	for i := range text[s.bstart:s.bend] {
		offs = append(offs, s.bstart+i)
	}
	offs = append(offs, s.bend)
	space := func(i int) bool {
		c, _ := utf8.DecodeRuneInString(text[offs[i-s.start]:])
		return unicode.IsSpace(c)
	}
	piece := func(a, b int) span { return span{a, b, offs[a-s.start], offs[b-s.start]} }
	at := s.start
	for s.end-at > max {
		cut := at + max
		for i := cut; i > at+max/2; i-- {
			if space(i) {
				cut = i
				break
			}
		}
		units = append(units, piece(at, cut))
		at = cut
		for at < s.end && space(at) {
			at++
		}
	}
	if s.end > at {
		units = append(units, piece(at, s.end))
	}
	return units
}

// isSentenceEnd reports whether c, followed by rest, ends a sentence: a
// terminal mark followed by whitespace or the end of the text (CJK marks
// end one alone).
func isSentenceEnd(c rune, rest string) bool {
	switch c {
	case '。', '！', '？':
		return true
	case '.', '!', '?':
		if rest == "" {
			return true
		}
		next, _ := utf8.DecodeRuneInString(rest)
		return unicode.IsSpace(next)
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
		if c.Title != nil {
			b.Field(7).(*array.StringBuilder).Append(*c.Title)
		} else {
			b.Field(7).AppendNull()
		}
		b.Field(8).(*array.StringBuilder).Append(c.Language)
	}
	return b.NewRecordBatch()
}

func chunkBytes(c *Chunk) int64 {
	n := len(c.DocumentID) + len(c.Text) + len(c.URL) + len(c.Language) + 28
	if c.Title != nil {
		n += len(*c.Title)
	}
	return int64(n)
}
