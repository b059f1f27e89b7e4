package pipeline

import (
	"fmt"
	"sort"
	"strings"

	"github.com/swardnet/sward/schemas"
)

// Config holds every stage's thresholds. Default gives FineWeb's values
// (datatrove's GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter
// and FineWebQualityFilter as used for FineWeb); a job may override any
// numeric threshold by name (see Thresholds) in its spec's `quality:` map.
type Config struct {
	// Extract bounds extraction; Default fills it, and Validate refuses
	// a limit below 1 (a zero value would mean no limit to Extract).
	Extract ExtractOptions

	// Language: documents whose top language scores below the language's
	// threshold (or MinLanguageScore when the language has none) are
	// rejected. Languages, when non-empty, lists the ISO 639-1 codes kept.
	MinLanguageScore   float64
	LanguageThresholds map[string]float64
	Languages          []string

	// Gopher repetition (Rae et al. 2021, as in datatrove).
	DupLineFrac     float64
	DupParaFrac     float64
	DupLineCharFrac float64
	DupParaCharFrac float64
	// TopNGramFrac[n] bounds the share of characters covered by the most
	// frequent n-gram, for n = 2..4.
	TopNGramFrac map[int]float64
	// DupNGramFrac[n] bounds the share of characters in duplicated
	// n-grams, for n = 5..10.
	DupNGramFrac map[int]float64

	// Gopher quality.
	MinDocWords          float64
	MaxDocWords          float64
	MinAvgWordLength     float64
	MaxAvgWordLength     float64
	MaxSymbolWordRatio   float64
	MaxBulletLinesRatio  float64
	MaxEllipsisLineRatio float64
	MaxNonAlphaWordRatio float64
	MinStopWords         float64

	// C4 (Raffel et al. 2020) with FineWeb's settings: lines with fewer
	// than C4MinWordsPerLine words, lines mentioning javascript or a
	// policy, and citation marks are removed from Text; pages with lorem
	// ipsum, a curly bracket or fewer than C4MinSentences sentences are
	// rejected. C4TerminalPunct (off in FineWeb) would also drop lines not
	// ending in terminal punctuation.
	C4MinWordsPerLine float64
	C4MaxWordLength   float64
	C4MinSentences    float64
	C4CurlyBracket    bool
	C4LoremIpsum      bool
	C4TerminalPunct   bool

	// FineWeb's own filter.
	LinePunctThr       float64
	ShortLineThr       float64
	ShortLineLength    float64
	CharDuplicatesThr  float64
	NewLineRatio       float64
	MinTextRunesOutput float64

	// Dedup: MinHash over word n-grams with Bands x Rows hashes.
	DedupNGram int
	DedupBands int
	DedupRows  int
	// ExactDedup and NearDedup turn the two dedup stages on.
	ExactDedup bool
	NearDedup  bool

	// PII redaction.
	RedactPII bool

	// Review routing: documents whose extraction confidence is below
	// ReviewConfidence, or whose language score is within ReviewMargin of
	// its threshold, go to review; AuditFraction of otherwise accepted
	// documents (chosen by a hash of the URL) go to review as an audit.
	ReviewConfidence float64
	ReviewMargin     float64
	AuditFraction    float64
	// ReviewQualityMargin is the relative band around a quality limit
	// within which a passing document goes to review
	// ("review:borderline_quality"); 0 turns it off.
	ReviewQualityMargin float64
}

