package offline

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/swardnet/sward/schemas"
)

// warcRec is one WARC/1.1 record as a crawler writes it.
func warcRec(typ, uri, ctype, block string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "WARC/1.1\r\nWARC-Type: %s\r\nWARC-Record-ID: <urn:uuid:%08x-0000-4000-8000-000000000000>\r\n", typ, len(block)*7919+len(uri))
	if uri != "" {
		fmt.Fprintf(&b, "WARC-Target-URI: %s\r\n", uri)
	}
	if typ == "revisit" {
		b.WriteString("WARC-Profile: http://netpreserve.org/warc/1.1/revisit/identical-payload-digest\r\n")
		b.WriteString("WARC-Payload-Digest: sha1:UZY6ND6CCHXETFVJD2MSS7ZENMWF7KQ2\r\n")
	}
	fmt.Fprintf(&b, "WARC-Date: 2026-03-04T05:06:07Z\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s\r\n\r\n", ctype, len(block), block)
	return b.String()
}

// httpResp is an HTTP/1.1 response block with extra header lines.
func httpResp(headers, body string) string {
	return "HTTP/1.1 200 OK\r\n" + headers + "\r\n" + body
}

func page(i int) string {
	return fmt.Sprintf("<html><head><title>Page %d</title></head><body><p>This is page number %d.</p></body></html>", i, i)
}

func response(i int) string {
	body := page(i)
	return warcRec("response", fmt.Sprintf("https://a.example/%d", i), "application/http;msgtype=response",
		httpResp(fmt.Sprintf("Content-Type: text/html\r\nContent-Length: %d\r\n", len(body)), body))
}

func gz(parts ...string) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	for _, p := range parts {
		zw.Write([]byte(p))
	}
	zw.Close()
	return out.Bytes()
}

