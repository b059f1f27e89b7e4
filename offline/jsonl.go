package offline

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"

	"github.com/swardnet/sward/schemas"
)

// jsonlSource reads one JSON schemas.Capture per line, gzipped or not.
type jsonlSource struct {
	path string
	cf   *countingFile
	dec  *json.Decoder
	n    int64 // captures read
}

func openJSONL(path string) (*jsonlSource, error) {
	cf, err := newCountingFile(path, "captures")
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(cf, 1<<20)
	var r io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			cf.f.Close()
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		r = zr
	}
	return &jsonlSource{path: path, cf: cf, dec: json.NewDecoder(r)}, nil
}

func (s *jsonlSource) Next() (*schemas.Capture, error) {
	var c schemas.Capture
	off := s.dec.InputOffset()
	if err := s.dec.Decode(&c); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, &InputError{Path: s.path, Record: s.n + 1, Offset: off, Err: fmt.Errorf("decoding capture: %w", err)}
	}
	s.n++
	return &c, nil
}

func (s *jsonlSource) Progress() (int64, int64, string) { return s.cf.n.Load(), s.cf.size, "bytes" }
func (s *jsonlSource) Close() error                     { return s.cf.f.Close() }
