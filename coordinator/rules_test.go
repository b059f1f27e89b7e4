package coordinator

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

func TestCuratorRuleOverridesExtraction(t *testing.T) {
	c := &Coordinator{}
	c.log = slog.Default()
	rule := schemas.ExtractionRule{Version: 1, Domain: "127.0.0.1:9", RuleVersion: 2, Body: "#story",
		Exclude: []string{".ad"}, Fields: []schemas.FieldRule{{Name: "author", Selector: ".byline"}}}
	calls := 0
	c.SetRules(func(context.Context) ([]schemas.ExtractionRule, error) {
		calls++
		return []schemas.ExtractionRule{rule}, nil
	})
	page := []byte(`<html><body><div class="nav">Home</div><div id="story"><p>The bridge opened today.</p>
		<div class="ad">Buy now</div><p>Crowds cheered.</p></div><span class="byline">Ana Ruiz</span></body></html>`)
	capt := &schemas.Capture{URL: "http://127.0.0.1:9/a", Body: page}
	md := "stale markdown"
	res := pipeline.Result{Decision: pipeline.Accept, Doc: &schemas.Document{Text: "Home The bridge", Markdown: &md}}
	c.applyRule(context.Background(), capt, capt.URL, &res)
	d := res.Doc
	if d.Text != "The bridge opened today.\n\nCrowds cheered." {
		t.Errorf("text %q, want the rule's body without the ad", d.Text)
	}
	if d.Author == nil || *d.Author != "Ana Ruiz" {
		t.Errorf("author %v, want the rule's field", d.Author)
	}
	if d.Markdown != nil || d.ContentSHA256 != schemas.SHA256Hex([]byte(d.Text)) || d.TokenCount == 0 {
		t.Errorf("derived fields not refreshed: markdown %v sha %q tokens %d", d.Markdown, d.ContentSHA256, d.TokenCount)
	}
	if len(res.Reasons) != 1 || res.Reasons[0] != "rule:127.0.0.1:9" {
		t.Errorf("reasons %v, want the rule recorded", res.Reasons)
	}

	// Other domains are left alone, and the rules are cached between pages.
	other := pipeline.Result{Doc: &schemas.Document{Text: "kept"}}
	c.applyRule(context.Background(), &schemas.Capture{URL: "http://127.0.0.2/a", Body: page}, "http://127.0.0.2/a", &other)
	if other.Doc.Text != "kept" || calls != 1 {
		t.Errorf("other domain text %q, rule loads %d", other.Doc.Text, calls)
	}

	// Of several rules for a domain, the highest version wins, whatever the
	// order the source lists them in.
	c3 := &Coordinator{log: slog.Default()}
	older := rule
	older.RuleVersion, older.Body = 1, ".nav"
	c3.SetRules(func(context.Context) ([]schemas.ExtractionRule, error) {
		return []schemas.ExtractionRule{rule, older}, nil
	})
	both := pipeline.Result{Decision: pipeline.Accept, Doc: &schemas.Document{Text: "x"}}
	c3.applyRule(context.Background(), capt, capt.URL, &both)
	if both.Doc.Text != "The bridge opened today.\n\nCrowds cheered." {
		t.Errorf("text %q, want version 2's body, not version 1's", both.Doc.Text)
	}

	// A failing source leaves extraction as the pipeline made it.
	c2 := &Coordinator{log: slog.Default()}
	c2.SetRules(func(context.Context) ([]schemas.ExtractionRule, error) { return nil, errors.New("down") })
	same := pipeline.Result{Doc: &schemas.Document{Text: "pipeline text"}}
	c2.applyRule(context.Background(), capt, capt.URL, &same)
	if same.Doc.Text != "pipeline text" {
		t.Errorf("text changed without a rule: %q", same.Doc.Text)
	}
}