// gzPerRecord gzips each record as its own member (the standard layout)
// and returns the members' offsets.
func gzPerRecord(recs ...string) ([]byte, []int64) {
	var out []byte
	var offs []int64
	for _, r := range recs {
		offs = append(offs, int64(len(out)))
		out = append(out, gz(r)...)
	}
	return out, offs
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readSource reads every capture of path, and the error that ended it
// (nil at a clean end).
func readSource(t *testing.T, path string) ([]*schemas.Capture, map[string]int, error) {
	t.Helper()
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var caps []*schemas.Capture
	counts := map[string]int{}
	for {
		c, err := src.Next()
		for k, v := range src.(recordCounter).takeRecordCounts() {
			counts[k] += v
		}
		if err == io.EOF {
			return caps, counts, nil
		}
		if err != nil {
			return caps, counts, err
		}
		caps = append(caps, c)
	}
}

func brotliBytes(s string) string {
	var b bytes.Buffer
	w := brotli.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// TestWARCRead: layouts and HTTP blocks that real crawlers write are read
// into the captures they hold.
func TestWARCRead(t *testing.T) {
	info := warcRec("warcinfo", "", "application/warc-fields", "software: wget/1.21\r\nformat: WARC File Format 1.1\r\n")
	gzBody, brBody := string(gz(page(7))), brotliBytes(page(8))
	tests := []struct {
		name      string
		file      string
		data      []byte
		wantPages []int          // the page numbers of the captures, in order
		wantTypes map[string]int // records by type
	}{
		{"gzipped as one stream", "one.warc.gz", gz(info, response(0), response(1), response(2)),
			[]int{0, 1, 2}, map[string]int{"warcinfo": 1, "response": 3}},
		{"gzipped per record", "per.warc.gz", func() []byte { b, _ := gzPerRecord(info, response(0), response(1)); return b }(),
			[]int{0, 1}, map[string]int{"warcinfo": 1, "response": 2}},
		{"Content-Encoding gzip and br", "enc.warc", []byte(
			warcRec("response", "https://a.example/7", "application/http;msgtype=response",
				httpResp(fmt.Sprintf("Content-Type: text/html\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n", len(gzBody)), gzBody)) +
				warcRec("response", "https://a.example/8", "application/http;msgtype=response",
					httpResp(fmt.Sprintf("Content-Type: text/html\r\nContent-Encoding: br\r\nContent-Length: %d\r\n", len(brBody)), brBody))),
			[]int{7, 8}, map[string]int{"response": 2}},
		{"Content-Length -1 and missing", "cl.warc", []byte(
			warcRec("response", "https://a.example/3", "application/http;msgtype=response",
				httpResp("Content-Type: text/html\r\nContent-Length: -1\r\n", page(3))) +
				warcRec("response", "https://a.example/4", "application/http;msgtype=response",
					httpResp("Content-Type: text/html\r\nConnection: close\r\n", page(4)))),
			[]int{3, 4}, map[string]int{"response": 2}},
		{"chunked body", "chunked.warc", []byte(
			warcRec("response", "https://a.example/5", "application/http;msgtype=response",
				httpResp("Content-Type: text/html\r\nTransfer-Encoding: chunked\r\n",
					fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(page(5)), page(5))))),
			[]int{5}, map[string]int{"response": 1}},
		{"every record type counted", "types.warc", []byte(info +
			warcRec("request", "https://a.example/0", "application/http;msgtype=request", "GET /0 HTTP/1.1\r\nHost: a.example\r\n\r\n") +
			response(0) +
			warcRec("metadata", "https://a.example/0", "application/warc-fields", "outlink: https://a.example/1\r\n") +
			warcRec("revisit", "https://a.example/0", "application/http;msgtype=response", "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n") +
			warcRec("resource", "https://a.example/logo.txt", "text/plain", "logo")),
			[]int{0}, map[string]int{"warcinfo": 1, "request": 1, "response": 1, "metadata": 1, "revisit": 1, "resource": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caps, counts, err := readSource(t, writeFile(t, tt.file, tt.data))
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			if len(caps) != len(tt.wantPages) {
				t.Fatalf("%d captures, want %d", len(caps), len(tt.wantPages))
			}
			for i, c := range caps {
				n := tt.wantPages[i]
				if c.URL != fmt.Sprintf("https://a.example/%d", n) || c.Status != 200 || string(c.Body) != page(n) ||
					c.Error != "" || !strings.HasPrefix(c.ContentType, "text/html") || c.Truncated {
					t.Errorf("capture %d: url %s status %d type %q error %q truncated %v body %q", i, c.URL, c.Status, c.ContentType, c.Error, c.Truncated, c.Body)
				}
			}
			if fmt.Sprint(counts) != fmt.Sprint(tt.wantTypes) {
				t.Errorf("records by type %v, want %v", counts, tt.wantTypes)
			}
		})
	}
}

// TestWARCBadContentEncoding: a body that does not decode is not passed as
// the page: the capture carries the error, so the pipeline rejects it with
// that detail rather than as binary.
func TestWARCBadContentEncoding(t *testing.T) {
	data := warcRec("response", "https://a.example/9", "application/http;msgtype=response",
		httpResp("Content-Type: text/html\r\nContent-Encoding: gzip\r\n", "not gzip at all"))
	caps, _, err := readSource(t, writeFile(t, "bad.warc", []byte(data)))
	if err != nil || len(caps) != 1 {
		t.Fatalf("%d captures, %v", len(caps), err)
	}
	if !strings.Contains(caps[0].Error, "gzip body does not decode") {
		t.Errorf("capture error %q", caps[0].Error)
	}
}

// TestWARCDamaged: a WARC cut short keeps every record before the break
// and says where it broke; a cut last record is not passed as complete.
func TestWARCDamaged(t *testing.T) {
	perRecord, offs := gzPerRecord(response(0), response(1), response(2))
	plain := response(0) + response(1) + response(2)
	tests := []struct {
		name       string
		file       string
		data       []byte
		wantPages  int
		wantRecord int64
		wantOffset int64 // -1: not checked
		wantErr    string
	}{
		{"per-record gzip cut inside record 3", "cut.warc.gz", perRecord[:offs[2]+(int64(len(perRecord))-offs[2])/2], 2, 3, offs[2], "unexpected EOF"},
		{"per-record gzip cut inside the gzip header", "cuthead.warc.gz", perRecord[:offs[2]+4], 2, 3, offs[2], "EOF"},
		{"plain WARC cut inside the last block", "cut.warc", []byte(plain[:len(plain)-30]), 2, 3, int64(len(response(0)) + len(response(1))), "truncated"},
		{"plain WARC cut inside the last header", "cuthdr.warc", []byte(plain[:len(response(0))+len(response(1))+40]), 2, 3, int64(len(response(0)) + len(response(1))), "no Content-Length"},
		{"plain WARC cut inside the last WARC/ line", "cutmagic.warc", []byte(plain[:len(response(0))+len(response(1))+3]), 2, 3, int64(len(response(0)) + len(response(1))), "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caps, _, err := readSource(t, writeFile(t, tt.file, tt.data))
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v, want an *InputError", err)
			}
			if len(caps) != tt.wantPages || ie.Record != tt.wantRecord || (tt.wantOffset >= 0 && ie.Offset != tt.wantOffset) ||
				!strings.Contains(ie.Error(), tt.wantErr) {
				t.Errorf("%d captures, broke at record %d offset %d (%v); want %d captures, record %d offset %d, %q",
					len(caps), ie.Record, ie.Offset, ie, tt.wantPages, tt.wantRecord, tt.wantOffset, tt.wantErr)
			}
			for i, c := range caps {
				if string(c.Body) != page(i) {
					t.Errorf("capture %d body %q", i, c.Body)
				}
			}
		})
	}
}

