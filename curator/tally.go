package curator

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/swardnet/sward/curator/rules"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// Reputation: a qualified curator's weight follows their accuracy on gold
// items, smoothed towards a prior so that one early mistake does not
// silence anyone. A newcomer has weight 0 until they qualify (trust.go).
const (
	priorAccuracy = 0.9 // what we assume before any gold answer
	priorStrength = 4   // worth this many gold answers
	fullWeightAt  = 0.8 // smoothed accuracy at and above which weight is 1
	minWeight     = 0.05
)

// Reputation is what the gold items say about one curator.
type Reputation struct {
	Curator     string `json:"curator"`
	GoldTotal   int    `json:"gold_total"`
	GoldCorrect int    `json:"gold_correct"`
	// Role is RoleOwner, RoleTrusted, RoleQualified or RoleNewcomer.
	Role   string  `json:"role"`
	Weight float64 `json:"weight"`
}

// Accuracy is the raw share of gold items answered correctly (0 when none).
func (r Reputation) Accuracy() float64 {
	if r.GoldTotal == 0 {
		return 0
	}
	return float64(r.GoldCorrect) / float64(r.GoldTotal)
}

func weightFor(total, correct int) float64 {
	acc := (float64(correct) + priorAccuracy*priorStrength) / (float64(total) + priorStrength)
	return math.Max(minWeight, math.Min(1, acc/fullWeightAt))
}

// weights holds the reputation of every curator with a gold answer, an
// owner role or a Trusted entry; anyone else is a newcomer of weight 0.
type weights map[string]Reputation

// of returns a curator's weight (0 for a newcomer).
func (w weights) of(who string) float64 { return w[who].Weight }

// vote is one curator's current (latest, published) decision on an item.
type vote struct {
	schemas.Decision
}

// effectiveVotesSQL selects each curator's latest published decision per
// item; ballots are not adjudications, adjudications are not ballots.
const effectiveVotesSQL = `
SELECT d.item_id, d.curator, d.action, d.raw FROM decisions d
JOIN (SELECT curator, item_id, MAX(ts) AS ts FROM decisions
      WHERE pending = 0 AND adjudication = ? %s GROUP BY curator, item_id) m
  ON d.curator = m.curator AND d.item_id = m.item_id AND d.ts = m.ts
WHERE d.pending = 0 AND d.adjudication = ?`

// weightsLocked computes every curator's reputation from gold answers.
func (c *Curator) weightsLocked(ctx context.Context) (weights, error) {
	rows, err := c.db.QueryContext(ctx, `
SELECT v.curator, v.action, i.gold FROM (`+fmt.Sprintf(effectiveVotesSQL, "")+`) v
JOIN items i ON i.id = v.item_id
WHERE i.kind = 'gold' AND i.gold_author != v.curator AND v.action != 'retract'`, false, false)
	if err != nil {
		return nil, fmt.Errorf("computing reputation: %w", err)
	}
	defer rows.Close()
	w := weights{}
	for rows.Next() {
		var who, action, gold string
		if err := rows.Scan(&who, &action, &gold); err != nil {
			return nil, fmt.Errorf("computing reputation: %w", err)
		}
		r := w[who]
		r.Curator = who
		r.GoldTotal++
		if action == gold {
			r.GoldCorrect++
		}
		w[who] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("computing reputation: %w", err)
	}
	known := append(append([]string{c.self}, c.cfg.ItemSources...), c.trustedList()...)
	for _, who := range known {
		if _, ok := w[who]; !ok {
			w[who] = Reputation{Curator: who}
		}
	}
	for who, r := range w {
		r.Role, r.Weight = c.roleWeight(who, r.GoldTotal, r.GoldCorrect)
		w[who] = r
	}
	return w, nil
}

// itemVotesLocked returns an item's current ballots (adjudication false) or
// adjudications (true), retractions excluded.
func (c *Curator) itemVotesLocked(ctx context.Context, itemID string, adjudication bool) ([]vote, error) {
	rows, err := c.db.QueryContext(ctx, fmt.Sprintf(effectiveVotesSQL, "AND item_id = ?")+` AND d.item_id = ?`,
		adjudication, itemID, adjudication, itemID)
	if err != nil {
		return nil, fmt.Errorf("loading votes on %s: %w", itemID, err)
	}
	defer rows.Close()
	var out []vote
	for rows.Next() {
		var item, who, action string
		var raw []byte
		if err := rows.Scan(&item, &who, &action, &raw); err != nil {
			return nil, fmt.Errorf("loading votes on %s: %w", itemID, err)
		}
		if action == schemas.ActionRetract {
			continue
		}
		var v vote
		if err := json.Unmarshal(raw, &v.Decision); err != nil {
			return nil, fmt.Errorf("decoding a vote on %s: %w", itemID, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading votes on %s: %w", itemID, err)
	}
	// Deterministic order for every process: oldest first.
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Timestamp.Equal(out[j].Timestamp) {
			return out[i].Timestamp.Before(out[j].Timestamp)
		}
		return out[i].Curator < out[j].Curator
	})
	return out, nil
}

