package network

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrFrameTooLarge is returned when a frame's declared length exceeds the
// reader's limit. The stream cannot be resynchronised after it.
var ErrFrameTooLarge = errors.New("frame too large")

// ErrBadFrameHeader is returned when a frame's uvarint length prefix is
// malformed (overlong or overflowing).
var ErrBadFrameHeader = errors.New("malformed frame length")

// ReadFrame reads one length-delimited frame: an unsigned varint byte count
// followed by that many bytes. It returns io.EOF only when the stream ends
// cleanly before a frame starts; a stream that ends inside a frame yields
// io.ErrUnexpectedEOF. Frames longer than max are refused before any of
// their body is read or allocated.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	n, err := readLength(r)
	if err != nil {
		return nil, err
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("frame of %d bytes exceeds %d: %w", n, max, ErrFrameTooLarge)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading frame body of %d bytes: %w", n, err)
	}
	return buf, nil
}

// readLength decodes a frame's uvarint length prefix. Unlike
// binary.ReadUvarint it tells a clean end of stream (io.EOF before the first
// byte) from a truncated prefix, and a malformed prefix from an I/O error.
func readLength(r *bufio.Reader) (uint64, error) {
	var x uint64
	var shift uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		b, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if i == 0 {
					return 0, io.EOF
				}
				return 0, fmt.Errorf("reading frame length: %w", io.ErrUnexpectedEOF)
			}
			return 0, fmt.Errorf("reading frame length: %w", err)
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, ErrBadFrameHeader
			}
			return x | uint64(b)<<shift, nil
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, ErrBadFrameHeader
}

// WriteFrame writes data as one length-delimited frame. It refuses frames
// longer than max so that a peer with the same limit can read it.
func WriteFrame(w io.Writer, data []byte, max int) error {
	if len(data) > max {
		return fmt.Errorf("frame of %d bytes exceeds %d: %w", len(data), max, ErrFrameTooLarge)
	}
	buf := make([]byte, 0, binary.MaxVarintLen64+len(data))
	buf = binary.AppendUvarint(buf, uint64(len(data)))
	buf = append(buf, data...)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("writing frame: %w", err)
	}
	return nil
}
