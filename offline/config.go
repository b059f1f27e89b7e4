package offline

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// Config is one offline run. Set In and Out, call Default, then Validate
// (Run does both).
type Config struct {
	// In is the input file: .warc, .warc.gz, .parquet or .jsonl.
	In string
	// Out is the dataset directory the run writes and resumes from.
	Out string
	// Dataset names the dataset (default: from the input file name).
	Dataset string
	// Job, when set, supplies the languages, quality thresholds, fields
	// and TDM policy, and scopes the document IDs (else the dataset does).
	Job *schemas.JobSpec
	// Pipeline configures the stages (default pipeline.DefaultConfig()).
	// Its zero value means the default.
	Pipeline pipeline.Config
	// Workers is how many captures are processed in parallel (default
	// GOMAXPROCS).
	Workers int
	// Restart discards an interrupted run's state in Out and starts over.
	Restart bool
	// CheckpointRows and CheckpointEvery bound the work between two
	// checkpoints (defaults 256 rows and 2 s).
	CheckpointRows  int
	CheckpointEvery time.Duration
	// StopAfter, when positive, ends the run with ErrInterrupted once that
	// many captures are durably done (tests simulate a kill with it).
	StopAfter int64
	// OnProgress, when set, is called by the committer after each capture
	// is decided (from one goroutine; it must not keep the Progress's map).
	OnProgress func(Progress)
	// Logger receives the run's log lines (default slog.Default()).
	Logger *slog.Logger
}

// Progress is what OnProgress reports.
type Progress struct {
	// Read and Total are the input read so far and its size, in Unit
	// ("bytes" or "records").
	Read, Total int64
	Unit        string
	// Done counts the captures decided, Counts them by decision
	// ("accept", "reject", "review", "repeat").
	Done   int64
	Counts map[string]int
}

// ErrInterrupted is returned by a run stopped by StopAfter.
var ErrInterrupted = errors.New("pipeline run interrupted")

// Default fills unset fields with their defaults.
func (c *Config) Default() {
	if c.Dataset == "" && c.In != "" {
		c.Dataset = DatasetNameFor(c.In)
	}
	if c.Pipeline.DedupNGram == 0 && c.Pipeline.DedupBands == 0 {
		c.Pipeline = pipeline.DefaultConfig()
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.CheckpointRows == 0 {
		c.CheckpointRows = 256
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem with a configuration at once. Call it
// after Default.
func (c Config) Validate() error {
	var errs []error
	if c.In == "" || c.Out == "" {
		errs = append(errs, errors.New("offline config: give the input file (--in) and the output directory (--out)"))
	}
	if err := storage.ValidateDatasetName(c.Dataset); err != nil {
		errs = append(errs, fmt.Errorf("offline config: %w (choose one with --dataset)", err))
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("offline config: %d workers; use at least 1", c.Workers))
	}
	if c.CheckpointRows < 1 || c.CheckpointEvery <= 0 {
		errs = append(errs, errors.New("offline config: CheckpointRows and CheckpointEvery must be positive"))
	}
	if err := pipeline.ValidateJob(c.Pipeline, c.Job); err != nil {
		errs = append(errs, err)
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("offline config: Logger is unset (call Default first)"))
	}
	return errors.Join(errs...)
}

// DatasetNameFor makes a valid dataset name from an input file's name
// ("CC-MAIN-2024.warc.gz" -> "cc-main-2024"), or "offline".
func DatasetNameFor(in string) string {
	base := strings.ToLower(filepath.Base(in))
	for _, ext := range []string{".gz", ".warc", ".parquet", ".jsonl", ".json"} {
		base = strings.TrimSuffix(base, ext)
	}
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-.")
	if name == "" || storage.ValidateDatasetName(name) != nil {
		return "offline"
	}
	return name
}
