package curator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/swardnet/sward/curator/rules"
	"github.com/swardnet/sward/internal/logkey"
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

// PublishRule signs a rule as this curator, stores it and gossips it. Only
// the queue's owner and the curators it trusts (Config.Trusted) may
// publish. The rule's RuleVersion as signed is only the author's count;
// every process orders a domain's rules by the version it assigned on
// acceptance, and the coordinator's process is the one the pipeline reads
// (Rules). The returned rule carries the version this process assigned.
func (c *Curator) PublishRule(ctx context.Context, r schemas.ExtractionRule) (schemas.ExtractionRule, error) {
	r.Domain = strings.ToLower(strings.TrimSpace(r.Domain))
	if _, err := rules.Compile(r); err != nil {
		return r, err
	}
	if !c.isTrusted(c.self) {
		return r, fmt.Errorf("publishing a rule: %w: only the queue's owner and the curators it trusts may publish rules; ask the owner to add %s to its trusted curators", ErrUntrusted, c.self)
	}
	c.mu.Lock()
	var latest int
	if err := c.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(rule_version), 0) FROM rules WHERE domain = ? AND author = ?`, r.Domain, c.self).Scan(&latest); err != nil {
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
	var err error
	if r.Signature, err = c.key.Sign(r.SigningBytes()); err != nil {
		c.mu.Unlock()
		return r, fmt.Errorf("signing rule: %w", err)
	}
	assigned, err := c.storeRuleLocked(ctx, &r)
	c.mu.Unlock()
	if err != nil {
		return r, err
	}
	if err := c.publish(ctx, schemas.CurationMessage{Version: schemas.CurationWireVersion, Rule: &r}); err != nil {
		c.log.Warn("gossiping a rule", "domain", r.Domain, logkey.Err, err)
	}
	c.log.Info("rule published", "domain", r.Domain, "rule_version", assigned)
	out := r
	out.RuleVersion = assigned
	return out, nil
}

// Rules returns the newest accepted rule of every domain, for the
// pipeline: the one this process accepted last. Each rule's RuleVersion is
// the version this process assigned it, not the author's own count that
// the signature covers (so a returned rule no longer verifies; the stored
// and gossiped original does).
func (c *Curator) Rules(ctx context.Context) ([]schemas.ExtractionRule, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT r.raw, r.assigned FROM rules r
WHERE r.assigned = (SELECT MAX(s.assigned) FROM rules s WHERE s.domain = r.domain)
ORDER BY r.domain`)
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	return scanRules(rows)
}

// RuleHistory returns every accepted version of a domain's rule, newest
// first, each with the version this process assigned it.
func (c *Curator) RuleHistory(ctx context.Context, domain string) ([]schemas.ExtractionRule, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT raw, assigned FROM rules WHERE domain = ? ORDER BY assigned DESC`,
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
		var assigned int
		if err := rows.Scan(&raw, &assigned); err != nil {
			return nil, fmt.Errorf("reading rules: %w", err)
		}
		var r schemas.ExtractionRule
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("decoding a stored rule: %w", err)
		}
		r.RuleVersion = assigned
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	return out, nil
}
