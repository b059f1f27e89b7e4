package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/time/rate"
)

// maxExpansion is the largest decoded:compressed ratio accepted once a
// compressed body hits the size limit. Real HTML compresses 5-20x; a
// decompression bomb compresses 1000x.
const maxExpansion = 100

// acceptEncoding is what sward asks for. Decoding is done here, under the
// size limit, never by net/http's transparent gzip.
const acceptEncoding = "gzip, deflate, br, zstd"

// errBomb is returned by the capped reader when a compressed body expands
// past maxExpansion.
var errBomb = errors.New("decompression bomb")

// wireReader counts and rate-limits the bytes actually read from the
// network.
type wireReader struct {
	ctx     context.Context
	r       io.Reader
	limiter *rate.Limiter
	n       *atomic.Int64
	onBytes func(int64)
}

func (w *wireReader) Read(p []byte) (int, error) {
	if w.limiter != nil && len(p) > w.limiter.Burst() {
		p = p[:w.limiter.Burst()]
	}
	n, err := w.r.Read(p)
	if n > 0 {
		w.n.Add(int64(n))
		if w.onBytes != nil {
			w.onBytes(int64(n))
		}
		if w.limiter != nil {
			if werr := w.limiter.WaitN(w.ctx, n); werr != nil && err == nil {
				err = fmt.Errorf("bandwidth wait: %w", werr)
			}
		}
	}
	return n, err
}

// lazyDecoder builds the decompressor on first Read, so a hostile server
// cannot stall RoundTrip while a gzip header trickles in, and a response
// that is rejected on its headers is never decoded at all.
type lazyDecoder struct {
	encoding string
	src      io.Reader
	r        io.Reader
	closer   func()
	err      error
}

func (d *lazyDecoder) Read(p []byte) (int, error) {
	if d.r == nil && d.err == nil {
		d.r, d.closer, d.err = newDecoder(d.encoding, d.src)
	}
	if d.err != nil {
		return 0, d.err
	}
	return d.r.Read(p)
}

func (d *lazyDecoder) close() {
	if d.closer != nil {
		d.closer()
	}
}

// newDecoder returns a reader that undoes one Content-Encoding.
func newDecoder(enc string, src io.Reader) (io.Reader, func(), error) {
	switch enc {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, nil, fmt.Errorf("content-encoding: bad gzip stream: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case "deflate":
		// "deflate" is zlib-wrapped per RFC 9110, but some servers send raw
		// deflate; peek at the header to tell them apart.
		br := bufio.NewReaderSize(src, 512)
		hdr, _ := br.Peek(2)
		if len(hdr) == 2 && hdr[0]&0x0f == 8 && (uint16(hdr[0])<<8|uint16(hdr[1]))%31 == 0 {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return nil, nil, fmt.Errorf("content-encoding: bad zlib stream: %w", err)
			}
			return zr, func() { zr.Close() }, nil
		}
		fr := flate.NewReader(br)
		return fr, func() { fr.Close() }, nil
	case "br":
		return brotli.NewReader(src), nil, nil
	case "zstd":
		zr, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20), zstd.WithDecoderMaxWindow(8<<20))
		if err != nil {
			return nil, nil, fmt.Errorf("content-encoding: bad zstd stream: %w", err)
		}
		return zr, zr.Close, nil
	default:
		return nil, nil, fmt.Errorf("content-encoding: unsupported %q", enc)
	}
}

// cappedReader stops after limit decoded bytes. If more data follows it
// marks the body truncated, and for a compressed body it reports a bomb when
// the decoded size dwarfs the bytes on the wire.
type cappedReader struct {
	r          io.Reader
	limit      int64
	n          int64
	compressed bool
	wire       *atomic.Int64
	truncated  *atomic.Bool
	done       bool
	// st, when its fetch counts against the memory budget, has the
	// reservation grown before bytes past what it covers are read.
	ctx context.Context
	st  *reqState
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.n >= c.limit {
		var one [1]byte
		n, err := io.ReadFull(c.r, one[:])
		c.done = true
		if n == 0 {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return 0, io.EOF
			}
			return 0, err
		}
		if c.compressed && c.n > maxExpansion*max(c.wire.Load(), 1) {
			return 0, fmt.Errorf("%w: %d bytes decoded from %d on the wire", errBomb, c.n, c.wire.Load())
		}
		c.truncated.Store(true)
		return 0, io.EOF
	}
	if rem := c.limit - c.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	if c.st != nil && c.st.mem != nil {
		if covered := c.st.covered.Load(); c.n >= covered {
			// Everything reserved is read: see whether the body goes on
			// (one byte, in the caller's buffer) before growing.
			n, err := c.r.Read(p[:1])
			if n == 0 {
				return 0, err
			}
			c.n++
			// Grow in doubling steps (at least bodyStep), never past the cap.
			if gerr := c.st.coverBody(c.ctx, max(2*covered, bodyStep)); errors.Is(gerr, errMemoryCut) {
				// Every fetch reading waits for memory: this one gives
				// its share back and is retried (transient), so the
				// others read on.
				fe := failf(ReasonTooLarge, "node memory budget full while reading the body (%d bytes read); retried", c.n)
				fe.transient = true
				c.st.setFail(fe)
				c.done = true
				return 0, fe
			} else if gerr != nil {
				return 0, fmt.Errorf("waiting for memory: %w", gerr)
			}
			return n, err
		} else if rem := covered - c.n; int64(len(p)) > rem {
			p = p[:rem]
		}
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// guardedBody is the body colly reads: wire -> decoder -> cap.
type guardedBody struct {
	io.Reader
	raw io.Closer
	dec *lazyDecoder
}

func (b *guardedBody) Close() error {
	if b.dec != nil {
		b.dec.close()
	}
	return b.raw.Close()
}

// parseContentEncoding returns the single coding to undo ("" for identity)
// or an error for stacked or unknown codings.
func parseContentEncoding(h string) (string, error) {
	if h == "" {
		return "", nil
	}
	var codings []string
	for _, c := range strings.Split(h, ",") {
		c = strings.ToLower(strings.TrimSpace(c))
		if c != "" && c != "identity" {
			codings = append(codings, c)
		}
	}
	switch len(codings) {
	case 0:
		return "", nil
	case 1:
		switch codings[0] {
		case "gzip", "x-gzip", "deflate", "br", "zstd":
			return codings[0], nil
		}
		return "", fmt.Errorf("content-encoding: unsupported %q", codings[0])
	default:
		return "", fmt.Errorf("content-encoding: stacked codings %q refused", h)
	}
}