// Default sets FineWeb's thresholds and sward's routing defaults.
func (c *Config) Default() {
	*c = Config{
		Extract:            DefaultExtractOptions(),
		MinLanguageScore:   0.20,
		LanguageThresholds: map[string]float64{},

		DupLineFrac:     0.3,
		DupParaFrac:     0.3,
		DupLineCharFrac: 0.2,
		DupParaCharFrac: 0.2,
		TopNGramFrac:    map[int]float64{2: 0.2, 3: 0.18, 4: 0.16},
		DupNGramFrac:    map[int]float64{5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},

		MinDocWords:          50,
		MaxDocWords:          100000,
		MinAvgWordLength:     3,
		MaxAvgWordLength:     10,
		MaxSymbolWordRatio:   0.1,
		MaxBulletLinesRatio:  0.9,
		MaxEllipsisLineRatio: 0.3,
		MaxNonAlphaWordRatio: 0.8,
		MinStopWords:         2,

		C4MinWordsPerLine: 3,
		C4MaxWordLength:   1000,
		C4MinSentences:    5,
		C4CurlyBracket:    true,
		C4LoremIpsum:      true,
		C4TerminalPunct:   false,

		LinePunctThr:       0.12,
		ShortLineThr:       0.67,
		ShortLineLength:    30,
		CharDuplicatesThr:  0.01,
		NewLineRatio:       0.3,
		MinTextRunesOutput: 1,

		DedupNGram: 5,
		DedupBands: 14,
		DedupRows:  8,
		ExactDedup: true,
		NearDedup:  true,
		RedactPII:  true,

		ReviewConfidence:    0.5,
		ReviewMargin:        0.05,
		AuditFraction:       0.01,
		ReviewQualityMargin: 0.02,
	}
}

// DefaultConfig returns a Config with Default applied.
func DefaultConfig() Config {
	var c Config
	c.Default()
	return c
}

