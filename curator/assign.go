package curator

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"

	"github.com/swardnet/sward/curator/rules"
)

// Filter narrows the queue. Empty fields match everything.
type Filter struct {
	Dataset string `json:"dataset,omitempty"`
	Kind    string `json:"kind,omitempty"`
	Domain  string `json:"domain,omitempty"`
	// Reason matches items with a pipeline reason containing it.
	Reason string `json:"reason,omitempty"`
	// Query matches items whose text or URL contains it.
	Query string `json:"q,omitempty"`
	// Score names a pipeline score to bound with MinScore/MaxScore.
	Score    string   `json:"score,omitempty"`
	MinScore *float64 `json:"min_score,omitempty"`
	MaxScore *float64 `json:"max_score,omitempty"`
	// Adjudication selects the adjudication queue.
	Adjudication bool `json:"adjudication,omitempty"`
	// ExcludeGold leaves gold items out (bulk actions do).
	ExcludeGold bool `json:"exclude_gold,omitempty"`
}

// QueueItem summarises an item in the queue.
type QueueItem struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Dataset string `json:"dataset"`
	Domain  string `json:"domain"`
	URL     string `json:"url"`
	Votes   int    `json:"votes"`
}

// maxQueueScan bounds how many candidates one queue query considers.
const maxQueueScan = 5000

// Queue lists the items this curator may decide now, in the order they
// will be shown. Assignment never shows a curator an item they decided or
// skipped, nor a gold item whose answer they wrote; it fills items closest
// to their quorum first, stops showing an item once MaxVotes curators voted
// on it, and spreads curators over different items by ordering ties by a
// hash of curator and item. Gold items are indistinguishable in the queue.
func (c *Curator) Queue(ctx context.Context, f Filter, limit int) ([]QueueItem, error) {
	state := StateOpen
	if f.Adjudication {
		state = StateAdjudication
	}
	q := `SELECT id, kind, dataset, domain, url, votes, scores FROM items i
WHERE state = ? AND gold_author != ?
  AND NOT EXISTS (SELECT 1 FROM mine m WHERE m.item_id = i.id)
  AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.item_id = i.id AND d.curator = ? AND d.action != 'retract'
                  AND d.ts = (SELECT MAX(ts) FROM decisions e WHERE e.item_id = i.id AND e.curator = ?))
  AND (? = '' OR dataset = ?) AND (? = '' OR kind = ?) AND (? = '' OR domain = ?)
  AND (? = '' OR instr(lower(reasons), lower(?)) > 0)
  AND (? = '' OR instr(lower(text), lower(?)) > 0 OR instr(lower(url), lower(?)) > 0)
  AND (kind = 'gold' OR votes < ?)`
	args := []any{state, c.self, c.self, c.self, f.Dataset, f.Dataset, f.Kind, f.Kind, f.Domain, f.Domain,
		f.Reason, f.Reason, f.Query, f.Query, f.Query, c.cfg.MaxVotes}
	if f.Adjudication {
		// Adjudication items have MaxVotes ballots by definition.
		args[len(args)-1] = 1 << 30
		q += ` AND kind != 'gold'`
	}
	if f.ExcludeGold {
		q += ` AND kind != 'gold'`
	}
	q += ` LIMIT ?`
	args = append(args, maxQueueScan)
	rows, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the queue: %w", err)
	}
	defer rows.Close()
	type cand struct {
		QueueItem
		order uint64
	}
	var out []cand
	for rows.Next() {
		var qi QueueItem
		var scores string
		if err := rows.Scan(&qi.ID, &qi.Kind, &qi.Dataset, &qi.Domain, &qi.URL, &qi.Votes, &scores); err != nil {
			return nil, fmt.Errorf("reading the queue: %w", err)
		}
		if f.Score != "" && (f.MinScore != nil || f.MaxScore != nil) {
			var m map[string]float64
			_ = json.Unmarshal([]byte(scores), &m)
			v, ok := m[f.Score]
			if !ok || (f.MinScore != nil && v < *f.MinScore) || (f.MaxScore != nil && v > *f.MaxScore) {
				continue
			}
		}
		h := fnv.New64a()
		h.Write([]byte(c.self))
		h.Write([]byte{0})
		h.Write([]byte(qi.ID))
		if qi.Kind == KindGold {
			qi.Votes = 0
		}
		out = append(out, cand{qi, h.Sum64()})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the queue: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Votes != out[j].Votes {
			return out[i].Votes > out[j].Votes
		}
		return out[i].order < out[j].order
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	res := make([]QueueItem, len(out))
	for i, o := range out {
		res[i] = o.QueueItem
		if res[i].Kind == KindGold {
			res[i].Kind = KindReview // do not tell curators which items test them
		}
	}
	return res, nil
}

