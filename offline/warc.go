package offline

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"os"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/nlnwa/gowarc/v3"

	"github.com/swardnet/sward/schemas"
)

// warcOptions read leniently: syntax and spec violations are collected,
// not fatal, since real crawlers (wget, old Heritrix) bend WARC 1.0/1.1.
var warcOptions = []gowarc.WarcRecordOption{
	gowarc.WithSyntaxErrorPolicy(gowarc.ErrWarn), gowarc.WithSpecViolationPolicy(gowarc.ErrWarn),
}

// warcSource reads the response records of a WARC file as captures and
// counts every record by type.
type warcSource struct {
	path string
	cf   *countingFile
	zr   *gzip.Reader // set when the file is one gzip stream (see openWARC)
	r    *gowarc.WarcFileReader
	n    int64 // WARC records read
	// types counts the records read since takeRecordCounts last ran.
	types map[string]int
	// headers reads record headers again where gowarc blanked a target
	// URI: in a one-stream gzip file, a second decompressing reader that
	// only moves forward, at headersAt (record offsets are offsets in the
	// decompressed stream there).
	headers   *headerReader
	headersAt int64
}

// headerReader is a second pass over a one-stream gzip WARC.
type headerReader struct {
	f  *os.File
	br *bufio.Reader
}

// openWARC opens a WARC file: uncompressed, gzipped per record (the
// standard layout) or gzipped as one stream.
//
// gowarc reads a gzipped WARC one gzip member per record: after a record
// it drains the rest of its member, so a file gzipped as one stream (gzip
// crawl.warc) would yield its first record and then end. Such a file is
// told apart by looking at its first member (more data after the first
// record) and then decompressed here, so that gowarc sees a plain WARC.
func openWARC(path string) (*warcSource, error) {
	cf, err := newCountingFile(path, "WARC")
	if err != nil {
		return nil, err
	}
	if err := checkWARCStart(cf.f, path, cf.size); err != nil {
		cf.f.Close()
		return nil, err
	}
	s := &warcSource{path: path, cf: cf, types: map[string]int{}}
	var in io.Reader = cf
	if oneGzipStream(cf.f) {
		if _, err := cf.f.Seek(0, io.SeekStart); err != nil {
			cf.f.Close()
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if s.zr, err = gzip.NewReader(bufio.NewReaderSize(cf, 1<<20)); err != nil {
			cf.f.Close()
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		in = s.zr
	} else if _, err := cf.f.Seek(0, io.SeekStart); err != nil {
		cf.f.Close()
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if s.r, err = gowarc.NewWarcFileReaderFromStream(in, 0, warcOptions...); err != nil {
		cf.f.Close()
		return nil, fmt.Errorf("opening WARC %s: %w", path, err)
	}
	return s, nil
}

// oneGzipStream reports whether f starts with a gzip member that holds
// more than one WARC record (the file was gzipped as a whole). It reads
// the first record with gowarc's own parser; f's offset is left anywhere.
func oneGzipStream(f *os.File) bool {
	br := bufio.NewReader(f)
	if magic, err := br.Peek(2); err != nil || magic[0] != 0x1f || magic[1] != 0x8b {
		return false
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return false // the reader reports it
	}
	zr.Multistream(false)
	member := bufio.NewReader(zr)
	rec, _, _, err := gowarc.NewUnmarshaler(warcOptions...).Unmarshal(member)
	if rec != nil {
		rec.Close()
	}
	if err != nil {
		return false
	}
	_, err = member.Peek(1)
	return err == nil
}

// checkWARCStart refuses, with a message that says what is wrong, an empty
// input and one that is neither a WARC nor gzip data (instead of gowarc's
// "gzip: invalid header" for a file not even named .gz). It leaves f at
// the start.
func checkWARCStart(f *os.File, path string, size int64) error {
	if size == 0 {
		return fmt.Errorf("input %s is empty: no WARC records to read", path)
	}
	head := make([]byte, 5)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	head = head[:n]
	if bytes.HasPrefix(head, []byte{0x1f, 0x8b}) || bytes.HasPrefix(head, []byte("WARC/")) {
		return nil
	}
	return fmt.Errorf("input %s is not a WARC file: it starts with %q, not \"WARC/\" or a gzip header; check the file (a download error page?)", path, head)
}

func (s *warcSource) Next() (*schemas.Capture, error) {
	for {
		rec, err := s.r.Next()
		if err != nil {
			rec.Close()
			// A clean end consumes nothing; an end inside a record (a cut
			// header, a cut gzip member) is damage.
			if err == io.EOF && rec.Size == 0 && !s.junkAt(rec.Offset) {
				return nil, io.EOF
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, &InputError{Path: s.path, Record: s.n + 1, Offset: rec.Offset, Err: fmt.Errorf("reading WARC record: %w", err)}
		}
		wr := rec.WarcRecord
		if wr == nil {
			if s.junkAt(rec.Offset) {
				return nil, &InputError{Path: s.path, Record: s.n + 1, Offset: rec.Offset, Err: fmt.Errorf("reading WARC record: %w", io.ErrUnexpectedEOF)}
			}
			return nil, io.EOF
		}
		s.n++
		typ := wr.Type().String()
		c, err := captureFromWARC(wr)
		wr.Close()
		if err != nil {
			return nil, &InputError{Path: s.path, Record: s.n, Offset: rec.Offset, Err: fmt.Errorf("%s record: %w", typ, err)}
		}
		s.types[typ]++
		if c == nil {
			continue
		}
		if c.URL == "" {
			c.URL = s.rawTargetURI(rec.Offset)
		}
		return c, nil
	}
}

// junkAt reports whether the file holds more than blank lines from offset
// on, where gowarc saw the end: a last record cut inside its first bytes
// (less than a "WARC/" line, or its gzip header) ends gowarc's reading
// as if the file were complete. Only a file read as it is can be checked
// (offsets in a one-stream gzip file are decompressed ones; there the gzip
// reader itself reports a cut).
func (s *warcSource) junkAt(offset int64) bool {
	if s.zr != nil || offset >= s.cf.size {
		return false
	}
	tail, err := io.ReadAll(io.LimitReader(io.NewSectionReader(s.cf.f, offset, s.cf.size-offset), 4096))
	return err != nil || len(bytes.TrimSpace(tail)) > 0 || s.cf.size-offset > 4096
}

func (s *warcSource) takeRecordCounts() map[string]int {
	m := s.types
	s.types = map[string]int{}
	return m
}

// errTruncatedRecord marks a record whose block is shorter than its
// Content-Length: the file ends (or its gzip member ends) inside it.
var errTruncatedRecord = errors.New("record is truncated")

// captureFromWARC turns a response record into a capture; other record
// types give nil. Every record's block is read to its end, to check that
// it holds all the bytes its Content-Length promises (gowarc reads a cut
// block as a short one and only warns).
func captureFromWARC(wr gowarc.WarcRecord) (*schemas.Capture, error) {
	if !wr.WarcHeader().Has(gowarc.ContentLength) {
		// Without a length a record cannot be framed: the file ends inside
		// its header, or the writer is broken (gowarc only warns).
		return nil, fmt.Errorf("%w: it has no Content-Length (the file ends inside its header?)", errTruncatedRecord)
	}
	want, _ := wr.WarcHeader().GetInt64(gowarc.ContentLength)
	block, ok := wr.Block().(gowarc.HttpResponseBlock)
	if wr.Type() != gowarc.Response || !ok {
		raw, err := wr.Block().RawBytes()
		if err != nil {
			return nil, err
		}
		got, err := io.Copy(io.Discard, raw)
		if err != nil {
			return nil, err
		}
		return nil, checkLength(got, want)
	}
	body, err := block.PayloadBytes()
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(body, schemas.MaxCaptureBody+1))
	if err != nil {
		return nil, err
	}
	rest, err := io.Copy(io.Discard, body)
	if err != nil {
		return nil, err
	}
	if err := checkLength(int64(len(block.ProtocolHeaderBytes())+len(data))+rest, want); err != nil {
		return nil, err
	}
	status, h := block.HttpStatusCode(), block.HttpHeader()
	if status == 0 || h == nil {
		status, h = parseHTTPHead(block.ProtocolHeaderBytes())
	}
	c := &schemas.Capture{
		Version:    schemas.CaptureVersion,
		URL:        targetURI(wr),
		Status:     status,
		NodePeerID: "offline",
		Headers:    map[string]string{},
		// WARC-Truncated: the crawler itself cut the body (length, time).
		Truncated: rest > 0 || wr.WarcHeader().Has(gowarc.WarcTruncated),
	}
	if h != nil {
		data, c.Error = decodeBody(data, h, chunked(block.ProtocolHeaderBytes()))
		for _, k := range schemas.KeptHeaders {
			if v := h.Get(k); v != "" {
				c.Headers[k] = v
			}
		}
		c.ContentType = h.Get("Content-Type")
		c.OptOut = optOutFromHeaders(h.Get("X-Robots-Tag"), h.Get("Tdm-Reservation"), h.Get("Tdm-Policy"), h.Get("Content-Usage"))
	}
	if len(data) > schemas.MaxCaptureBody {
		data, c.Truncated = data[:schemas.MaxCaptureBody], true
	}
	c.Body, c.BodySize, c.BodySHA256 = data, int64(len(data)), schemas.SHA256Hex(data)
	if t, err := wr.Date(); err == nil {
		c.FetchedAt = t.UTC()
	}
	return c, nil
}

func checkLength(got, want int64) error {
	if got < want {
		return fmt.Errorf("%w: its block has %d of the %d bytes its Content-Length gives (the file ends inside it)", errTruncatedRecord, got, want)
	}
	return nil
}

// parseHTTPHead reads an HTTP response head that net/http refuses, as
// gowarc leaves it (status 0, no headers): one with "Content-Length: -1"
// or another unparsable length, which some crawlers write for a body of
// unknown length. The length is not needed (the WARC record bounds the
// body), so those lines are dropped and the head parsed again.
func parseHTTPHead(head []byte) (int, *http.Header) {
	var kept bytes.Buffer
	for line := range bytes.Lines(head) {
		name, _, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(strings.TrimSpace(string(name)), "Content-Length") {
			continue
		}
		kept.Write(line)
	}
	if !bytes.HasSuffix(kept.Bytes(), []byte("\n\n")) && !bytes.HasSuffix(kept.Bytes(), []byte("\r\n\r\n")) {
		kept.WriteString("\r\n")
	}
	resp, err := http.ReadResponse(bufio.NewReader(&kept), nil)
	if err != nil {
		return 0, nil
	}
	return resp.StatusCode, &resp.Header
}

// chunked reports whether an HTTP head declares the chunked transfer
// coding (net/http takes Transfer-Encoding out of the parsed header).
func chunked(head []byte) bool {
	for line := range bytes.Lines(head) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(strings.TrimSpace(string(name)), "Transfer-Encoding") &&
			strings.Contains(strings.ToLower(string(value)), "chunked") {
			return true
		}
	}
	return false
}

// decodeBody undoes the transfer and content codings a WARC keeps as they
// were sent: chunked transfer coding, then Content-Encoding gzip, deflate,
// br or zstd (in the reverse of the order they were applied). A body that
// cannot be decoded is kept as it is, with the error for Capture.Error, so
// that the pipeline rejects it with the reason instead of as binary.
func decodeBody(data []byte, h *http.Header, chunked bool) ([]byte, string) {
	if chunked {
		// Some writers store the body de-chunked but keep the header;
		// only a body that parses as chunks is decoded.
		if plain, err := readLimited(httputil.NewChunkedReader(bytes.NewReader(data))); err == nil {
			data = plain
		}
	}
	codings := strings.Split(h.Get("Content-Encoding"), ",")
	for i := len(codings) - 1; i >= 0; i-- {
		coding := strings.ToLower(strings.TrimSpace(codings[i]))
		var r io.Reader
		var err error
		switch coding {
		case "", "identity":
			continue
		case "gzip", "x-gzip":
			r, err = gzip.NewReader(bytes.NewReader(data))
		case "deflate":
			// HTTP's "deflate" is zlib; some servers send raw deflate.
			if r, err = zlib.NewReader(bytes.NewReader(data)); err != nil {
				r, err = flate.NewReader(bytes.NewReader(data)), nil
			}
		case "br":
			r = brotli.NewReader(bytes.NewReader(data))
		case "zstd":
			var zr *zstd.Decoder
			if zr, err = zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1)); err == nil {
				defer zr.Close()
				r = zr
			}
		default:
			return data, fmt.Sprintf("decode:content_encoding: unsupported Content-Encoding %q", coding)
		}
		if err == nil {
			data, err = readLimited(r)
		}
		if err != nil {
			return data, fmt.Sprintf("decode:content_encoding: %s body does not decode: %v", coding, err)
		}
		h.Del("Content-Encoding")
	}
	return data, ""
}

