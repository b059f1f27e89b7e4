package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/swardnet/sward/internal/progress"
	"github.com/swardnet/sward/offline"
	"github.com/swardnet/sward/schemas"
)

// newPipelineCommand groups the offline curation tools.
func newPipelineCommand() *cobra.Command {
	cmd := groupCommand("pipeline", "Run the curation pipeline offline over WARC or capture files, and score extraction")
	cmd.AddCommand(newPipelineRunCommand(), pipelineEvalCmd())
	return cmd
}

// runOptions are `sward pipeline run`'s flags.
type runOptions struct {
	in, out, dataset, jobFile string
	workers                   int
	progress, restart         bool
}

func newPipelineRunCommand() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run --in FILE.warc.gz|captures.parquet|captures.jsonl --out DIR",
		Short: "Curate a WARC or capture file into a dataset directory, offline and resumably",
		Long: `Run the same pipeline the coordinator runs over a local file, without a
network, and write the accepted documents as a content-addressed dataset:
DIR/manifest.json and DIR/data/*.parquet (zstd), the rejects table with
reason codes, and DIR/review.jsonl for documents routed to human review.

Interrupted runs resume: progress, the dedup index and the spooled documents
are kept under DIR, so running the same command again continues where it
stopped. --restart discards them. A damaged input (a cut gzip WARC, a cut
last record) keeps every good record before the break; the command says
where the input broke and exits with status 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.in == "" || o.out == "" {
				return errors.New("give --in FILE and --out DIR")
			}
			return runPipeline(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&o.in, "in", "", "input: .warc, .warc.gz, .parquet (captures) or .jsonl (captures)")
	cmd.Flags().StringVar(&o.out, "out", "", "output dataset directory")
	cmd.Flags().StringVar(&o.dataset, "dataset", "", "dataset name (default: from the input file name)")
	cmd.Flags().StringVar(&o.jobFile, "job", "", "job spec YAML whose languages, quality thresholds and fields apply")
	cmd.Flags().IntVar(&o.workers, "workers", runtime.GOMAXPROCS(0), "documents processed in parallel")
	cmd.Flags().BoolVar(&o.progress, "progress", true, "show a progress bar on stderr")
	cmd.Flags().BoolVar(&o.restart, "restart", false, "discard an interrupted run's state in DIR and start over")
	return cmd
}

// runPipeline calls offline.Run and prints its summary on stderr.
func runPipeline(ctx context.Context, o runOptions, stderr io.Writer) error {
	cfg := offline.Config{In: o.in, Out: o.out, Dataset: o.dataset, Workers: o.workers, Restart: o.restart}
	if o.jobFile != "" {
		raw, err := os.ReadFile(o.jobFile)
		if err != nil {
			return fmt.Errorf("reading job spec: %w", err)
		}
		if cfg.Job, err = schemas.ParseJobSpec(raw); err != nil {
			return err
		}
	}
	var bar *runProgress
	if o.progress {
		bar = newRunProgress(stderr)
		cfg.OnProgress = bar.update
	}
	sum, err := offline.Run(ctx, cfg)
	if bar != nil {
		bar.finish()
	}
	if sum.AlreadyComplete {
		fmt.Fprintf(stderr, "%s is already complete (%d records); use --restart to run again\n", o.out, sum.Captures)
		return err
	}
	if sum.Version != "" {
		fmt.Fprintf(stderr, "dataset %s version %s: %d records: %d documents, %d rejected, %d for review, %d repeated URLs -> %s\n",
			sum.Dataset, sum.Version, sum.Captures, sum.Documents, sum.Rejected, sum.Review, sum.Repeats, sum.Out)
		if len(sum.Records) > 0 {
			fmt.Fprintf(stderr, "WARC records read: %s\n", recordCounts(sum.Records))
		}
	}
	return err
}

// recordCounts prints "12 (request 5, response 5, warcinfo 1, metadata 1)".
func recordCounts(m map[string]int) string {
	types := make([]string, 0, len(m))
	total := 0
	for t, n := range m {
		types = append(types, t)
		total += n
	}
	sort.Slice(types, func(i, j int) bool {
		return m[types[i]] > m[types[j]] || m[types[i]] == m[types[j]] && types[i] < types[j]
	})
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = fmt.Sprintf("%s %d", t, m[t])
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

// runProgress draws "[#####     ] 45%  1234 docs  98.1 docs/s  accept 900
// reject 300 review 34": in place on a terminal, a line every few seconds in
// a log.
type runProgress struct {
	line  *progress.Line
	start time.Time
	last  time.Time
	first int64 // captures already done when this process started
	p     offline.Progress
}

func newRunProgress(w io.Writer) *runProgress {
	return &runProgress{line: progress.New(w), start: time.Now(), first: -1}
}

// update is offline.Config.OnProgress: it copies what it draws.
func (b *runProgress) update(p offline.Progress) {
	if b.first < 0 {
		b.first = p.Done - 1
	}
	b.p = offline.Progress{Read: p.Read, Total: p.Total, Unit: p.Unit, Done: p.Done,
		Counts: map[string]int{"accept": p.Counts["accept"], "reject": p.Counts["reject"], "review": p.Counts["review"]}}
	if time.Since(b.last) > progress.TerminalEvery {
		b.draw(false)
		b.last = time.Now()
	}
}

func (b *runProgress) draw(force bool) {
	frac := 0.0
	if b.p.Total > 0 {
		frac = min(1, float64(b.p.Read)/float64(b.p.Total))
	}
	const width = 30
	filled := int(frac * width)
	rate := float64(b.p.Done-max(b.first, 0)) / max(time.Since(b.start).Seconds(), 1e-9)
	b.line.Draw(force, "[%s%s] %3.0f%%  %d docs  %.1f docs/s  accept %d reject %d review %d",
		strings.Repeat("#", filled), strings.Repeat(" ", width-filled), frac*100, b.p.Done, rate,
		b.p.Counts["accept"], b.p.Counts["reject"], b.p.Counts["review"])
}

func (b *runProgress) finish() {
	if b.p.Counts != nil {
		b.draw(true)
	}
	b.line.Done()
}