// View is an item as the UI shows it.
type View struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Dataset string `json:"dataset"`
	Domain  string `json:"domain"`
	URL     string `json:"url"`
	State   string `json:"state"`
	Text    string `json:"text"`
	// DocFields are the editable Document fields and their values.
	DocFields map[string]string `json:"doc_fields"`
	// Fields are the job's structured fields.
	Fields  map[string]string  `json:"fields,omitempty"`
	Scores  map[string]float64 `json:"scores,omitempty"`
	Reasons []string           `json:"reasons,omitempty"`
	// Preview is the sanitised original page, a whole document for an
	// iframe's srcdoc.
	Preview    string   `json:"preview"`
	Votes      int      `json:"votes"`
	Ballots    []Ballot `json:"ballots,omitempty"`
	Guidelines string   `json:"guidelines,omitempty"`
	// Remaining counts the items left in this queue after this one.
	Remaining int `json:"remaining"`
}

// Ballot is one curator's vote, shown to adjudicators.
type Ballot struct {
	Curator string            `json:"curator"`
	Action  string            `json:"action"`
	Reason  string            `json:"reason,omitempty"`
	Edits   map[string]string `json:"edits,omitempty"`
	Weight  float64           `json:"weight"`
}

// Next returns the next item of the filtered queue for this curator, or
// nil when there is none.
func (c *Curator) Next(ctx context.Context, f Filter) (*View, error) {
	q, err := c.Queue(ctx, f, 0)
	if err != nil {
		return nil, err
	}
	if len(q) == 0 {
		return nil, nil
	}
	v, err := c.View(ctx, q[0].ID)
	if err != nil {
		return nil, err
	}
	v.Remaining = len(q) - 1
	return v, nil
}

// View renders one item for the UI. Gold answers are never included.
func (c *Curator) View(ctx context.Context, id string) (*View, error) {
	it, state, err := c.item(ctx, id)
	if err != nil {
		return nil, err
	}
	v := &View{
		ID: it.ID, Kind: it.Kind, Dataset: it.dataset(), Domain: it.domain(), URL: it.Doc.URL, State: state,
		Text: it.Doc.Text, Fields: it.Fields, Scores: it.Scores, Reasons: it.Reasons,
		Preview: PreviewDocument(it.HTML), DocFields: map[string]string{},
	}
	if v.Kind == KindGold {
		v.Kind = KindReview
	}
	for _, f := range rules.DocumentFields {
		if f == "text" {
			continue
		}
		v.DocFields[f], _ = rules.Field(&it.Doc, f)
	}
	if v.Guidelines, err = c.Guidelines(ctx, v.Dataset); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ballots, err := c.itemVotesLocked(ctx, id, false)
	if err != nil {
		return nil, err
	}
	v.Votes = len(ballots)
	if state == StateAdjudication {
		w, err := c.weightsLocked(ctx)
		if err != nil {
			return nil, err
		}
		for _, b := range ballots {
			v.Ballots = append(v.Ballots, Ballot{Curator: b.Curator, Action: b.Action, Reason: b.Reason, Edits: b.Edits, Weight: w.of(b.Curator)})
		}
	}
	return v, nil
}

// Guidelines returns the guideline text of a dataset.
func (c *Curator) Guidelines(ctx context.Context, dataset string) (string, error) {
	return c.setting(ctx, "guidelines:"+dataset)
}

// SetGuidelines replaces the guideline text of a dataset.
func (c *Curator) SetGuidelines(ctx context.Context, dataset, text string) error {
	return c.setSetting(ctx, "guidelines:"+dataset, text)
}

// Hotkeys returns the action-to-key map the UI uses.
func (c *Curator) Hotkeys(ctx context.Context) (map[string]string, error) {
	keys := map[string]string{}
	for a, k := range DefaultHotkeys {
		keys[a] = k
	}
	s, err := c.setting(ctx, "hotkeys")
	if err != nil || s == "" {
		return keys, err
	}
	var saved map[string]string
	if err := json.Unmarshal([]byte(s), &saved); err != nil {
		return nil, fmt.Errorf("reading hotkeys: %w", err)
	}
	for a, k := range saved {
		if _, ok := keys[a]; ok {
			keys[a] = k
		}
	}
	return keys, nil
}

// SetHotkeys saves the action-to-key map. Every action needs its own key.
func (c *Curator) SetHotkeys(ctx context.Context, keys map[string]string) error {
	used := map[string]string{}
	for a, k := range keys {
		if _, ok := DefaultHotkeys[a]; !ok {
			return fmt.Errorf("hotkeys: unknown action %q", a)
		}
		if k == "" || len([]rune(k)) > 20 {
			return fmt.Errorf("hotkeys: key for %s must be 1 to 20 characters", a)
		}
		if other, dup := used[k]; dup {
			return fmt.Errorf("hotkeys: key %q is used for both %s and %s", k, other, a)
		}
		used[k] = a
	}
	b, err := json.Marshal(keys)
	if err != nil {
		return fmt.Errorf("encoding hotkeys: %w", err)
	}
	return c.setSetting(ctx, "hotkeys", string(b))
}
