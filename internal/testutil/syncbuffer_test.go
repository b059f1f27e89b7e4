package testutil

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestSyncBufferConcurrentWrites: lines written from several goroutines
// at once, while another goroutine reads, all arrive whole (run under
// -race to check the locking too).
func TestSyncBufferConcurrentWrites(t *testing.T) {
	const writers, lines = 8, 200
	var b SyncBuffer
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(&b, "writer %d line %d\n", w, i)
			}
		})
	}
	stop := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		for {
			select {
			case <-stop:
				return
			default:
				_ = b.String()
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-read

	got := b.String()
	want := 0
	seen := map[string]bool{}
	for w := range writers {
		for i := range lines {
			line := fmt.Sprintf("writer %d line %d\n", w, i)
			want += len(line)
			seen[line] = false
		}
	}
	if len(got) != want {
		t.Fatalf("read back %d bytes, want %d", len(got), want)
	}
	for _, line := range strings.SplitAfter(got, "\n") {
		if line == "" {
			continue
		}
		done, ok := seen[line]
		if !ok || done {
			t.Fatalf("line %q is torn, unknown or repeated", line)
		}
		seen[line] = true
	}
}