// TestRunDamagedWARCPublishesGoodRecords: Run over a cut gzip WARC
// publishes the captures before the break, returns the *InputError and
// records it and the record counts in progress.json.
func TestRunDamagedWARCPublishesGoodRecords(t *testing.T) {
	info := warcRec("warcinfo", "", "application/warc-fields", "software: test\r\n")
	req := warcRec("request", "https://a.example/0", "application/http;msgtype=request", "GET /0 HTTP/1.1\r\nHost: a.example\r\n\r\n")
	data, offs := gzPerRecord(info, req, response(0), response(1), response(2))
	in := writeFile(t, "cut.warc.gz", data[:offs[4]+20])
	out := filepath.Join(t.TempDir(), "out")
	sum, err := Run(context.Background(), Config{In: in, Out: out, Workers: 2})
	var ie *InputError
	if !errors.As(err, &ie) || ie.Record != 5 || ie.Offset != offs[4] {
		t.Fatalf("error %v, want the break at record 5, offset %d", err, offs[4])
	}
	if sum.Version == "" || sum.Captures != 2 || sum.Damage == nil {
		t.Errorf("summary %+v, want a published version of the 2 good captures", sum)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "CID")); strings.TrimSpace(string(got)) != sum.Version {
		t.Errorf("exported CID %q, summary %s", got, sum.Version)
	}
	var st State
	raw, _ := os.ReadFile(filepath.Join(out, ".pipeline", "progress.json"))
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"warcinfo": 1, "request": 1, "response": 2}
	if st.Done != 2 || !st.Finished || !strings.Contains(st.Damage, "record 5") || fmt.Sprint(st.Records) != fmt.Sprint(want) || fmt.Sprint(sum.Records) != fmt.Sprint(want) {
		t.Errorf("progress %+v, summary records %v; want 2 done, the damage and records %v", st, sum.Records, want)
	}
}

