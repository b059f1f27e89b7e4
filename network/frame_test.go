package network

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	frames := [][]byte{{}, []byte("x"), bytes.Repeat([]byte("a"), 300), bytes.Repeat([]byte("b"), 70000)}
	for _, f := range frames {
		if err := WriteFrame(&buf, f, 1<<20); err != nil {
			t.Fatalf("writing frame of %d: %v", len(f), err)
		}
	}
	r := bufio.NewReader(&buf)
	for i, want := range frames {
		got, err := ReadFrame(r, 1<<20)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d: got %d bytes, want %d", i, len(got), len(want))
		}
	}
	if _, err := ReadFrame(r, 1<<20); err != io.EOF {
		t.Fatalf("after last frame: got %v, want io.EOF", err)
	}
}

func TestReadFrameErrors(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		max   int
		want  error
	}{
		{"empty stream", nil, 10, io.EOF},
		{"too large", binary.AppendUvarint(nil, 11), 10, ErrFrameTooLarge},
		{"huge length", binary.AppendUvarint(nil, 1<<62), 1 << 20, ErrFrameTooLarge},
		{"overlong varint", bytes.Repeat([]byte{0xff}, 11), 10, ErrBadFrameHeader},
		{"overflowing varint", append(bytes.Repeat([]byte{0xff}, 9), 0x02), 10, ErrBadFrameHeader},
		{"truncated length", []byte{0x80}, 10, io.ErrUnexpectedEOF},
		{"truncated body", append(binary.AppendUvarint(nil, 5), "abc"...), 10, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(bufio.NewReader(bytes.NewReader(tt.input)), tt.max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWriteFrameRefusesOversized(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, make([]byte, 11), 10); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("wrote %d bytes of a refused frame", buf.Len())
	}
}

// FuzzReadFrame checks that any byte stream either decodes into frames
// within the limit that re-encode to the same bytes, or fails cleanly.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x03, 'a', 'b', 'c'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x80, 0x80, 0x01})
	f.Add(append(binary.AppendUvarint(nil, 2), `{}`...))
	const max = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		src := bytes.NewReader(data)
		r := bufio.NewReader(src)
		for {
			frame, err := ReadFrame(r, max)
			if err != nil {
				if err == io.EOF && (r.Buffered() != 0 || src.Len() != 0) {
					t.Fatalf("clean EOF with %d bytes unread", r.Buffered()+src.Len())
				}
				return
			}
			if len(frame) > max {
				t.Fatalf("frame of %d bytes passed the %d limit", len(frame), max)
			}
			if !bytes.Contains(data, frame) {
				t.Fatal("decoded frame is not part of the input")
			}
			var re bytes.Buffer
			if err := WriteFrame(&re, frame, max); err != nil {
				t.Fatalf("re-encoding: %v", err)
			}
			back, err := ReadFrame(bufio.NewReader(&re), max)
			if err != nil || !bytes.Equal(back, frame) {
				t.Fatalf("re-encoded frame does not round-trip: %v", err)
			}
		}
	})
}

// FuzzDecodeLeaseRequest checks that no frame crashes the lease decoder and
// that whatever it accepts is a well-formed request.
func FuzzDecodeLeaseRequest(f *testing.F) {
	f.Add([]byte(`{"v":1,"op":"acquire","max":3}`))
	f.Add([]byte(`{"v":1,"op":"complete","lease":"l1","urls":["http://a/"]}`))
	f.Add([]byte(`{"v":2,"op":"acquire","max":3}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{"v":1,"op":"renew"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeLeaseRequest(data)
		if err != nil {
			if req != nil {
				t.Fatal("request returned with an error")
			}
			return
		}
		if req.Version != 1 || req.Op == "" || len(req.LeaseID) > maxLeaseID {
			t.Fatalf("accepted malformed request %+v", req)
		}
	})
}
