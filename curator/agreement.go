package curator

import (
	"context"
	"fmt"
	"sort"

	"github.com/swardnet/sward/schemas"
)

// CohenKappa is Cohen's kappa of two raters' labels on the same items
// (a[i] and b[i] label item i). ok is false when it is undefined: no items,
// or both raters always gave one and the same label.
func CohenKappa(a, b []string) (kappa float64, ok bool) {
	if len(a) != len(b) || len(a) == 0 {
		return 0, false
	}
	n := float64(len(a))
	agree := 0.0
	ca, cb := map[string]float64{}, map[string]float64{}
	for i := range a {
		if a[i] == b[i] {
			agree++
		}
		ca[a[i]]++
		cb[b[i]]++
	}
	po := agree / n
	pe := 0.0
	for k, v := range ca {
		pe += (v / n) * (cb[k] / n)
	}
	if pe >= 1 {
		return 0, false
	}
	return (po - pe) / (1 - pe), true
}

// FleissKappa is Fleiss' kappa over items each rated by two or more raters;
// counts[i] maps a label to how many raters gave it to item i. Items may
// have different numbers of raters (the per-item agreement is normalised by
// its own count); items with fewer than two are ignored. ok is false when
// it is undefined.
func FleissKappa(counts []map[string]int) (kappa float64, ok bool) {
	var sumP, totalRatings float64
	items := 0
	labelTotals := map[string]float64{}
	for _, c := range counts {
		n := 0
		sq := 0
		for _, k := range c {
			n += k
			sq += k * k
		}
		if n < 2 {
			continue
		}
		items++
		sumP += float64(sq-n) / float64(n*(n-1))
		totalRatings += float64(n)
		for l, k := range c {
			labelTotals[l] += float64(k)
		}
	}
	if items == 0 {
		return 0, false
	}
	pbar := sumP / float64(items)
	pe := 0.0
	for _, t := range labelTotals {
		p := t / totalRatings
		pe += p * p
	}
	if pe >= 1 {
		return 0, false
	}
	return (pbar - pe) / (1 - pe), true
}

// CuratorStats describes one curator.
type CuratorStats struct {
	Reputation
	Accuracy float64 `json:"gold_accuracy"`
	// Votes counts their current ballots on review and audit items.
	Votes int `json:"votes"`
	// AgreesWithOutcome is the share of their ballots on settled items that
	// match the settlement (0 when none).
	AgreesWithOutcome float64 `json:"agrees_with_outcome"`
}

// PairAgreement is Cohen's kappa of two curators on the items both rated.
type PairAgreement struct {
	A     string   `json:"a"`
	B     string   `json:"b"`
	Items int      `json:"items"`
	Kappa *float64 `json:"kappa"`
}

// DatasetAgreement is Fleiss' kappa over a dataset's items with two or more
// ballots.
type DatasetAgreement struct {
	Dataset string   `json:"dataset"`
	Items   int      `json:"items"`
	Ratings int      `json:"ratings"`
	Kappa   *float64 `json:"kappa"`
}

// Stats is what the stats page shows.
type Stats struct {
	Self     string             `json:"self"`
	Curators []CuratorStats     `json:"curators"`
	Pairs    []PairAgreement    `json:"pairs"`
	Datasets []DatasetAgreement `json:"datasets"`
	// Queue counts items by "kind/state".
	Queue map[string]int `json:"queue"`
}