// bigResponse is a response record whose page has about 4 KB of words
// that compress poorly, so that a gzip stream of many of them is made of
// many deflate blocks (as a real crawl is).
func bigResponse(i int) (string, string) {
	var b strings.Builder
	seed := uint32(i*2654435761 + 1)
	fmt.Fprintf(&b, "<html><body><p>Page %d.", i)
	for range 600 {
		seed = seed*1664525 + 1013904223
		fmt.Fprintf(&b, " w%x", seed>>20)
	}
	b.WriteString("</p></body></html>")
	body := b.String()
	return warcRec("response", fmt.Sprintf("https://a.example/%d", i), "application/http;msgtype=response",
		httpResp(fmt.Sprintf("Content-Type: text/html\r\nContent-Length: %d\r\n", len(body)), body)), body
}

// TestWARCOneStreamCut: a WARC gzipped as one stream and cut short keeps
// the records the gzip stream still yields, and says where it broke.
func TestWARCOneStreamCut(t *testing.T) {
	var recs, bodies []string
	for i := range 60 {
		r, b := bigResponse(i)
		recs, bodies = append(recs, r), append(bodies, b)
	}
	data := gz(recs...)
	caps, _, err := readSource(t, writeFile(t, "cut.warc.gz", data[:len(data)*2/3]))
	var ie *InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("error %v, want an *InputError for the cut", err)
	}
	if len(caps) < 20 || len(caps) >= 60 || ie.Record != int64(len(caps))+1 {
		t.Errorf("%d captures, broke at record %d; want most of the first two thirds and the break just after them", len(caps), ie.Record)
	}
	for i, c := range caps {
		if string(c.Body) != bodies[i] {
			t.Errorf("capture %d is not page %d", i, i)
		}
	}
}

// TestHeaderTargetURI: headerTargetURI reads one record's header block, no
// further, and finds its target URI. Blank lines before the block's first
// line are not its end (they would be the CRLF pair that ends the previous
// record), so a block that starts with one is still read.
func TestHeaderTargetURI(t *testing.T) {
	const header = "WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: <https://a.example/x>\r\nContent-Length: 4\r\n\r\n"
	const next = "body\r\n\r\nWARC/1.0\r\nWARC-Target-URI: https://b.example/\r\n\r\n"
	tests := []struct {
		name, in string
		uri      string
		read     int // bytes taken from in
	}{
		{"record", header + next, "https://a.example/x", len(header)},
		{"LF line ends", "WARC/1.0\nWARC-Target-URI: https://a.example/lf\n\nbody", "https://a.example/lf", len("WARC/1.0\nWARC-Target-URI: https://a.example/lf\n\n")},
		{"no target URI", "WARC/1.0\r\nWARC-Type: warcinfo\r\n\r\n" + next, "", len("WARC/1.0\r\nWARC-Type: warcinfo\r\n\r\n")},
		{"only a version line", "WARC/1.0\r\n\r\n" + next, "", len("WARC/1.0\r\n\r\n")},
		{"starts with a blank line", "\r\n" + header + next, "https://a.example/x", len("\r\n" + header)},
		{"starts with a bare LF", "\n" + header + next, "https://a.example/x", len("\n" + header)},
		{"starts with two blank lines", "\r\n\r\n" + header + next, "https://a.example/x", len("\r\n\r\n" + header)},
		{"only a blank line", "\r\n", "", 2},
		{"empty", "", "", 0},
		{"cut inside the block", "WARC/1.0\r\nWARC-Target-URI: https://a.example/cut", "https://a.example/cut", len("WARC/1.0\r\nWARC-Target-URI: https://a.example/cut")},
		{"first of two URIs", "WARC/1.0\r\nWARC-Target-URI: https://a.example/1\r\nWARC-Target-URI: https://a.example/2\r\n\r\n", "https://a.example/1", len("WARC/1.0\r\nWARC-Target-URI: https://a.example/1\r\nWARC-Target-URI: https://a.example/2\r\n\r\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			uri, read := headerTargetURI(bufio.NewReader(strings.NewReader(tc.in)))
			if uri != tc.uri || read != int64(tc.read) {
				t.Errorf("headerTargetURI = %q, %d bytes; want %q, %d", uri, read, tc.uri, tc.read)
			}
		})
	}
}
