package pipeline

import (
	"hash/fnv"
	"strings"
	"unicode"
)

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