// tallyLocked recomputes an item's state from the decisions seen so far and
// settles it when an answer reaches the quorum or an adjudicator decides.
// Settlement is final.
func (c *Curator) tallyLocked(ctx context.Context, itemID string) error {
	var kind, state string
	err := c.db.QueryRowContext(ctx, `SELECT kind, state FROM items WHERE id = ?`, itemID).Scan(&kind, &state)
	if err != nil {
		// Decisions may arrive before their item; Enqueue tallies then.
		return nil
	}
	if state == StateSettled {
		return nil
	}
	ballots, err := c.itemVotesLocked(ctx, itemID, false)
	if err != nil {
		return err
	}
	w, err := c.weightsLocked(ctx)
	if err != nil {
		return err
	}
	// A ballot of weight 0 (a newcomer's) is kept, and counts once its
	// author qualifies, but until then it neither supports an answer nor
	// fills the item's MaxVotes: fresh keys can neither settle an item nor
	// push it to adjudication nor hide it from assignment.
	ballots = slices.DeleteFunc(ballots, func(b vote) bool { return w.of(b.Curator) <= 0 })
	if kind == KindGold {
		_, err := c.db.ExecContext(ctx, `UPDATE items SET votes = ? WHERE id = ?`, len(ballots), itemID)
		return err
	}
	support := map[string]float64{}
	for _, b := range ballots {
		support[b.Action] += w.of(b.Curator)
	}
	quorum := float64(c.cfg.Quorum) - 1e-9
	acc, rej := support[schemas.ActionAccept], support[schemas.ActionReject]
	switch {
	case acc >= quorum && acc >= rej:
		short, err := c.rewriteShortLocked(ctx, itemID, ballots, w)
		if err != nil {
			return err
		}
		if !short {
			return c.settleLocked(ctx, itemID, schemas.ActionAccept, ballots, ballots, w, false)
		}
		// A rewrite of the text that a quorum typed but that lacks the
		// RewriteQuorum it needs: the item stays open for more votes and,
		// at MaxVotes, goes to adjudication rather than settling the
		// rewrite away (or through).
	case rej >= quorum:
		return c.settleLocked(ctx, itemID, schemas.ActionReject, ballots, ballots, w, false)
	}
	adjs, err := c.itemVotesLocked(ctx, itemID, true)
	if err != nil {
		return err
	}
	// An adjudication settles only an item that reached MaxVotes counted
	// ballots without a quorum; one that arrives earlier waits, stored,
	// until the item gets there (and is moot if a quorum comes first).
	for i := len(adjs) - 1; i >= 0 && len(ballots) >= c.cfg.MaxVotes; i-- {
		a := adjs[i]
		if !c.mayAdjudicate(a.Curator) {
			continue // the list changed since it was stored
		}
		if slices.ContainsFunc(ballots, func(b vote) bool { return b.Curator == a.Curator }) {
			continue // an adjudicator must not have voted on the item
		}
		return c.settleLocked(ctx, itemID, a.Action, []vote{a}, ballots, w, true)
	}
	next := StateOpen
	if len(ballots) >= c.cfg.MaxVotes {
		next = StateAdjudication
	}
	if _, err := c.db.ExecContext(ctx, `UPDATE items SET votes = ?, state = ? WHERE id = ?`, len(ballots), next, itemID); err != nil {
		return fmt.Errorf("updating item %s: %w", itemID, err)
	}
	if next == StateAdjudication && state != next {
		c.log.Info("item needs adjudication", logkey.Item, itemID, "votes", len(ballots))
	}
	return nil
}

// rewriteShortLocked reports whether the accepting ballots carry a
// rewrite of the item's text that a quorum agrees on but that falls short
// of the support a rewrite of its size needs (editQuorum).
func (c *Curator) rewriteShortLocked(ctx context.Context, itemID string, ballots []vote, w weights) (bool, error) {
	it, _, err := c.item(ctx, itemID)
	if err != nil {
		return false, err
	}
	_, strict := agreedEdits(ballots, w, c.editQuorum(it))
	_, plain := agreedEdits(ballots, w, func(string, string, []string) float64 { return float64(c.cfg.Quorum) })
	return slices.Contains(strict, "text") && !slices.Contains(plain, "text"), nil
}

