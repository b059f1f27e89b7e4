package pipeline

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/swardnet/sward/internal/evalset"
)

const wcxbTestData = "../../shared/testdata/wcxb"

func loadWCXB(tb testing.TB) []EvalCase {
	tb.Helper()
	if testing.Short() || os.Getenv("SWARD_WCXB") != "1" {
		tb.Skip("WCXB eval runs with SWARD_WCXB=1 and without -short (minutes under -race)")
	}
	if _, err := os.Stat(filepath.Join(wcxbTestData, "ground-truth")); err != nil {
		if os.Getenv("SWARD_REQUIRE_E2E") == "1" {
			tb.Fatalf("WCXB set missing at %s: %v", wcxbTestData, err)
		}
		tb.Skipf("WCXB set not present at %s", wcxbTestData)
	}
	pages, err := evalset.LoadWCXB(wcxbTestData)
	if err != nil {
		tb.Fatal(err)
	}
	return evalCases(pages)
}

// TestPageTypeAccuracy classifies the WCXB check-split pages (all pages
// with SWARD_WCXB_FULL=1, which reports the tuning split too) and checks
// accuracy on the check split. Skipped under -short.
func TestPageTypeAccuracy(t *testing.T) {
	cases := loadWCXB(t)
	if os.Getenv("SWARD_WCXB_FULL") != "1" {
		var check []EvalCase
		for _, c := range cases {
			if EvalSplit(c.ID) == "check" {
				check = append(check, c)
			}
		}
		cases = check
	}
	correct := map[string]int{}
	total := map[string]int{}
	confusion := map[string]int{}
	for _, c := range cases {
		page, err := Decode(c.HTML, "text/html")
		if err != nil {
			continue
		}
		root, err := html.Parse(strings.NewReader(page))
		if err != nil {
			continue
		}
		ld, og := pageMetadata(root)
		got := ClassifyPage(root, c.URL, ld, og)
		sp := EvalSplit(c.ID)
		total[sp]++
		total[c.PageType]++
		if got == c.PageType {
			correct[sp]++
			correct[c.PageType]++
		} else {
			confusion[c.PageType+"->"+got]++
		}
	}
	for _, k := range append([]string{"tune", "check"}, PageTypes...) {
		t.Logf("%-14s accuracy %.3f (%d/%d)", k, float64(correct[k])/float64(max(1, total[k])), correct[k], total[k])
	}
	var conf []string
	for k, v := range confusion {
		conf = append(conf, k+"="+strconv.Itoa(v))
	}
	sort.Strings(conf)
	t.Logf("confusions: %s", strings.Join(conf, " "))
	if acc := float64(correct["check"]) / float64(max(1, total["check"])); acc < 0.7 {
		t.Errorf("page-type accuracy on the check split %.3f, want >= 0.7", acc)
	}
}
