package coordinator

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/swardnet/sward/curator/rules"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

// RuleSource returns the extraction rules in force, the newest per domain.
// (*curator.Curator).Rules fits: run on the coordinator's own curator
// process, it returns only rules from curators the owner trusts, each with
// the version that process assigned on acceptance (never the version the
// author claimed). When a source returns several rules for a domain, the
// highest RuleVersion wins.
type RuleSource func(ctx context.Context) ([]schemas.ExtractionRule, error)

// ruleRefresh is how often the compiled rules are reloaded from their source.
const ruleRefresh = 2 * time.Second

// ruleBook caches compiled per-domain rules from a RuleSource.
type ruleBook struct {
	mu      sync.Mutex
	src     RuleSource
	loaded  time.Time
	byHost  map[string]*rules.Compiled
	version map[string]int
}

// SetRules makes the coordinator apply curators' per-domain extraction rules
// to every later page of those domains: a rule whose body selector matches
// replaces the pipeline's extracted text, and its fields fill the document's
// fields. Rules that fail to compile are logged and skipped.
func (c *Coordinator) SetRules(src RuleSource) {
	c.rules.mu.Lock()
	defer c.rules.mu.Unlock()
	c.rules.src = src
	c.rules.loaded = time.Time{}
}

// rule returns the compiled rule for host, reloading the book when stale.
func (b *ruleBook) rule(ctx context.Context, log *slog.Logger, host string) *rules.Compiled {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.src == nil {
		return nil
	}
	if time.Since(b.loaded) > ruleRefresh {
		b.loaded = time.Now()
		rs, err := b.src(ctx)
		if err != nil {
			log.Warn("loading extraction rules", logkey.Err, err)
		} else {
			byHost := make(map[string]*rules.Compiled, len(rs))
			version := make(map[string]int, len(rs))
			for _, r := range rs {
				host := strings.ToLower(r.Domain)
				if _, seen := byHost[host]; seen && r.RuleVersion <= version[host] {
					continue
				}
				cr, err := rules.Compile(r)
				if err != nil {
					log.Warn("skipping extraction rule", "domain", r.Domain, "rule_version", r.RuleVersion, logkey.Err, err)
					continue
				}
				byHost[host], version[host] = cr, r.RuleVersion
			}
			b.byHost, b.version = byHost, version
		}
	}
	return b.byHost[strings.ToLower(host)]
}

// applyRule lets a curator's rule for the page's domain override what the
// pipeline extracted. It changes only documents the pipeline produced.
func (c *Coordinator) applyRule(ctx context.Context, capt *schemas.Capture, pageURL string, res *pipeline.Result) {
	if res.Doc == nil || len(capt.Body) == 0 {
		return
	}
	cr := c.rules.rule(ctx, c.log, hostOf(pageURL))
	if cr == nil {
		return
	}
	out, err := cr.Apply(pageURL, capt.Body)
	if err != nil {
		c.log.Debug("extraction rule failed", logkey.URL, pageURL, logkey.Err, err)
		return
	}
	d := res.Doc
	if out.BodyMatched && strings.TrimSpace(out.Text) != "" {
		d.Text = out.Text
		d.ContentSHA256 = schemas.SHA256Hex([]byte(d.Text))
		d.TokenCount = int64(pipeline.ApproxTokens(d.Text))
		d.Markdown = nil // the rule gives plain text only; a stale markdown would disagree
	}
	for name, v := range out.Fields {
		if ok, err := rules.SetField(d, name, v); !ok || err != nil {
			if res.Fields == nil {
				res.Fields = map[string]any{}
			}
			res.Fields[name] = v
		}
	}
	res.Reasons = append(res.Reasons, "rule:"+cr.Rule.Domain)
}
