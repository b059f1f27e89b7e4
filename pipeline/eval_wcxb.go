package pipeline

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
)

// EvalLayout names the two labelled-set layouts LoadEval reads.
type EvalLayout string

const (
	// LayoutArticle is the article-extraction-benchmark layout:
	// ground-truth.json and html/<id>.html.gz, scored with 4-token shingles.
	LayoutArticle EvalLayout = "article"
	// LayoutWCXB is the WCXB layout: ground-truth/<id>.json and
	// html/<id>.html.gz, scored with bag-of-words F1 per page.
	LayoutWCXB EvalLayout = "wcxb"
)

// DetectEvalLayout tells which layout dir has, or returns an error saying
// what was expected.
func DetectEvalLayout(dir string) (EvalLayout, error) {
	if st, err := os.Stat(filepath.Join(dir, "ground-truth.json")); err == nil && !st.IsDir() {
		return LayoutArticle, nil
	}
	if st, err := os.Stat(filepath.Join(dir, "ground-truth")); err == nil && st.IsDir() {
		return LayoutWCXB, nil
	}
	return "", fmt.Errorf("%s has neither ground-truth.json (article benchmark) nor ground-truth/ (WCXB): point --data at a labelled set", dir)
}

// LoadEval reads a labelled set in either layout.
func LoadEval(dir string) (EvalLayout, []EvalCase, error) {
	layout, err := DetectEvalLayout(dir)
	if err != nil {
		return "", nil, err
	}
	var cases []EvalCase
	if layout == LayoutArticle {
		cases, err = LoadEvalDir(dir)
	} else {
		cases, err = LoadWCXBDir(dir)
	}
	return layout, cases, err
}

// LoadWCXBDir reads a directory laid out like WCXB: ground-truth/<id>.json
// holding url, _internal.page_type.primary and ground_truth.main_content,
// and html/<id>.html.gz. Cases come back sorted by id.
func LoadWCXBDir(dir string) ([]EvalCase, error) {
	entries, err := os.ReadDir(filepath.Join(dir, "ground-truth"))
	if err != nil {
		return nil, fmt.Errorf("loading WCXB set: %w", err)
	}
	var cases []EvalCase
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		id := strings.TrimSuffix(e.Name(), ".json")
		path := filepath.Join(dir, "ground-truth", e.Name())
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("loading WCXB set: %w", err)
		}
		var gt struct {
			URL      string `json:"url"`
			Internal struct {
				PageType struct {
					Primary string `json:"primary"`
				} `json:"page_type"`
			} `json:"_internal"`
			Truth struct {
				Main string `json:"main_content"`
			} `json:"ground_truth"`
		}
		if err := json.Unmarshal(raw, &gt); err != nil {
			return nil, fmt.Errorf("parsing %s: %w (fix or remove the file)", path, err)
		}
		body, err := readPage(filepath.Join(dir, "html", id))
		if err != nil {
			return nil, err
		}
		cases = append(cases, EvalCase{ID: id, URL: gt.URL, HTML: body, Expected: gt.Truth.Main, PageType: gt.Internal.PageType.Primary})
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].ID < cases[j].ID })
	return cases, nil
}

// EvalSplit puts a case in the tuning or the check part of a labelled set
// by a hash of its id: a fixed split that does not depend on the order or
// the content of the pages. About one case in four is a check case.
func EvalSplit(id string) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	if h.Sum32()%4 == 0 {
		return "check"
	}
	return "tune"
}

// WordMatch scores predicted against expected with the WCXB metric: both
// are lower-cased and split into \w+ tokens, and precision and recall are
// the multiset overlap over the predicted and the expected token counts.
func WordMatch(expected, predicted string) (precision, recall, f1 float64) {
	want := wordBag(expected)
	got := wordBag(predicted)
	var nw, ng, overlap int
	for _, c := range want {
		nw += c
	}
	for k, c := range got {
		ng += c
		overlap += min(c, want[k])
	}
	switch {
	case nw == 0 && ng == 0:
		return 1, 1, 1
	case nw == 0 || ng == 0:
		return 0, 0, 0
	}
	precision = float64(overlap) / float64(ng)
	recall = float64(overlap) / float64(nw)
	return precision, recall, harmonic(precision, recall)
}

func wordBag(s string) map[string]int {
	out := make(map[string]int)
	for _, t := range benchTokens(s) {
		out[strings.Map(unicode.ToLower, t)]++
	}
	return out
}

// WordScore is the mean per-page WCXB score of a group of pages.
type WordScore struct {
	Docs      int     `json:"docs"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
}

// WordEval is a WCXB-metric run: overall, per page type and per split.
type WordEval struct {
	All     WordScore            `json:"all"`
	ByType  map[string]WordScore `json:"by_type"`
	BySplit map[string]WordScore `json:"by_split"`
	// ByTypeSplit is by "type/split" (e.g. "forum/check").
	ByTypeSplit map[string]WordScore `json:"by_type_split"`
	// PerDoc holds each page's F1, by id.
	PerDoc map[string]float64 `json:"-"`
}

// ScoreWords scores predictions (by case id) against the cases with the
// WCXB metric. A case with no prediction scores as an empty extraction.
func ScoreWords(cases []EvalCase, predictions map[string]string) WordEval {
	ev := WordEval{ByType: map[string]WordScore{}, BySplit: map[string]WordScore{}, ByTypeSplit: map[string]WordScore{}, PerDoc: map[string]float64{}}
	add := func(s *WordScore, p, r, f float64) {
		s.Docs++
		s.Precision += p
		s.Recall += r
		s.F1 += f
	}
	for _, c := range cases {
		p, r, f := WordMatch(c.Expected, predictions[c.ID])
		ev.PerDoc[c.ID] = f
		add(&ev.All, p, r, f)
		t := ev.ByType[c.PageType]
		add(&t, p, r, f)
		ev.ByType[c.PageType] = t
		sp := ev.BySplit[EvalSplit(c.ID)]
		add(&sp, p, r, f)
		ev.BySplit[EvalSplit(c.ID)] = sp
		key := c.PageType + "/" + EvalSplit(c.ID)
		ts := ev.ByTypeSplit[key]
		add(&ts, p, r, f)
		ev.ByTypeSplit[key] = ts
	}
	mean := func(s WordScore) WordScore {
		if s.Docs > 0 {
			n := float64(s.Docs)
			s.Precision, s.Recall, s.F1 = s.Precision/n, s.Recall/n, s.F1/n
		}
		return s
	}
	ev.All = mean(ev.All)
	for k, v := range ev.ByType {
		ev.ByType[k] = mean(v)
	}
	for k, v := range ev.BySplit {
		ev.BySplit[k] = mean(v)
	}
	for k, v := range ev.ByTypeSplit {
		ev.ByTypeSplit[k] = mean(v)
	}
	return ev
}