// readLimited reads r to its end, or to one byte past the capture body
// limit (the caller cuts and marks the capture truncated).
func readLimited(r io.Reader) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, schemas.MaxCaptureBody+1))
}

// rawTargetURI reads the WARC-Target-URI of the record at offset straight
// from the file. gowarc blanks a header value its URL parser refuses, as
// it does wget's "<https://...>", so the page's URL is read here instead.
func (s *warcSource) rawTargetURI(offset int64) string {
	if s.zr != nil {
		return s.streamTargetURI(offset)
	}
	f, err := os.Open(s.path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return ""
		}
		zr.Multistream(false)
		r = zr
	}
	uri, _ := headerTargetURI(bufio.NewReader(io.LimitReader(r, 64<<10)))
	return uri
}

// streamTargetURI is rawTargetURI for a file gzipped as one stream: a
// second reader decompresses it once, moving forward to each record that
// needs it, so a file of blanked URIs costs one more decompression, not
// one per record.
func (s *warcSource) streamTargetURI(offset int64) string {
	if s.headers == nil || offset < s.headersAt {
		if s.headers != nil {
			s.headers.f.Close()
			s.headers = nil
		}
		f, err := os.Open(s.path)
		if err != nil {
			return ""
		}
		zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
		if err != nil {
			f.Close()
			return ""
		}
		s.headers, s.headersAt = &headerReader{f: f, br: bufio.NewReaderSize(zr, 64<<10)}, 0
	}
	if n, err := io.CopyN(io.Discard, s.headers.br, offset-s.headersAt); err != nil {
		s.headersAt += n
		return ""
	}
	s.headersAt = offset
	uri, n := headerTargetURI(s.headers.br)
	s.headersAt += n
	return uri
}

