package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLogDrawsWholeLinesAtMostEveryInterval(t *testing.T) {
	var b bytes.Buffer
	l := New(&b) // a buffer is not a terminal
	l.Draw(false, "step %d", 1)
	l.Draw(false, "step %d", 2) // too soon: dropped
	l.Draw(true, "step %d", 3)  // forced
	l.Done()
	if got, want := b.String(), "step 1\nstep 3\n"; got != want {
		t.Fatalf("log output %q, want %q", got, want)
	}
	if strings.Contains(b.String(), "\r") {
		t.Fatal("carriage return in a log")
	}
}

func TestLogDrawsAgainAfterInterval(t *testing.T) {
	var b bytes.Buffer
	l := newLine(&b, false)
	l.every = time.Millisecond
	l.Draw(false, "a")
	time.Sleep(3 * time.Millisecond)
	l.Draw(false, "b")
	if got, want := b.String(), "a\nb\n"; got != want {
		t.Fatalf("output %q, want %q", got, want)
	}
}

func TestTerminalRedrawsInPlace(t *testing.T) {
	var b bytes.Buffer
	l := newLine(&b, true)
	l.Draw(false, "10%%")
	l.Draw(true, "100%%")
	l.Done()
	l.Done() // a second Done adds nothing
	if got, want := b.String(), "\r10%\033[K\r100%\033[K\n"; got != want {
		t.Fatalf("terminal output %q, want %q", got, want)
	}
}

func TestTerminalDoneWithoutDrawPrintsNothing(t *testing.T) {
	var b bytes.Buffer
	newLine(&b, true).Done()
	if b.Len() != 0 {
		t.Fatalf("Done printed %q", b.String())
	}
}

func TestFileThatIsNotATerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if New(f).tty {
		t.Fatal("a regular file was taken for a terminal")
	}
}