// Validate reports the first out-of-range setting.
func (c Config) Validate() error {
	frac := map[string]float64{
		"min_language_score": c.MinLanguageScore, "dup_line_frac": c.DupLineFrac,
		"dup_para_frac": c.DupParaFrac, "dup_line_char_frac": c.DupLineCharFrac,
		"dup_para_char_frac": c.DupParaCharFrac, "max_bullet_lines_ratio": c.MaxBulletLinesRatio,
		"max_ellipsis_lines_ratio": c.MaxEllipsisLineRatio, "max_non_alpha_words_ratio": c.MaxNonAlphaWordRatio,
		"line_punct_thr": c.LinePunctThr, "short_line_thr": c.ShortLineThr,
		"char_duplicates_ratio": c.CharDuplicatesThr, "review_confidence": c.ReviewConfidence,
		"review_margin": c.ReviewMargin, "audit_fraction": c.AuditFraction,
		"review_quality_margin": c.ReviewQualityMargin,
	}
	for _, name := range sortedKeys(frac) {
		if v := frac[name]; v < 0 || v > 1 {
			return fmt.Errorf("pipeline config: %s = %v, want a fraction between 0 and 1", name, v)
		}
	}
	for lang, v := range c.LanguageThresholds {
		if v < 0 || v > 1 {
			return fmt.Errorf("pipeline config: language threshold for %q = %v, want 0..1", lang, v)
		}
	}
	if c.MinDocWords < 0 || (c.MaxDocWords > 0 && c.MaxDocWords < c.MinDocWords) {
		return fmt.Errorf("pipeline config: doc word bounds [%v, %v] are inconsistent", c.MinDocWords, c.MaxDocWords)
	}
	if c.MinAvgWordLength < 0 || c.MaxAvgWordLength < c.MinAvgWordLength {
		return fmt.Errorf("pipeline config: average word length bounds [%v, %v] are inconsistent", c.MinAvgWordLength, c.MaxAvgWordLength)
	}
	if c.DedupNGram < 1 || c.DedupBands < 1 || c.DedupRows < 1 || c.DedupBands*c.DedupRows > 1024 {
		return fmt.Errorf("pipeline config: dedup n-gram %d with %d bands x %d rows is not usable", c.DedupNGram, c.DedupBands, c.DedupRows)
	}
	for n, v := range c.TopNGramFrac {
		if n < 1 || v < 0 || v > 1 {
			return fmt.Errorf("pipeline config: top %d-gram fraction %v is not usable", n, v)
		}
	}
	for n, v := range c.DupNGramFrac {
		if n < 1 || v < 0 || v > 1 {
			return fmt.Errorf("pipeline config: duplicated %d-gram fraction %v is not usable", n, v)
		}
	}
	if err := c.Extract.Validate(); err != nil {
		return fmt.Errorf("pipeline config: %w", err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// thresholds maps the names a job spec may use to the settings they set.
func (c *Config) thresholds() map[string]*float64 {
	m := map[string]*float64{
		"min_language_score":        &c.MinLanguageScore,
		"dup_line_frac":             &c.DupLineFrac,
		"dup_para_frac":             &c.DupParaFrac,
		"dup_line_char_frac":        &c.DupLineCharFrac,
		"dup_para_char_frac":        &c.DupParaCharFrac,
		"min_doc_words":             &c.MinDocWords,
		"max_doc_words":             &c.MaxDocWords,
		"min_avg_word_length":       &c.MinAvgWordLength,
		"max_avg_word_length":       &c.MaxAvgWordLength,
		"max_symbol_word_ratio":     &c.MaxSymbolWordRatio,
		"max_bullet_lines_ratio":    &c.MaxBulletLinesRatio,
		"max_ellipsis_lines_ratio":  &c.MaxEllipsisLineRatio,
		"max_non_alpha_words_ratio": &c.MaxNonAlphaWordRatio,
		"min_stop_words":            &c.MinStopWords,
		"c4_min_words_per_line":     &c.C4MinWordsPerLine,
		"c4_max_word_length":        &c.C4MaxWordLength,
		"c4_min_sentences":          &c.C4MinSentences,
		"line_punct_thr":            &c.LinePunctThr,
		"short_line_thr":            &c.ShortLineThr,
		"short_line_length":         &c.ShortLineLength,
		"char_duplicates_ratio":     &c.CharDuplicatesThr,
		"new_line_ratio":            &c.NewLineRatio,
		"review_confidence":         &c.ReviewConfidence,
		"review_margin":             &c.ReviewMargin,
		"audit_fraction":            &c.AuditFraction,
		"review_quality_margin":     &c.ReviewQualityMargin,
	}
	return m
}

// Thresholds lists the names a job's `quality:` map may override.
func Thresholds() []string {
	var c Config
	return sortedKeys(c.thresholds())
}

// ForJob returns the config with the job's overrides applied: its
// `quality:` thresholds (by name; "lang:<code>" sets one language's
// threshold; a name "top_2gram_frac" or "dup_5gram_frac" sets one n-gram
// bound) and its `languages:` list.
func (c Config) ForJob(job *schemas.JobSpec) (Config, error) {
	if job == nil || (len(job.Quality) == 0 && len(job.Languages) == 0) {
		return c, nil
	}
	out := c
	out.LanguageThresholds = cloneMap(c.LanguageThresholds)
	out.TopNGramFrac = cloneMap(c.TopNGramFrac)
	out.DupNGramFrac = cloneMap(c.DupNGramFrac)
	if len(job.Languages) > 0 {
		out.Languages = append([]string(nil), job.Languages...)
	}
	th := out.thresholds()
	for _, name := range sortedKeys(job.Quality) {
		v := job.Quality[name]
		var n int
		switch {
		case th[name] != nil:
			*th[name] = v
		case strings.HasPrefix(name, "lang:"):
			out.LanguageThresholds[strings.TrimPrefix(name, "lang:")] = v
		case scanGram(name, "top_%dgram_frac", &n):
			out.TopNGramFrac[n] = v
		case scanGram(name, "dup_%dgram_frac", &n):
			out.DupNGramFrac[n] = v
		default:
			return c, fmt.Errorf("job %q: quality threshold %q is unknown (known: %s, lang:<code>, top_<n>gram_frac, dup_<n>gram_frac)",
				job.Name, name, strings.Join(Thresholds(), ", "))
		}
	}
	if err := out.Validate(); err != nil {
		return c, fmt.Errorf("job %q: %w", job.Name, err)
	}
	return out, nil
}

func scanGram(name, format string, n *int) bool {
	_, err := fmt.Sscanf(name, format, n)
	return err == nil && fmt.Sprintf(format, *n) == name
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
