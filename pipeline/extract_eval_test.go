package pipeline

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/swardnet/sward/internal/evalset"
)

// extractionTestData is the labelled news-page set, referenced in place.
const extractionTestData = "../../shared/testdata/extraction"

func loadExtractionSet(tb testing.TB) []EvalCase {
	tb.Helper()
	if _, err := os.Stat(filepath.Join(extractionTestData, "ground-truth.json")); err != nil {
		if os.Getenv("SWARD_REQUIRE_E2E") == "1" {
			tb.Fatalf("extraction test set missing at %s: %v", extractionTestData, err)
		}
		tb.Skipf("extraction test set not present at %s", extractionTestData)
	}
	pages, err := evalset.LoadArticle(extractionTestData)
	if err != nil {
		tb.Fatal(err)
	}
	return evalCases(pages)
}

// evalCases converts pages read from disk into the cases the pipeline
// scores.
func evalCases(pages []evalset.Page) []EvalCase {
	cases := make([]EvalCase, len(pages))
	for i, p := range pages {
		cases[i] = EvalCase(p)
	}
	return cases
}

func TestExtractionQuality(t *testing.T) {
	cases := loadExtractionSet(t)
	s := EvaluateExtraction(cases, DefaultExtractOptions())
	t.Logf("docs=%d precision=%.4f recall=%.4f F1=%.4f (benchmark script: P=%.4f R=%.4f F1=%.4f)",
		s.Docs, s.Precision, s.Recall, s.F1, s.BenchPrecision, s.BenchRecall, s.BenchF1)
	if os.Getenv("SWARD_EVAL_VERBOSE") == "1" {
		for id, m := range s.PerDoc {
			if p, r := m.Precision(), m.Recall(); p < 0.9 || r < 0.9 {
				t.Logf("%s P=%.3f R=%.3f", id, p, r)
			}
		}
	}
	if s.F1 < 0.96 || s.BenchF1 < 0.96 {
		t.Errorf("extraction F1 %.4f (benchmark-script F1 %.4f) below 0.96", s.F1, s.BenchF1)
	}
}
