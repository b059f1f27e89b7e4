package pipeline

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Quality reasons are "quality:<rule>"; scores use the rule's name.

// gopherStopWords are the English stop words the Gopher rules count.
var gopherStopWords = map[string]bool{"the": true, "be": true, "to": true, "of": true, "and": true, "that": true, "have": true, "with": true}

// noSpaceLangs write without spaces between words; word-based rules count
// characters instead.
var noSpaceLangs = map[string]bool{"zh": true, "ja": true, "th": true, "lo": true, "km": true, "my": true, "bo": true}

// textStats are the tokens and lines the rules share.
type textStats struct {
	text  string
	lines []string
	// words are whitespace-separated tokens; wordHashes and wordLens
	// belong to them.
	words      []string
	wordHashes []uint64
	// alnumWords are words with their surrounding punctuation stripped,
	// pure-punctuation tokens dropped.
	alnumWords []string
	runes      int
}

func newTextStats(text string) *textStats {
	st := &textStats{text: text, runes: utf8.RuneCountInString(text)}
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) != "" {
			st.lines = append(st.lines, l)
		}
	}
	st.words = strings.Fields(text)
	st.wordHashes = make([]uint64, len(st.words))
	for i, w := range st.words {
		st.wordHashes[i] = fnv64(w)
		if a := strings.TrimFunc(w, func(r rune) bool { return !isWordRune(r) }); a != "" {
			st.alnumWords = append(st.alnumWords, a)
		}
	}
	return st
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// check records a score and, if it fails, a reason.
type checker struct {
	reasons []string
	scores  map[string]float64
	// margin is the relative band around a limit that counts as a near
	// miss; near lists the rules that passed within it.
	margin float64
	near   []string
}

func (c *checker) check(name string, value float64, fail bool) {
	c.scores[name] = value
	if fail {
		c.reasons = append(c.reasons, "quality:"+name)
	}
}

// atMost fails a value above limit; a pass within margin of the limit is a
// near miss, which routing may send to review.
func (c *checker) atMost(name string, value, limit float64) {
	c.check(name, value, value > limit)
	if value <= limit && limit > 0 && value >= limit*(1-c.margin) {
		c.near = append(c.near, name)
	}
}

