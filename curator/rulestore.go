package curator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/swardnet/sward/curator/rules"
	"github.com/swardnet/sward/schemas"
)

// RulePreview is a draft rule applied to one captured page.
type RulePreview struct {
	ItemID string `json:"item_id"`
	URL    string `json:"url"`
	// Current is the text the pipeline extracted.
	Current string       `json:"current"`
	Result  rules.Result `json:"result"`
	Error   string       `json:"error,omitempty"`
}

// PreviewRule applies a draft rule to up to limit captured pages of its
// domain (the items in the queue, any state), so a curator sees what it
// would extract before publishing it.
func (c *Curator) PreviewRule(ctx context.Context, r schemas.ExtractionRule, limit int) ([]RulePreview, error) {
	compiled, err := rules.Compile(r)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 20
	}
	rows, err := c.db.QueryContext(ctx, `SELECT id, body FROM items WHERE domain = ? ORDER BY enqueued_at DESC LIMIT ?`,
		strings.ToLower(r.Domain), limit)
	if err != nil {
		return nil, fmt.Errorf("finding pages of %s: %w", r.Domain, err)
	}
	var items []Item
	for rows.Next() {
		var id, body string
		if err := rows.Scan(&id, &body); err != nil {
			rows.Close()
			return nil, fmt.Errorf("finding pages of %s: %w", r.Domain, err)
		}
		var it Item
		if err := json.Unmarshal([]byte(body), &it); err != nil {
			rows.Close()
			return nil, fmt.Errorf("decoding item %s: %w", id, err)
		}
		items = append(items, it)
	}
	rows.Close()
	out := make([]RulePreview, 0, len(items))
	for _, it := range items {
		p := RulePreview{ItemID: it.ID, URL: it.Doc.URL, Current: it.Doc.Text}
		res, err := compiled.Apply(it.Doc.URL, []byte(it.HTML))
		if err != nil {
			p.Error = err.Error()
		}
		p.Result = res
		out = append(out, p)
	}
	return out, nil
}

// PublishRule signs a rule as this curator, gives it the next version for
// its domain, stores it and gossips it. Other processes accept it only when
// this curator's weight is at least RuleMinWeight, and so does this one.
func (c *Curator) PublishRule(ctx context.Context, r schemas.ExtractionRule) (schemas.ExtractionRule, error) {
	r.Domain = strings.ToLower(strings.TrimSpace(r.Domain))
	if _, err := rules.Compile(r); err != nil {
		return r, err
	}
	c.mu.Lock()
	w, err := c.weightsLocked(ctx)
	if err != nil {
		c.mu.Unlock()
		return r, err
	}
	if w.of(c.self) < c.cfg.RuleMinWeight {
		c.mu.Unlock()
		return r, fmt.Errorf("publishing a rule: %w: your weight %.2f is below %.2f; answer more gold items correctly", ErrUntrusted, w.of(c.self), c.cfg.RuleMinWeight)
	}
	var latest int
	if err := c.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(rule_version), 0) FROM rules WHERE domain = ?`, r.Domain).Scan(&latest); err != nil {
		c.mu.Unlock()
		return r, fmt.Errorf("publishing a rule: %w", err)
	}
	r.Version = schemas.DecisionVersion
	r.RuleVersion = latest + 1
	r.Author = c.self
	r.CreatedAt = c.cfg.Now().UTC()
	r.Nonce = newNonce()
	r.Signature = nil
	if err := r.Validate(); err != nil {
		c.mu.Unlock()
		return r, err
	}
	if r.Signature, err = c.key.Sign(r.SigningBytes()); err != nil {
		c.mu.Unlock()
		return r, fmt.Errorf("signing rule: %w", err)
	}
	err = c.storeRuleLocked(ctx, &r)
	c.mu.Unlock()
	if err != nil {
		return r, err
	}
	if err := c.publish(ctx, schemas.CurationMessage{Version: schemas.CurationWireVersion, Rule: &r}); err != nil {
		c.log.Warn("gossiping a rule", "domain", r.Domain, "err", err)
	}
	c.log.Info("rule published", "domain", r.Domain, "rule_version", r.RuleVersion)
	return r, nil
}

// Rules returns the newest accepted rule of every domain, for the
// pipeline. When two curators published the same version concurrently, the
// later one (then the greater author ID) wins, the same in every process.
func (c *Curator) Rules(ctx context.Context) ([]schemas.ExtractionRule, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT r.raw FROM rules r
WHERE NOT EXISTS (SELECT 1 FROM rules s WHERE s.domain = r.domain AND
  (s.rule_version > r.rule_version OR (s.rule_version = r.rule_version AND
   (s.created_at > r.created_at OR (s.created_at = r.created_at AND s.author > r.author)))))
ORDER BY r.domain`)
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	return scanRules(rows)
}

// RuleHistory returns every accepted version of a domain's rule, newest
// first.
func (c *Curator) RuleHistory(ctx context.Context, domain string) ([]schemas.ExtractionRule, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT raw FROM rules WHERE domain = ? ORDER BY rule_version DESC, created_at DESC, author DESC`,
		strings.ToLower(domain))
	if err != nil {
		return nil, fmt.Errorf("reading rules of %s: %w", domain, err)
	}
	return scanRules(rows)
}

type rowScanner interface {
	Next() bool
	Scan(...any) error
	Close() error
	Err() error
}

func scanRules(rows rowScanner) ([]schemas.ExtractionRule, error) {
	defer rows.Close()
	var out []schemas.ExtractionRule
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("reading rules: %w", err)
		}
		var r schemas.ExtractionRule
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("decoding a stored rule: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	return out, nil
}