// headerTargetURI reads a WARC record's header block from r, up to the
// blank line that ends it (at most 64 KiB), and returns its
// WARC-Target-URI without angle brackets and how many bytes it read.
//
// Blank lines before the block's first line are skipped, not taken for its
// end: they would be the CRLF pair that ends the previous record, were an
// offset to point there. (gowarc's record offsets point at "WARC/", so this
// is a guard; the stream reader counts the bytes skipped either way.)
func headerTargetURI(r *bufio.Reader) (string, int64) {
	var read int64
	uri := ""
	started := false // a line of the block has been read
	for read < 64<<10 {
		line, err := r.ReadString('\n')
		read += int64(len(line))
		line = strings.TrimRight(line, "\r\n")
		if line == "" && started {
			break // the blank line that ends the block
		}
		started = started || line != ""
		if name, value, ok := strings.Cut(line, ":"); ok && uri == "" && strings.EqualFold(strings.TrimSpace(name), gowarc.WarcTargetURI) {
			uri = strings.Trim(strings.TrimSpace(value), "<>")
		}
		if err != nil {
			break
		}
	}
	return uri, read
}

// targetURI is a record's WARC-Target-URI. wget writes it in angle
// brackets (WARC 1.0's grammar), which gowarc reports and leaves in place;
// the brackets are not part of the URL.
func targetURI(wr gowarc.WarcRecord) string {
	u := strings.TrimSpace(wr.WarcHeader().Get(gowarc.WarcTargetURI))
	if strings.HasPrefix(u, "<") && strings.HasSuffix(u, ">") {
		u = strings.TrimSpace(u[1 : len(u)-1])
	}
	return u
}

// optOutFromHeaders reads the TDM and AI opt-out response headers (page
// <meta> signals are not read offline).
func optOutFromHeaders(robots, tdm, tdmPolicy, usage string) schemas.OptOut {
	r := strings.ToLower(robots)
	return schemas.OptOut{
		NoAI:         strings.Contains(r, "noai"),
		NoIndex:      strings.Contains(r, "noindex"),
		TDMReserved:  strings.TrimSpace(tdm) == "1",
		TDMPolicy:    tdmPolicy,
		ContentUsage: usage,
	}
}

func (s *warcSource) Progress() (int64, int64, string) { return s.cf.n.Load(), s.cf.size, "bytes" }
func (s *warcSource) Close() error {
	if s.headers != nil {
		s.headers.f.Close()
	}
	return s.cf.f.Close()
}
