package pipeline

import (
	"math"
	"testing"
)

// TestScoreWordsByTypeSplit: per type-and-split means are the means of
// the pages in that cell, and the cells partition the pages.
func TestScoreWordsByTypeSplit(t *testing.T) {
	var cases []EvalCase
	preds := map[string]string{}
	// ids whose split is known: find one tune and one check id
	var tuneID, checkID string
	for i := 0; tuneID == "" || checkID == ""; i++ {
		id := string(rune('a'+i%26)) + string(rune('a'+i/26))
		if EvalSplit(id) == "check" && checkID == "" {
			checkID = id
		} else if EvalSplit(id) == "tune" && tuneID == "" {
			tuneID = id
		}
	}
	cases = append(cases,
		EvalCase{ID: tuneID, PageType: PageForum, Expected: "one two three four"},
		EvalCase{ID: checkID, PageType: PageForum, Expected: "one two three four"})
	preds[tuneID] = "one two three four" // F1 1
	preds[checkID] = "one two"           // P 1, R 0.5, F1 2/3
	ev := ScoreWords(cases, preds)
	if got := ev.ByTypeSplit["forum/tune"]; got.Docs != 1 || got.F1 != 1 {
		t.Errorf("forum/tune = %+v, want 1 doc with F1 1", got)
	}
	if got := ev.ByTypeSplit["forum/check"]; got.Docs != 1 || math.Abs(got.F1-2.0/3) > 1e-9 || got.Recall != 0.5 {
		t.Errorf("forum/check = %+v, want 1 doc with F1 2/3, recall 0.5", got)
	}
	if got := ev.ByType[PageForum]; got.Docs != 2 || math.Abs(got.F1-5.0/6) > 1e-9 {
		t.Errorf("forum = %+v, want 2 docs with F1 5/6", got)
	}
}
