package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/swardnet/sward/internal/logkey"
)

// EnvChild carries a JSON CoordinatorConfig to a child process started by
// StartChild; its presence makes IsChild true.
const EnvChild = "SWARD_FAULTS_COORDINATOR"

// ChildLog is the file in the data directory that collects a child's
// stdout and stderr across runs.
const ChildLog = "child.log"

// IsChild reports whether this process was started by StartChild.
func IsChild() bool { return os.Getenv(EnvChild) != "" }

// ChildMain runs the coordinator a parent asked for through EnvChild and
// returns the process exit code: 0 after a clean stop (SIGTERM or SIGINT)
// or a finished publishing run, 1 on error. Call it from TestMain.
func ChildMain() int {
	var cfg CoordinatorConfig
	if err := json.Unmarshal([]byte(os.Getenv(EnvChild)), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "faults child: decoding %s: %v\n", EnvChild, err)
		return 1
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if _, err := RunCoordinator(ctx, cfg); err != nil {
		slog.Error("faults child: coordinator failed", logkey.Err, err)
		return 1
	}
	return 0
}

// Child is a coordinator running in a child process.
type Child struct {
	cfg  CoordinatorConfig
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done closes
}

// StartChild re-executes the running binary (a Go test binary whose
// TestMain calls ChildMain) as a coordinator with cfg. It removes a stale
// ReadyFile first, so Addr waits for this run.
func StartChild(cfg CoordinatorConfig) (*Child, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("faults: child coordinator needs a data directory")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating child data directory: %w", err)
	}
	if err := os.Remove(filepath.Join(cfg.DataDir, ReadyFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing stale ready file: %w", err)
	}
	enc, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding child config: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(cfg.DataDir, ChildLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening child log: %w", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), EnvChild+"="+string(enc))
	cmd.Stdout = logf
	cmd.Stderr = logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("starting child coordinator: %w", err)
	}
	c := &Child{cfg: cfg, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		_ = logf.Close()
		close(c.done)
	}()
	return c, nil
}

// Addr waits until the child serves leases and returns its multiaddr.
func (c *Child) Addr(ctx context.Context) (string, error) {
	path := filepath.Join(c.cfg.DataDir, ReadyFile)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if data, err := os.ReadFile(path); err == nil && len(data) > 0 {
			return string(data), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for the child coordinator to start: %w", ctx.Err())
		case <-c.done:
			return "", fmt.Errorf("child coordinator exited before it was ready: %v; log: %s", c.err, c.LogTail(2000))
		case <-tick.C:
		}
	}
}

// Kill sends SIGKILL, the crash a test wants: no deferred cleanup, no
// flush, no lease returned. It waits until the process is gone.
func (c *Child) Kill() error {
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing child coordinator: %w", err)
	}
	<-c.done
	return nil
}

// Wait waits for the child to exit or ctx to end (then it kills the
// child) and returns its exit error.
func (c *Child) Wait(ctx context.Context) error {
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		_ = c.Kill()
		return fmt.Errorf("waiting for the child coordinator: %w", ctx.Err())
	}
}

// Result reads the ResultFile a finished publishing run wrote.
func (c *Child) Result() (*Result, error) {
	data, err := os.ReadFile(filepath.Join(c.cfg.DataDir, ResultFile))
	if err != nil {
		return nil, fmt.Errorf("reading the child's result: %w", err)
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decoding the child's result: %w", err)
	}
	return &r, nil
}

// LogTail returns up to the last n bytes of the child's log, for failure
// messages.
func (c *Child) LogTail(n int64) string {
	f, err := os.Open(filepath.Join(c.cfg.DataDir, ChildLog))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	return strings.TrimSpace(string(data))
}
