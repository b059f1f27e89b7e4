package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/swardnet/sward/pipeline"
)

// pipelineEvalCmd is `sward pipeline eval`: extraction quality on a
// labelled page set.
func pipelineEvalCmd() *cobra.Command {
	var dataDir string
	var asJSON, fallback bool
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Score main-content extraction on a labelled page set (article-extraction-benchmark metric)",
		Long: `Score main-content extraction against a directory laid out like the
article-extraction-benchmark: ground-truth.json (id -> {"articleBody", "url"})
and html/<id>.html.gz. The metric splits texts into \w+ tokens, compares
multisets of 4-token shingles per document, and reports precision and recall
averaged over documents and their harmonic mean (F1), plus the benchmark
script's own pooled figures.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cases, err := pipeline.LoadEvalDir(dataDir)
			if err != nil {
				return fmt.Errorf("%w (point --data at a directory with ground-truth.json and html/)", err)
			}
			opt := pipeline.DefaultExtractOptions()
			opt.Fallback = fallback
			start := time.Now()
			s := pipeline.EvaluateExtraction(cases, opt)
			took := time.Since(start)
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "documents  %d (%s, %.1f docs/s)\n", s.Docs, took.Round(time.Millisecond), float64(s.Docs)/took.Seconds())
			fmt.Fprintf(out, "precision  %.4f\nrecall     %.4f\nF1         %.4f\n", s.Precision, s.Recall, s.F1)
			fmt.Fprintf(out, "benchmark script (pooled): precision %.4f recall %.4f F1 %.4f\n", s.BenchPrecision, s.BenchRecall, s.BenchF1)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", filepath.Join("..", "shared", "testdata", "extraction"), "labelled page directory")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the scores as JSON")
	cmd.Flags().BoolVar(&fallback, "fallback", false, "let trafilatura compare with readability and DOM distiller")
	return cmd
}