// settleLocked records the final answer. A reject keeps the reason of the
// heaviest rejecting decider (the most recent on a tie). An accept keeps
// only the edits enough curators agree on (agreedEdits); an adjudicator,
// named by the owner, decides the edits alone.
func (c *Curator) settleLocked(ctx context.Context, itemID, answer string, deciders, ballots []vote, w weights, adjudicated bool) error {
	it, _, err := c.item(ctx, itemID)
	if err != nil {
		return err
	}
	s := Settlement{
		ItemID: it.ID, Kind: it.Kind, Dataset: it.dataset(), Decision: answer,
		Doc: it.Doc, Fields: it.Fields, Adjudicated: adjudicated, SettledAt: c.cfg.Now().UTC(),
	}
	for _, b := range ballots {
		s.Voters = append(s.Voters, b.Curator)
	}
	if adjudicated {
		s.Voters = append(s.Voters, deciders[0].Curator)
	}
	var edits map[string]string
	switch {
	case answer == schemas.ActionReject:
		var best *vote
		for i := range deciders {
			d := &deciders[i]
			if d.Action != answer {
				continue
			}
			if best == nil || w.of(d.Curator) > w.of(best.Curator) ||
				(w.of(d.Curator) == w.of(best.Curator) && d.Timestamp.After(best.Timestamp)) {
				best = d
			}
		}
		if best != nil {
			s.Reason = best.Reason
		}
	case adjudicated:
		s.Reason = deciders[0].Reason
		edits = deciders[0].Edits
	default:
		edits, s.Disputed = agreedEdits(deciders, w, c.editQuorum(it))
	}
	if err := applyEdits(&s, edits); err != nil {
		// A signed edit that does not fit the field (a bad date) is
		// dropped rather than blocking the settlement.
		c.log.Warn("dropping an edit", logkey.Item, itemID, logkey.Err, err)
	}
	body, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encoding settlement of %s: %w", itemID, err)
	}
	if _, err := c.db.ExecContext(ctx, `INSERT OR IGNORE INTO settlements(item_id, body) VALUES(?, ?)`, itemID, string(body)); err != nil {
		return fmt.Errorf("recording settlement of %s: %w", itemID, err)
	}
	if _, err := c.db.ExecContext(ctx, `UPDATE items SET votes = ?, state = ? WHERE id = ?`, len(ballots), StateSettled, itemID); err != nil {
		return fmt.Errorf("updating item %s: %w", itemID, err)
	}
	c.log.Info("item settled", logkey.Item, itemID, "decision", answer, "adjudicated", adjudicated)
	return nil
}

// agreedEdits returns, per edited field, the value that accepting curators
// of total weight at least quorum submitted (compared after normaliseEdit,
// by SHA-256), in the form its heaviest (then latest) supporter typed it.
// Fields edited without such agreement are returned in disputed and keep
// the pipeline's value: one curator, or any number of weightless keys,
// cannot rewrite what reaches a dataset.
func agreedEdits(deciders []vote, w weights, quorum func(field, value string, supporters []string) float64) (map[string]string, []string) {
	type group struct {
		support    float64
		best       *vote
		value      string
		supporters []string
	}
	byField := map[string]map[string]*group{}
	for i := range deciders {
		d := &deciders[i]
		if d.Action != schemas.ActionAccept || w.of(d.Curator) <= 0 {
			continue
		}
		for name, val := range d.Edits {
			key := schemas.SHA256Hex([]byte(normaliseEdit(val)))
			if byField[name] == nil {
				byField[name] = map[string]*group{}
			}
			g := byField[name][key]
			if g == nil {
				g = &group{}
				byField[name][key] = g
			}
			g.support += w.of(d.Curator)
			g.supporters = append(g.supporters, d.Curator)
			if g.best == nil || w.of(d.Curator) > w.of(g.best.Curator) ||
				(w.of(d.Curator) == w.of(g.best.Curator) && d.Timestamp.After(g.best.Timestamp)) {
				g.best, g.value = d, val
			}
		}
	}
	agreed := map[string]string{}
	var disputed []string
	for name, groups := range byField {
		// The best supported value wins (then the smaller hash, so that
		// every process picks the same one).
		var top *group
		var topKey string
		for key, g := range groups {
			if top == nil || g.support > top.support || (g.support == top.support && key < topKey) {
				top, topKey = g, key
			}
		}
		if top.support >= quorum(name, top.value, top.supporters)-1e-9 {
			agreed[name] = top.value
		} else {
			disputed = append(disputed, name)
		}
	}
	sort.Strings(disputed)
	return agreed, disputed
}

// applyEdits applies a curator's edits to a settlement's document and
// fields. Every valid edit is applied; the first invalid one is reported.
func applyEdits(s *Settlement, edits map[string]string) error {
	names := make([]string, 0, len(edits))
	for k := range edits {
		names = append(names, k)
	}
	sort.Strings(names)
	var firstErr error
	for _, name := range names {
		val := edits[name]
		if f, ok := cutFieldPrefix(name); ok {
			fields := make(map[string]string, len(s.Fields)+1)
			for k, v := range s.Fields {
				fields[k] = v
			}
			fields[f] = val
			s.Fields = fields
			s.Edited = append(s.Edited, name)
			continue
		}
		known, err := rules.SetField(&s.Doc, name, val)
		if !known {
			err = fmt.Errorf("unknown field %q", name)
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if name == "text" {
			s.Doc.ContentSHA256 = schemas.SHA256Hex([]byte(val))
		}
		s.Edited = append(s.Edited, name)
	}
	return firstErr
}

func cutFieldPrefix(name string) (string, bool) {
	const p = "field:"
	if len(name) > len(p) && name[:len(p)] == p {
		return name[len(p):], true
	}
	return "", false
}