// Stats computes agreement and reputation from the decisions seen so far.
func (c *Curator) Stats(ctx context.Context) (*Stats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, err := c.weightsLocked(ctx)
	if err != nil {
		return nil, err
	}
	type ballot struct{ item, curator, action, dataset, state string }
	rows, err := c.db.QueryContext(ctx, `SELECT v.item_id, v.curator, v.action, i.dataset, i.state FROM (`+
		fmt.Sprintf(effectiveVotesSQL, "")+`) v JOIN items i ON i.id = v.item_id WHERE i.kind != 'gold' AND v.action != 'retract'`, false, false)
	if err != nil {
		return nil, fmt.Errorf("computing agreement: %w", err)
	}
	var ballots []ballot
	for rows.Next() {
		var b ballot
		if err := rows.Scan(&b.item, &b.curator, &b.action, &b.dataset, &b.state); err != nil {
			rows.Close()
			return nil, fmt.Errorf("computing agreement: %w", err)
		}
		ballots = append(ballots, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("computing agreement: %w", err)
	}
	outcome := map[string]string{}
	srows, err := c.db.QueryContext(ctx, `SELECT item_id, json_extract(body, '$.decision') FROM settlements`)
	if err != nil {
		return nil, fmt.Errorf("computing agreement: %w", err)
	}
	for srows.Next() {
		var id, d string
		if err := srows.Scan(&id, &d); err != nil {
			srows.Close()
			return nil, fmt.Errorf("computing agreement: %w", err)
		}
		outcome[id] = d
	}
	srows.Close()

	st := &Stats{Self: c.self, Queue: map[string]int{}}
	qrows, err := c.db.QueryContext(ctx, `SELECT kind, state, COUNT(*) FROM items GROUP BY kind, state`)
	if err != nil {
		return nil, fmt.Errorf("counting the queue: %w", err)
	}
	for qrows.Next() {
		var kind, state string
		var n int
		if err := qrows.Scan(&kind, &state, &n); err != nil {
			qrows.Close()
			return nil, fmt.Errorf("counting the queue: %w", err)
		}
		st.Queue[kind+"/"+state] = n
	}
	qrows.Close()

	byItem := map[string]map[string]string{} // item → curator → label
	dataset := map[string]string{}
	perCurator := map[string]*CuratorStats{}
	get := func(who string) *CuratorStats {
		cs, ok := perCurator[who]
		if !ok {
			r := w[who]
			r.Curator, r.Weight = who, w.of(who)
			cs = &CuratorStats{Reputation: r, Accuracy: r.Accuracy()}
			perCurator[who] = cs
		}
		return cs
	}
	agreeCount := map[string]int{}
	settledCount := map[string]int{}
	for _, b := range ballots {
		if byItem[b.item] == nil {
			byItem[b.item] = map[string]string{}
		}
		byItem[b.item][b.curator] = b.action
		dataset[b.item] = b.dataset
		get(b.curator).Votes++
		if o, ok := outcome[b.item]; ok {
			settledCount[b.curator]++
			if o == b.action {
				agreeCount[b.curator]++
			}
		}
	}
	for who := range w {
		get(who)
	}
	for who, cs := range perCurator {
		if settledCount[who] > 0 {
			cs.AgreesWithOutcome = float64(agreeCount[who]) / float64(settledCount[who])
		}
		st.Curators = append(st.Curators, *cs)
	}
	sort.Slice(st.Curators, func(i, j int) bool { return st.Curators[i].Curator < st.Curators[j].Curator })

	// Pairs.
	type pair struct{ a, b string }
	pairLabels := map[pair][2][]string{}
	for _, votes := range byItem {
		names := make([]string, 0, len(votes))
		for n := range votes {
			names = append(names, n)
		}
		sort.Strings(names)
		for i := range names {
			for j := i + 1; j < len(names); j++ {
				p := pair{names[i], names[j]}
				l := pairLabels[p]
				l[0] = append(l[0], votes[names[i]])
				l[1] = append(l[1], votes[names[j]])
				pairLabels[p] = l
			}
		}
	}
	for p, l := range pairLabels {
		pa := PairAgreement{A: p.a, B: p.b, Items: len(l[0])}
		if k, ok := CohenKappa(l[0], l[1]); ok {
			pa.Kappa = &k
		}
		st.Pairs = append(st.Pairs, pa)
	}
	sort.Slice(st.Pairs, func(i, j int) bool {
		if st.Pairs[i].A != st.Pairs[j].A {
			return st.Pairs[i].A < st.Pairs[j].A
		}
		return st.Pairs[i].B < st.Pairs[j].B
	})

	// Datasets.
	perDS := map[string][]map[string]int{}
	for item, votes := range byItem {
		if len(votes) < 2 {
			continue
		}
		m := map[string]int{}
		for _, l := range votes {
			m[l]++
		}
		perDS[dataset[item]] = append(perDS[dataset[item]], m)
	}
	for ds, counts := range perDS {
		da := DatasetAgreement{Dataset: ds, Items: len(counts)}
		for _, m := range counts {
			da.Ratings += m[schemas.ActionAccept] + m[schemas.ActionReject]
		}
		if k, ok := FleissKappa(counts); ok {
			da.Kappa = &k
		}
		st.Datasets = append(st.Datasets, da)
	}
	sort.Slice(st.Datasets, func(i, j int) bool { return st.Datasets[i].Dataset < st.Datasets[j].Dataset })
	return st, nil
}

// Reputations returns every known curator's reputation.
func (c *Curator) Reputations(ctx context.Context) ([]Reputation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, err := c.weightsLocked(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Reputation, 0, len(w))
	for _, r := range w {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Curator < out[j].Curator })
	return out, nil
}
