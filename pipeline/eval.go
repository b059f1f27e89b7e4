package pipeline

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"unicode"

	trafilatura "github.com/markusmobius/go-trafilatura"
)

// ShingleN is the shingle length of the article-extraction-benchmark metric.
const ShingleN = 4

// Match is the per-document outcome of the shingle metric: true positives,
// false positives and false negatives, normalised to sum to 1.
type Match struct {
	TP, FP, FN float64
}

// Precision is TP/(TP+FP); a document with nothing predicted scores 0
// unless nothing was expected either.
func (m Match) Precision() float64 {
	if m.TP+m.FP == 0 {
		if m.FN == 0 {
			return 1
		}
		return 0
	}
	return m.TP / (m.TP + m.FP)
}

// Recall is TP/(TP+FN); a document with nothing expected scores 1.
func (m Match) Recall() float64 {
	if m.TP+m.FN == 0 {
		return 1
	}
	return m.TP / (m.TP + m.FN)
}

// benchTokens splits text into the benchmark's tokens: runs of Unicode
// letters, digits and underscores (Python's \w+).
func benchTokens(s string) []string {
	var out []string
	start := -1
	for i, r := range s {
		word := unicode.IsLetter(r) || unicode.IsNumber(r) || r == '_'
		switch {
		case word && start < 0:
			start = i
		case !word && start >= 0:
			out = append(out, s[start:i])
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// shingles counts the n-token shingles of s. A text shorter than n tokens
// is one shingle of all its tokens, as in the benchmark.
func shingles(s string, n int) map[string]int {
	toks := benchTokens(s)
	out := make(map[string]int)
	if len(toks) == 0 {
		return out
	}
	if len(toks) < n {
		n = len(toks)
	}
	for i := 0; i+n <= len(toks); i++ {
		key := ""
		for j, t := range toks[i : i+n] {
			if j > 0 {
				key += "\x00"
			}
			key += t
		}
		out[key]++
	}
	return out
}

// ShingleMatch scores a predicted text against the expected one with the
// article-extraction-benchmark metric (multisets of 4-token shingles).
func ShingleMatch(expected, predicted string) Match {
	want := shingles(expected, ShingleN)
	got := shingles(predicted, ShingleN)
	var m Match
	for k, w := range want {
		g := got[k]
		m.TP += float64(min(w, g))
		m.FN += float64(max(0, w-g))
	}
	for k, g := range got {
		m.FP += float64(max(0, g-want[k]))
	}
	if s := m.TP + m.FP + m.FN; s > 0 {
		m.TP, m.FP, m.FN = m.TP/s, m.FP/s, m.FN/s
	}
	return m
}

// EvalScore summarises an extraction run over a labelled directory.
type EvalScore struct {
	Docs int `json:"docs"`
	// Precision and Recall are per-document precision and recall averaged
	// over documents; F1 is their harmonic mean.
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	// BenchPrecision, BenchRecall and BenchF1 follow the benchmark's own
	// script: the normalised tp/fp/fn are averaged over documents first and
	// precision and recall computed from the averages.
	BenchPrecision float64 `json:"bench_precision"`
	BenchRecall    float64 `json:"bench_recall"`
	BenchF1        float64 `json:"bench_f1"`
	// PerDoc holds each document's match, by id.
	PerDoc map[string]Match `json:"-"`
}

func harmonic(a, b float64) float64 {
	if a+b == 0 {
		return 0
	}
	return 2 * a * b / (a + b)
}

// Score combines per-document matches into an EvalScore.
func Score(per map[string]Match) EvalScore {
	s := EvalScore{Docs: len(per), PerDoc: per}
	if len(per) == 0 {
		return s
	}
	var tp, fp, fn float64
	for _, m := range per {
		s.Precision += m.Precision()
		s.Recall += m.Recall()
		tp += m.TP
		fp += m.FP
		fn += m.FN
	}
	n := float64(len(per))
	s.Precision /= n
	s.Recall /= n
	s.F1 = harmonic(s.Precision, s.Recall)
	if tp+fp > 0 {
		s.BenchPrecision = tp / (tp + fp)
	}
	if tp+fn > 0 {
		s.BenchRecall = tp / (tp + fn)
	}
	s.BenchF1 = harmonic(s.BenchPrecision, s.BenchRecall)
	return s
}

// EvalCase is one labelled page of an extraction test set. The sets on
// disk are read by internal/evalset, whose Page has these fields in this
// order and so converts to an EvalCase.
type EvalCase struct {
	ID       string
	URL      string
	HTML     []byte
	Expected string
	// PageType is the labelled page type (WCXB), or "" when unlabelled.
	PageType string
}

// EvaluateExtraction runs main-content extraction over labelled cases and
// scores it with the article-extraction-benchmark metric. A page that fails
// to decode or extract counts as an empty prediction.
func EvaluateExtraction(cases []EvalCase, opt ExtractOptions) EvalScore {
	per := make(map[string]Match, len(cases))
	for _, c := range cases {
		per[c.ID] = ShingleMatch(c.Expected, ExtractText(c.HTML, c.URL, opt))
	}
	return Score(per)
}

// ExtractText decodes and extracts a page and returns its main text
// after normalisation, or "" when it has none.
func ExtractText(body []byte, pageURL string, opt ExtractOptions) string {
	page, err := Decode(body, "text/html")
	if err != nil {
		return ""
	}
	ex, err := Extract(page, pageURL, opt)
	if err != nil {
		return ""
	}
	return ex.Text
}

// Extractor names the extraction a run scores.
type Extractor string

const (
	// ExtractorSward is the pipeline's own extraction (Extract).
	ExtractorSward Extractor = "sward"
	// ExtractorTrafilatura is go-trafilatura alone, without fallback,
	// its ContentText as is.
	ExtractorTrafilatura Extractor = "trafilatura"
	// ExtractorTrafilaturaFallback is go-trafilatura alone with its
	// readability and DOM-distiller fallback.
	ExtractorTrafilaturaFallback Extractor = "trafilatura-fallback"
)

// ParseExtractor checks an extractor name.
func ParseExtractor(s string) (Extractor, error) {
	switch e := Extractor(s); e {
	case ExtractorSward, ExtractorTrafilatura, ExtractorTrafilaturaFallback:
		return e, nil
	}
	return "", fmt.Errorf("unknown extractor %q: use sward, trafilatura or trafilatura-fallback", s)
}

// ExtractWith returns the main text of a page by the named extractor, or
// "" when it has none.
func ExtractWith(e Extractor, body []byte, pageURL string, opt ExtractOptions) string {
	switch e {
	case ExtractorTrafilatura, ExtractorTrafilaturaFallback:
		return trafilaturaText(body, pageURL, e == ExtractorTrafilaturaFallback)
	}
	return ExtractText(body, pageURL, opt)
}

// trafilaturaText runs go-trafilatura with its default options.
func trafilaturaText(body []byte, pageURL string, fallback bool) (text string) {
	defer func() {
		if recover() != nil {
			text = ""
		}
	}()
	page, err := Decode(body, "text/html")
	if err != nil {
		return ""
	}
	u, _ := url.Parse(pageURL)
	res, err := trafilatura.Extract(strings.NewReader(page), trafilatura.Options{OriginalURL: u, EnableFallback: fallback})
	if err != nil || res == nil {
		return ""
	}
	return res.ContentText
}

// ExtractAll runs the extractor over cases on workers goroutines and
// returns the texts by case id.
func ExtractAll(cases []EvalCase, e Extractor, opt ExtractOptions, workers int) map[string]string {
	workers = max(1, workers)
	out := make([]string, len(cases))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = ExtractWith(e, cases[i].HTML, cases[i].URL, opt)
			}
		}()
	}
	for i := range cases {
		next <- i
	}
	close(next)
	wg.Wait()
	m := make(map[string]string, len(cases))
	for i, c := range cases {
		m[c.ID] = out[i]
	}
	return m
}

// ScoreShingles scores predictions with the article-benchmark metric.
func ScoreShingles(cases []EvalCase, predictions map[string]string) EvalScore {
	per := make(map[string]Match, len(cases))
	for _, c := range cases {
		per[c.ID] = ShingleMatch(c.Expected, predictions[c.ID])
	}
	return Score(per)
}
