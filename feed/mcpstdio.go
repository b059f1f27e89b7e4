package feed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// stdioDrainTimeout bounds how long end of input waits for the answers to
// requests already read.
const stdioDrainTimeout = 2 * time.Minute

// ServeMCPStdio serves MCP over standard input and output until the client
// disconnects or ctx ends.
func (f *Feed) ServeMCPStdio(ctx context.Context) error {
	return f.serveMCPPipes(ctx, os.Stdin, os.Stdout)
}

// serveMCPPipes serves MCP over newline-delimited JSON-RPC on in and out.
// The SDK ends the session as soon as its input ends and drops the answers
// it is still working on (go-sdk issue 1061), so a client that writes its
// requests and closes the pipe (`printf ... | sward mcp`) would get no
// answers. The input is therefore held open at its end until every request
// read so far has been answered, or stdioDrainTimeout has passed.
func (f *Feed) serveMCPPipes(ctx context.Context, in io.Reader, out io.Writer) error {
	p := &pendingRequests{ids: map[string]bool{}}
	p.cond = sync.NewCond(&p.mu)
	t := &mcp.IOTransport{
		Reader: &drainingReader{r: in, pending: p, ctx: ctx},
		Writer: &answerWriter{w: out, pending: p},
	}
	if err := f.mcp.Run(ctx, t); err != nil && ctx.Err() == nil {
		return fmt.Errorf("serving MCP over stdio: %w", err)
	}
	return nil
}

// pendingRequests is the set of request ids read but not yet answered.
type pendingRequests struct {
	mu   sync.Mutex
	cond *sync.Cond
	ids  map[string]bool
}

// jsonrpcFrame is what the pipes need to know of a JSON-RPC message.
type jsonrpcFrame struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		RequestID json.RawMessage `json:"requestId"`
	} `json:"params"`
}

// frame kinds, as the pipes see them.
const (
	frameOther     = iota // a notification, a batch, not a JSON object
	frameRequest          // a request: it expects an answer
	frameAnswer           // a result or an error for a request
	frameCancelled        // notifications/cancelled: no answer will come
)

// classify says what line is and the request id it concerns.
func classify(line []byte) (kind int, id string) {
	var fr jsonrpcFrame
	if json.Unmarshal(line, &fr) != nil {
		return frameOther, ""
	}
	switch {
	case fr.Method == "notifications/cancelled" && len(fr.Params.RequestID) > 0:
		return frameCancelled, string(fr.Params.RequestID)
	case len(fr.ID) == 0 || string(fr.ID) == "null":
		return frameOther, ""
	case fr.Method != "":
		return frameRequest, string(fr.ID)
	default:
		return frameAnswer, string(fr.ID)
	}
}

// settle crosses id off the pending requests.
func (p *pendingRequests) settle(id string) {
	p.mu.Lock()
	delete(p.ids, id)
	p.cond.Broadcast()
	p.mu.Unlock()
}

// lineSplitter hands complete lines of a byte stream to a callback. Lines
// longer than maxInspectedLine are not inspected.
type lineSplitter struct {
	buf      []byte
	overflow bool
}

const maxInspectedLine = 4 << 20

func (s *lineSplitter) feed(p []byte, line func([]byte)) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if !s.overflow && len(s.buf)+len(p) <= maxInspectedLine {
				s.buf = append(s.buf, p...)
			} else {
				s.overflow, s.buf = true, s.buf[:0]
			}
			return
		}
		if !s.overflow && len(s.buf)+i <= maxInspectedLine {
			line(append(s.buf, p[:i]...))
		}
		s.buf, s.overflow = s.buf[:0], false
		p = p[i+1:]
	}
}

// drainingReader passes the client's input through, notes each request it
// carries, and at end of input waits until they are all answered.
type drainingReader struct {
	r       io.Reader
	pending *pendingRequests
	ctx     context.Context
	lines   lineSplitter
	eof     bool // the input has ended; the next Read reports it
}

func (d *drainingReader) Read(p []byte) (int, error) {
	if d.eof {
		d.wait()
		return 0, io.EOF
	}
	n, err := d.r.Read(p)
	d.lines.feed(p[:n], func(line []byte) {
		switch kind, id := classify(line); kind {
		case frameRequest:
			d.pending.mu.Lock()
			d.pending.ids[id] = true
			d.pending.mu.Unlock()
		case frameCancelled:
			d.pending.settle(id)
		}
	})
	if err == io.EOF {
		// Hand over the last bytes first: the requests in them must reach
		// the server before end of input waits for their answers.
		d.eof = true
		if n > 0 {
			return n, nil
		}
		d.wait()
	}
	return n, err
}

// wait blocks until no request is pending, the timeout passes or ctx ends.
func (d *drainingReader) wait() {
	done := make(chan struct{})
	defer close(done)
	go func() {
		timer := time.NewTimer(stdioDrainTimeout)
		defer timer.Stop()
		select {
		case <-done:
		case <-d.ctx.Done():
		case <-timer.C:
		}
		d.pending.mu.Lock()
		d.pending.ids = map[string]bool{} // give up waiting
		d.pending.cond.Broadcast()
		d.pending.mu.Unlock()
	}()
	d.pending.mu.Lock()
	for len(d.pending.ids) > 0 {
		d.pending.cond.Wait()
	}
	d.pending.mu.Unlock()
}

func (d *drainingReader) Close() error {
	if c, ok := d.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// answerWriter passes the server's output through and crosses off each
// request it answers.
type answerWriter struct {
	w       io.Writer
	pending *pendingRequests
	lines   lineSplitter
}

func (a *answerWriter) Write(p []byte) (int, error) {
	n, err := a.w.Write(p)
	a.lines.feed(p[:n], func(line []byte) {
		if kind, id := classify(line); kind == frameAnswer {
			a.pending.settle(id)
		}
	})
	return n, err
}

// Close leaves the underlying writer (standard output) open, as the SDK's
// own stdio transport does.
func (a *answerWriter) Close() error { return nil }