// atLeast fails a value below limit; see atMost for near misses.
func (c *checker) atLeast(name string, value, limit float64) {
	c.check(name, value, value < limit)
	if value >= limit && limit > 0 && value <= limit*(1+c.margin) {
		c.near = append(c.near, name)
	}
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// duplicates counts repeated elements (after the first) and their bytes.
func duplicates(xs []string) (n, chars int) {
	seen := make(map[string]struct{}, len(xs))
	for _, x := range xs {
		if _, ok := seen[x]; ok {
			n++
			chars += len(x)
			continue
		}
		seen[x] = struct{}{}
	}
	return n, chars
}

// gopherRepetition applies the Gopher repetition rules.
func gopherRepetition(st *textStats, cfg *Config, c *checker) {
	if len(st.text) == 0 {
		return
	}
	paras := splitParagraphs(st.text)
	n, chars := duplicates(paras)
	c.atMost("gopher_dup_para_frac", ratio(n, len(paras)), cfg.DupParaFrac)
	c.atMost("gopher_dup_para_char_frac", ratio(chars, len(st.text)), cfg.DupParaCharFrac)
	n, chars = duplicates(st.lines)
	c.atMost("gopher_dup_line_frac", ratio(n, len(st.lines)), cfg.DupLineFrac)
	c.atMost("gopher_dup_line_char_frac", ratio(chars, len(st.text)), cfg.DupLineCharFrac)

	for _, n := range sortedInts(cfg.TopNGramFrac) {
		v := topNGramFrac(st, n)
		c.atMost("gopher_top_"+strconv.Itoa(n)+"gram", v, cfg.TopNGramFrac[n])
	}
	for _, n := range sortedInts(cfg.DupNGramFrac) {
		v := dupNGramFrac(st, n)
		c.atMost("gopher_dup_"+strconv.Itoa(n)+"gram", v, cfg.DupNGramFrac[n])
	}
}

func splitParagraphs(s string) []string {
	var out []string
	for _, p := range strings.Split(s, "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func gramHash(hs []uint64) uint64 {
	h := uint64(1469598103934665603)
	for _, x := range hs {
		h = (h ^ x) * 0x100000001b3
		h ^= h >> 29
	}
	return h
}

func gramChars(st *textStats, i, n int) int {
	l := n - 1
	for _, w := range st.words[i : i+n] {
		l += len(w)
	}
	return l
}

// topNGramFrac is the share of text covered by the most frequent n-gram.
func topNGramFrac(st *textStats, n int) float64 {
	if len(st.words) < n {
		return 0
	}
	counts := make(map[uint64]int, len(st.words))
	best, bestAt := 0, 0
	for i := 0; i+n <= len(st.words); i++ {
		h := gramHash(st.wordHashes[i : i+n])
		counts[h]++
		if counts[h] > best {
			best, bestAt = counts[h], i
		}
	}
	if best < 2 {
		return 0
	}
	return ratio(best*gramChars(st, bestAt, n), len(st.text))
}

// dupNGramFrac is the share of text inside n-grams seen before, counting
// overlapping repeats once (as datatrove does).
func dupNGramFrac(st *textStats, n int) float64 {
	if len(st.words) < n {
		return 0
	}
	seen := make(map[uint64]struct{}, len(st.words))
	dupChars := 0
	for i := 0; i+n <= len(st.words); {
		h := gramHash(st.wordHashes[i : i+n])
		if _, ok := seen[h]; ok {
			dupChars += gramChars(st, i, n)
			i += n
			continue
		}
		seen[h] = struct{}{}
		i++
	}
	return ratio(dupChars, len(st.text))
}

var bulletPrefixes = []string{"•", "●", "○", "■", "□", "▪", "▫", "–", "-", "*", "‣", "⁃", "◦"}

// gopherQuality applies the Gopher quality rules. Word-length and
// stop-word rules are defined for English-like text; other languages
// skip the stop-word rule and unspaced scripts count characters.
func gopherQuality(st *textStats, lang string, cfg *Config, c *checker) {
	nWords := len(st.alnumWords)
	if noSpaceLangs[lang] {
		nWords = wordCharCount(st.text) / 2
	}
	c.atLeast("gopher_min_doc_words", float64(nWords), cfg.MinDocWords)
	c.check("gopher_max_doc_words", float64(nWords), cfg.MaxDocWords > 0 && float64(nWords) > cfg.MaxDocWords)
	if !noSpaceLangs[lang] && len(st.alnumWords) > 0 {
		total := 0
		for _, w := range st.alnumWords {
			total += utf8.RuneCountInString(w)
		}
		avg := float64(total) / float64(len(st.alnumWords))
		c.check("gopher_avg_word_length", avg, avg < cfg.MinAvgWordLength || avg > cfg.MaxAvgWordLength)
	}
	if len(st.words) > 0 {
		sym := strings.Count(st.text, "#") + strings.Count(st.text, "...") + strings.Count(st.text, "…")
		v := ratio(sym, len(st.words))
		c.atMost("gopher_symbol_word_ratio", v, cfg.MaxSymbolWordRatio)
	}
	if len(st.lines) > 0 {
		bullets, ellipsis := 0, 0
		for _, l := range st.lines {
			t := strings.TrimSpace(l)
			for _, p := range bulletPrefixes {
				if strings.HasPrefix(t, p) {
					bullets++
					break
				}
			}
			if strings.HasSuffix(t, "...") || strings.HasSuffix(t, "…") {
				ellipsis++
			}
		}
		v := ratio(bullets, len(st.lines))
		c.atMost("gopher_bullet_lines_ratio", v, cfg.MaxBulletLinesRatio)
		v = ratio(ellipsis, len(st.lines))
		c.atMost("gopher_ellipsis_lines_ratio", v, cfg.MaxEllipsisLineRatio)
	}
	if len(st.words) > 0 {
		alpha := 0
		for _, w := range st.words {
			if strings.IndexFunc(w, unicode.IsLetter) >= 0 {
				alpha++
			}
		}
		v := ratio(alpha, len(st.words))
		c.atLeast("gopher_alpha_words_ratio", v, cfg.MaxNonAlphaWordRatio)
	}
	if lang == "en" && cfg.MinStopWords > 0 {
		n := 0
		for _, w := range st.alnumWords {
			if gopherStopWords[strings.ToLower(w)] {
				n++
			}
		}
		c.atLeast("gopher_stop_words", float64(n), cfg.MinStopWords)
	}
}

// c4Document applies C4's page-level rules.
func c4Document(text string, cfg *Config, c *checker) {
	low := strings.ToLower(text)
	if cfg.C4LoremIpsum && strings.Contains(low, "lorem ipsum") {
		c.check("c4_lorem_ipsum", 1, true)
	}
	if cfg.C4CurlyBracket && strings.Contains(text, "{") {
		c.check("c4_curly_bracket", 1, true)
	}
	n := countSentences(text)
	c.atLeast("c4_min_sentences", float64(n), cfg.C4MinSentences)
}

// countSentences counts sentence ends: terminal punctuation followed by
// a space, a line end or the end of text.
func countSentences(text string) int {
	n := 0
	prevTerm := false
	for _, r := range text {
		term := r == '.' || r == '!' || r == '?' || r == '。' || r == '！' || r == '？' || r == '…'
		if prevTerm && !term && (unicode.IsSpace(r) || r == '"' || r == '”' || r == '’' || r == ')') {
			n++
		}
		if r == '。' || r == '！' || r == '？' {
			n++
			prevTerm = false
			continue
		}
		prevTerm = term
	}
	if prevTerm {
		n++
	}
	return n
}

// finewebStopChars end a "complete" line in FineWeb's filter.
var finewebStopChars = ".'\"!?。！？…:;)”’»"

// finewebQuality applies FineWeb's own filter.
func finewebQuality(text string, cfg *Config, c *checker) {
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		c.check("fineweb_empty", 1, true)
		return
	}
	punct, short := 0, 0
	for _, l := range lines {
		r, _ := utf8.DecodeLastRuneInString(l)
		if strings.ContainsRune(finewebStopChars, r) {
			punct++
		}
		if float64(utf8.RuneCountInString(l)) <= cfg.ShortLineLength {
			short++
		}
	}
	v := ratio(punct, len(lines))
	c.atLeast("fineweb_line_punct_ratio", v, cfg.LinePunctThr)
	v = ratio(short, len(lines))
	c.atMost("fineweb_short_line_ratio", v, cfg.ShortLineThr)
	_, dupChars := duplicates(lines)
	v = ratio(dupChars, len(text)-strings.Count(text, "\n"))
	c.atMost("fineweb_char_dup_ratio", v, cfg.CharDuplicatesThr)
	words := countFields(text)
	v = ratio(strings.Count(text, "\n"), words)
	c.check("fineweb_list_ratio", v, words > 0 && v > cfg.NewLineRatio)
}

func sortedInts(m map[int]float64) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
