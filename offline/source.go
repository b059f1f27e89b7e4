package offline

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/swardnet/sward/schemas"
)

// Source yields the captures of one input file, in file order. Next and
// Close are called from one goroutine; Progress may be called from any.
type Source interface {
	// Next returns the next capture, io.EOF at the end of the input, or
	// an *InputError where the input is damaged (reading stops there).
	Next() (*schemas.Capture, error)
	// Progress reports work done and total, in the source's own unit
	// ("bytes" or "records").
	Progress() (done, total int64, unit string)
	Close() error
}

// recordCounter is a Source whose input also holds records that are not
// captures (a WARC's warcinfo, request, metadata, revisit records).
type recordCounter interface {
	// takeRecordCounts returns the records read since the last call, by
	// type, and forgets them.
	takeRecordCounts() map[string]int
}

// InputError says where an input file is damaged: the captures before it
// were read and kept; reading stopped there.
type InputError struct {
	// Path is the input file.
	Path string
	// Record is the 1-based number of the record (in the source's own
	// numbering: WARC records, JSONL lines, Parquet rows) that could not
	// be read.
	Record int64
	// Offset is the byte offset of that record in the file (for a WARC
	// gzipped as one stream, in the decompressed stream), or -1.
	Offset int64
	// Err is what went wrong.
	Err error
}

func (e *InputError) Error() string {
	at := fmt.Sprintf("record %d", e.Record)
	if e.Offset >= 0 {
		at += fmt.Sprintf(" (offset %d)", e.Offset)
	}
	return fmt.Sprintf("input %s is damaged at %s: %v", e.Path, at, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

// Open opens the Source for path, chosen by its name: .warc or .warc.gz,
// .parquet, .jsonl/.json/.jsonl.gz.
func Open(path string) (Source, error) {
	lower := strings.ToLower(path)
	switch {
	case strings.HasSuffix(lower, ".warc") || strings.HasSuffix(lower, ".warc.gz"):
		return openWARC(path)
	case strings.HasSuffix(lower, ".parquet"):
		return openParquet(path)
	case strings.HasSuffix(lower, ".jsonl") || strings.HasSuffix(lower, ".json") || strings.HasSuffix(lower, ".jsonl.gz"):
		return openJSONL(path)
	}
	return nil, fmt.Errorf("input %s: unknown format (want .warc, .warc.gz, .parquet or .jsonl)", path)
}

// countingFile counts the bytes read, for byte-based progress.
type countingFile struct {
	f    *os.File
	n    atomic.Int64 // read by the progress display while the reader runs
	size int64
}

func newCountingFile(path, what string) (*countingFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", what, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w", what, err)
	}
	return &countingFile{f: f, size: st.Size()}, nil
}

func (c *countingFile) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	c.n.Add(int64(n))
	return n, err
}
