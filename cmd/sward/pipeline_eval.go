package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sort"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/google/renameio/v2"
	"github.com/swardnet/sward/internal/evalset"
	"github.com/swardnet/sward/pipeline"
)

// pipelineEvalCmd is `sward pipeline eval`: extraction quality on a
// labelled page set, in the article-benchmark or the WCXB layout.
func pipelineEvalCmd() *cobra.Command {
	var dataDir, predFile, extractor string
	var asJSON, fallback bool
	var workers int
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Score main-content extraction on a labelled page set (article benchmark or WCXB)",
		Long: `Score main-content extraction against a labelled directory in one of two
layouts, told apart by what the directory holds:

  article benchmark: ground-truth.json (id -> {"articleBody", "url"}) and
    html/<id>.html.gz. Texts are split into \w+ tokens and multisets of
    4-token shingles compared per document; precision and recall averaged
    over documents and their harmonic mean (F1) are printed, plus the
    benchmark script's pooled figures.
  WCXB: ground-truth/<id>.json and html/<id>.html.gz. Texts are lower-cased
    and split into \w+ tokens, bags of words compared per page; the mean of
    per-page precision, recall and F1 is printed overall, per fixed split
    (tune/check, by a hash of the page id), per page type, and per page
    type and split.

--extractor picks sward's extraction (default), or go-trafilatura alone
without (trafilatura) or with (trafilatura-fallback) its own fallback, for
baselines. --predictions FILE writes {id: extracted text} as JSON.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ext, err := pipeline.ParseExtractor(extractor)
			if err != nil {
				return err
			}
			layout, pages, err := evalset.Load(dataDir)
			if err != nil {
				return fmt.Errorf("%w (point --data at a labelled directory)", err)
			}
			cases := make([]pipeline.EvalCase, len(pages))
			for i, p := range pages {
				cases[i] = pipeline.EvalCase(p)
			}
			opt := pipeline.DefaultExtractOptions()
			opt.Fallback = opt.Fallback || fallback
			cpu0 := cpuTime()
			start := time.Now()
			preds := pipeline.ExtractAll(cases, ext, opt, workers)
			took, cpu := time.Since(start), cpuTime()-cpu0
			if predFile != "" {
				if err := writePredictions(predFile, preds); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			speed := fmt.Sprintf("documents  %d (%s wall, %s CPU, %.1f docs per CPU-second)\n",
				len(cases), took.Round(time.Millisecond), cpu.Round(time.Millisecond), float64(len(cases))/max(cpu.Seconds(), 1e-9))
			if layout == evalset.WCXB {
				ev := pipeline.ScoreWords(cases, preds)
				if asJSON {
					return encodeJSON(out, ev)
				}
				fmt.Fprint(out, speed)
				printWordScores(out, ev)
				return nil
			}
			s := pipeline.ScoreShingles(cases, preds)
			if asJSON {
				return encodeJSON(out, s)
			}
			fmt.Fprint(out, speed)
			fmt.Fprintf(out, "precision  %.4f\nrecall     %.4f\nF1         %.4f\n", s.Precision, s.Recall, s.F1)
			fmt.Fprintf(out, "benchmark script (pooled): precision %.4f recall %.4f F1 %.4f\n", s.BenchPrecision, s.BenchRecall, s.BenchF1)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", filepath.Join("..", "shared", "testdata", "extraction"), "labelled page directory (article benchmark or WCXB layout)")
	cmd.Flags().StringVar(&predFile, "predictions", "", "write {id: extracted text} as JSON to this file")
	cmd.Flags().StringVar(&extractor, "extractor", string(pipeline.ExtractorSward), "sward, trafilatura or trafilatura-fallback")
	cmd.Flags().IntVar(&workers, "workers", runtime.GOMAXPROCS(0), "pages extracted in parallel")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the scores as JSON")
	cmd.Flags().BoolVar(&fallback, "fallback", false, "let trafilatura compare with readability and DOM distiller inside sward's extraction")
	return cmd
}

func printWordScores(out io.Writer, ev pipeline.WordEval) {
	row := func(name string, s pipeline.WordScore) {
		fmt.Fprintf(out, "%-15s %5d  P %.4f  R %.4f  F1 %.4f\n", name, s.Docs, s.Precision, s.Recall, s.F1)
	}
	row("all", ev.All)
	for _, k := range sortedKeys(ev.BySplit) {
		row("split:"+k, ev.BySplit[k])
	}
	for _, k := range sortedKeys(ev.ByType) {
		row(k, ev.ByType[k])
	}
	for _, k := range sortedKeys(ev.ByTypeSplit) {
		row(k, ev.ByTypeSplit[k])
	}
}

func sortedKeys(m map[string]pipeline.WordScore) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writePredictions(path string, preds map[string]string) error {
	b, err := json.MarshalIndent(preds, "", " ")
	if err != nil {
		return fmt.Errorf("encoding predictions: %w", err)
	}
	if err := renameio.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing predictions: %w (check that the directory exists and is writable)", err)
	}
	return nil
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
