package pipeline

import (
	"fmt"
	"strings"
	"testing"
)

// longText is a page-sized text whose sentences all differ.
func longText(day string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "The council met on %s. ", day)
	for i := range 60 {
		fmt.Fprintf(&b, "Speaker %d argued about item %d of the budget for the river footbridge. ", i, i*7)
	}
	return b.String()
}

func TestDedupForget(t *testing.T) {
	d := NewDedup(5, 14, 8)
	text, altered := longText("tuesday"), longText("monday")
	lie := d.Key(altered)
	if r := d.Add(lie, true, true); r.Exact || r.Near {
		t.Fatalf("first document reported as duplicate: %+v", r)
	}
	if r := d.Add(d.Key(text), true, true); !r.Near {
		t.Fatalf("a one-word change was not a near duplicate: %+v", r)
	}
	d2 := NewDedup(5, 14, 8)
	d2.Add(lie, true, true)
	d2.Forget(lie)
	if r := d2.Add(d2.Key(text), true, true); r.Exact || r.Near || r.ClusterSize != 1 {
		t.Errorf("after forgetting the altered copy, the honest text is still a duplicate: %+v", r)
	}
	if r := d2.Add(lie, true, true); r.Exact {
		t.Errorf("a forgotten text is still an exact duplicate: %+v", r)
	}
	d2.Forget(d2.Key("never seen at all"))
}
