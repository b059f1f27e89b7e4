//go:build unix

package testutil

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"
)

// KillChild runs this test binary's test named child in a child process
// with env added, hands each line the child prints to line, and once line
// returns true kills the child with SIGKILL after a random pause of up to
// maxPause. It fails the test if the child ends on its own first.
func KillChild(t *testing.T, child string, env []string, maxPause time.Duration, line func(string) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+child+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		if line(sc.Text()) {
			time.Sleep(rand.N(maxPause))
			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("kill child: %v", err)
			}
			killed = true
			break
		}
	}
	// Drain so Wait does not block on a full pipe.
	for sc.Scan() {
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before it was killed: %v", err)
	}
}
