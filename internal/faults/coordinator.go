package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/renameio/v2"

	"github.com/swardnet/sward/coordinator"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/internal/roles"
	"github.com/swardnet/sward/schemas"
)

// Files a coordinator run keeps in its data directory besides its stores.
const (
	// ReadyFile holds the coordinator's full multiaddr once it serves leases.
	ReadyFile = "ready"
	// EventsFile logs every capture and accepted document, one JSON Event
	// a line, appended across runs.
	EventsFile = "events.jsonl"
	// ResultFile holds the Result of a run that published.
	ResultFile = "result.json"
)

// CoordinatorConfig says how RunCoordinator runs a coordinator.
type CoordinatorConfig struct {
	// DataDir holds the identity, frontier, block store and the files
	// above. A run on a directory an earlier run used resumes its jobs.
	DataDir string `json:"data_dir"`
	// Listen is the libp2p listen multiaddr. Give a fixed port when the
	// coordinator is to be restarted: nodes rejoin at the same address.
	Listen string `json:"listen"`
	// LeaseTTL is the coordinator's lease time; 0 keeps its default.
	LeaseTTL time.Duration `json:"lease_ttl"`
	// HostDelay is the frontier's default gap between fetches to one host;
	// 0 keeps the frontier's default.
	HostDelay time.Duration `json:"host_delay"`
	// FrontierSync is the frontier's SQLite synchronous mode ("FULL", the
	// default, or "NORMAL"); benchmarks use it to see what fsync costs.
	FrontierSync string `json:"frontier_sync,omitempty"`
	// Job is submitted at start (a job already stored is resumed instead).
	Job *schemas.JobSpec `json:"job,omitempty"`
	// Publish makes the run wait until Job has nothing queued or leased,
	// publish its dataset, write ResultFile and return.
	Publish bool `json:"publish"`
	// OnCapture, when set, also sees every capture the coordinator ingests
	// (in-process runs only; it does not cross to a child).
	OnCapture func(*schemas.Capture) `json:"-"`
	// Ready, when set, is called with the coordinator's multiaddr once it
	// serves leases (in-process runs only).
	Ready func(addr string) `json:"-"`
}

// Event is one line of EventsFile.
type Event struct {
	// Kind is "capture", "accept" or "exclude" (a document taken out of
	// the next version after a failed check; its URL is fetched again).
	Kind string `json:"kind"`
	// URL is the capture's URL, or the accepted document's URL ("" for
	// an exclusion, which names the document by ID).
	URL string `json:"url,omitempty"`
	// ID is the accepted or excluded document's ID.
	ID string `json:"id,omitempty"`
	// FinalURL is the capture's URL after redirects ("" when none).
	FinalURL string `json:"final_url,omitempty"`
	// Bytes is the capture's body size.
	Bytes int64 `json:"bytes,omitempty"`
}

// Result is what a publishing run produced.
type Result struct {
	CID  string `json:"cid"`
	Rows int64  `json:"rows"`
}

// RunCoordinator runs a coordinator on cfg.DataDir until ctx ends or, with
// cfg.Publish, until its job is published. It writes ReadyFile once nodes
// can lease and appends to EventsFile as captures arrive.
func RunCoordinator(ctx context.Context, cfg CoordinatorConfig) (*Result, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("faults: coordinator needs a data directory")
	}
	if cfg.Publish && cfg.Job == nil {
		return nil, errors.New("faults: a publishing run needs a job")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating coordinator data directory: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var listen []string
	if cfg.Listen != "" {
		listen = []string{cfg.Listen}
	}
	role, err := roles.StartCoordinator(ctx, roles.CoordinatorConfig{
		DataDir: cfg.DataDir, Listen: listen,
		Coordinator: coordinator.Config{LeaseTTL: cfg.LeaseTTL},
		HostDelay:   cfg.HostDelay, FrontierSync: cfg.FrontierSync,
	})
	if err != nil {
		return nil, err
	}
	defer role.Close()
	coord := role.Coord
	events, err := openEventLog(filepath.Join(cfg.DataDir, EventsFile))
	if err != nil {
		return nil, err
	}
	defer events.close()
	coord.OnCapture(func(c *schemas.Capture) {
		events.write(Event{Kind: "capture", URL: c.URL, FinalURL: c.FinalURL, Bytes: c.BodySize})
	})
	coord.OnAccept(func(d schemas.Document) { events.write(Event{Kind: "accept", URL: d.URL, ID: d.ID}) })
	coord.OnExclude(func(_, docID string) { events.write(Event{Kind: "exclude", ID: docID}) })
	if cfg.OnCapture != nil {
		coord.OnCapture(cfg.OnCapture)
	}

	jobID := ""
	if cfg.Job != nil {
		if jobID, err = coord.Submit(ctx, cfg.Job); err != nil {
			return nil, fmt.Errorf("submitting job %s: %w", cfg.Job.Name, err)
		}
	}
	var serveErr error
	served := make(chan struct{})
	go func() {
		defer close(served)
		serveErr = role.Serve(ctx)
	}()
	defer func() {
		cancel()
		<-served
	}()
	h := role.Host
	if err := writeFileAtomic(filepath.Join(cfg.DataDir, ReadyFile), []byte(h.Addrs()[0])); err != nil {
		return nil, err
	}
	if cfg.Ready != nil {
		cfg.Ready(h.Addrs()[0])
	}
	if !cfg.Publish {
		<-ctx.Done()
		return nil, nil
	}

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for job %s to finish: %w", jobID, ctx.Err())
		case <-served:
			return nil, fmt.Errorf("coordinator stopped before job %s finished: %v", jobID, serveErr)
		case <-tick.C:
		}
		done, err := coord.Finished(ctx, jobID)
		if err != nil {
			return nil, fmt.Errorf("checking job %s: %w", jobID, err)
		}
		if done {
			break
		}
	}
	root, m, err := coord.Publish(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("publishing job %s: %w", jobID, err)
	}
	res := &Result{CID: root, Rows: m.Rows}
	data, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("encoding result: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(cfg.DataDir, ResultFile), data); err != nil {
		return nil, err
	}
	return res, nil
}

// eventLog appends Events to a file with one write each, so a SIGKILL
// loses at most the line being written.
type eventLog struct {
	mu sync.Mutex
	f  *os.File
}

func openEventLog(path string) (*eventLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the event log: %w", err)
	}
	return &eventLog{f: f}, nil
}

func (l *eventLog) write(e Event) {
	line, err := json.Marshal(e)
	if err != nil {
		slog.Warn("faults: encoding event", logkey.URL, e.URL, logkey.Err, err)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(append(line, '\n')); err != nil {
		slog.Warn("faults: writing event", logkey.URL, e.URL, logkey.Err, err)
	}
}

func (l *eventLog) close() { _ = l.f.Close() }

// ReadEvents reads an EventsFile. A torn last line (the writer was killed
// mid-write) is skipped; a torn line anywhere else is an error.
func ReadEvents(path string) ([]Event, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading events: %w", err)
	}
	lines := strings.Split(string(data), "\n")
	var out []Event
	for i, line := range lines {
		if line == "" {
			continue
		}
		var e Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			if i == len(lines)-1 {
				break
			}
			return nil, fmt.Errorf("events line %d: %w", i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func writeFileAtomic(path string, data []byte) error {
	if err := renameio.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	return nil
}
