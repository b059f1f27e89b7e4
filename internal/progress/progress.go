// Package progress draws a one-line progress display. On a terminal the
// line is redrawn in place; anywhere else (a log file, a pipe, CI) every
// update that is shown becomes a line of its own, and updates come at most
// every LogEvery, so logs stay readable.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// Defaults for how often a line is drawn.
const (
	TerminalEvery = 200 * time.Millisecond
	LogEvery      = 5 * time.Second
)

// Line is one progress display on a writer. It is safe for concurrent use.
type Line struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	every time.Duration
	last  time.Time
	drawn bool // a line is on the terminal without its newline
}

// New returns a Line on w, redrawn in place when w is a terminal.
func New(w io.Writer) *Line {
	f, ok := w.(*os.File)
	tty := ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
	return newLine(w, tty)
}

func newLine(w io.Writer, tty bool) *Line {
	l := &Line{w: w, tty: tty, every: LogEvery}
	if tty {
		l.every = TerminalEvery
	}
	return l
}

// Draw shows the text format makes, unless the last one was drawn less
// than the interval ago; force draws it anyway (the final state, say).
func (l *Line) Draw(force bool, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !force && !l.last.IsZero() && now.Sub(l.last) < l.every {
		return
	}
	l.last = now
	text := fmt.Sprintf(format, args...)
	if l.tty {
		// \033[K clears what a longer previous line left behind.
		fmt.Fprintf(l.w, "\r%s\033[K", text)
		l.drawn = true
		return
	}
	fmt.Fprintln(l.w, text)
}

// Done ends the display: on a terminal it moves past the drawn line.
func (l *Line) Done() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tty && l.drawn {
		fmt.Fprintln(l.w)
	}
	l.drawn = false
}
