package coordinator

import (
	"context"
	"crypto/rand"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// Check fetches travel like any other work: a check is a plain lease item
// (no flag), placed at a random position among the lease's items, in the
// lease the frontier gave the node or, when the frontier had nothing, in
// a lease whose ID is drawn like the frontier's. Only the coordinator
// knows which items are checks (checkLeaseTable, verifier.assign).

// checkLeaseTable holds the leases that carry only checks, which the
// frontier does not know: the coordinator answers their renew, complete
// and release frames itself.
type checkLeaseTable struct {
	mu     sync.Mutex
	leases map[string]checkLease
}

type checkLease struct {
	node     string
	deadline time.Time
}

func (t *checkLeaseTable) add(id, node string, deadline time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.leases == nil {
		t.leases = make(map[string]checkLease)
	}
	t.leases[id] = checkLease{node: node, deadline: deadline}
}

// renew extends a check lease of node and reports whether id is one.
func (t *checkLeaseTable) renew(id, node string, deadline time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.leases[id]
	if !ok || l.node != node {
		return false
	}
	l.deadline = deadline
	t.leases[id] = l
	return true
}

// end forgets a check lease of node and reports whether id was one.
func (t *checkLeaseTable) end(id, node string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.leases[id]
	if !ok || l.node != node {
		return false
	}
	delete(t.leases, id)
	return true
}

// sweep forgets check leases past their deadline by more than grace.
func (t *checkLeaseTable) sweep(now time.Time, grace time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, l := range t.leases {
		if now.Sub(l.deadline) > grace {
			delete(t.leases, id)
		}
	}
}

// addVerifyItems adds up to VerifyPerLease check fetches drawn for node to
// a lease answer (VerifyIdlePerLease when the answer holds no frontier
// work). A re-fetch counts against its host's budget like any
// fetch: on a host the lease already holds it lengthens the lease's fetch
// schedule by one slot; on another host it needs the host idle and
// reserves it (ReserveHost). When the frontier had nothing for the node,
// the re-fetches travel in a lease of their own.
func (c *Coordinator) addVerifyItems(ctx context.Context, node string, resp *schemas.LeaseResponse, now time.Time) {
	limit := c.cfg.VerifyPerLease
	if resp.LeaseID == "" && len(resp.Items) == 0 {
		// Nothing to crawl for this node: a lease of checks alone, one
		// per idle host, up to VerifyIdlePerLease.
		limit = c.cfg.VerifyIdlePerLease // never below VerifyPerLease (Validate)
	}
	if limit == 0 {
		return
	}
	offers := c.verify.candidates(node, now, 4*limit, c.pickerFor(now))
	if len(offers) == 0 {
		return
	}
	// Assign first, so two nodes asking at once never both take a check;
	// whatever cannot be placed within the hosts' budgets is given back.
	offers = c.verify.assign(node, offers, now, now.Add(c.cfg.LeaseTTL+c.cfg.CompleteGrace))
	placed := make([]offer, 0, limit)
	var unplaced []offer
	reserved := make(map[string]bool)
	for _, o := range offers {
		if len(placed) == limit || !c.placeVerify(ctx, resp, o, now, reserved) {
			unplaced = append(unplaced, o)
			continue
		}
		placed = append(placed, o)
	}
	if len(unplaced) > 0 {
		c.verify.unassign(node, unplaced)
	}
	if len(placed) == 0 {
		return
	}
	if resp.LeaseID == "" {
		resp.LeaseID = rand.Text()
		resp.Deadline = now.Add(c.cfg.LeaseTTL)
		resp.RetryAfter = 0
		c.checkLeases.add(resp.LeaseID, node, resp.Deadline)
	}
	c.verify.setLease(node, resp.LeaseID, placed)
	for _, o := range placed {
		// Insert at a random place among the lease's items, keeping the
		// order of the others.
		it := schemas.LeaseItem{JobID: o.key.job, URL: o.url, Depth: o.depth}
		j := len(resp.Items)
		if n, err := rand.Int(rand.Reader, big.NewInt(int64(j+1))); err == nil {
			j = int(n.Int64())
		}
		resp.Items = slices.Insert(resp.Items, j, it)
	}
	c.log.Debug("verification re-fetches leased", logkey.Node, node, logkey.Lease, resp.LeaseID, "items", len(placed))
}

// placeVerify fits one re-fetch into the host budgets of a lease answer.
func (c *Coordinator) placeVerify(ctx context.Context, resp *schemas.LeaseResponse, o offer, now time.Time, reserved map[string]bool) bool {
	if b, ok := resp.Budgets[o.host]; ok && !reserved[o.host] {
		// The frontier lease holds the host: one more slot in its schedule.
		ok, err := c.frontier.ExtendLeaseHost(ctx, resp.LeaseID, o.host, 1, time.Duration(b.MinDelay))
		if err != nil {
			c.log.Warn("extending a lease for a verification fetch", logkey.Lease, resp.LeaseID, logkey.Host, o.host, logkey.Err, err)
		}
		return err == nil && ok
	}
	if reserved[o.host] {
		// One reserved re-fetch per idle host and lease keeps the
		// reservation exact.
		return false
	}
	gap, ok, err := c.frontier.ReserveHost(ctx, o.host, now, 1)
	if err != nil {
		c.log.Warn("reserving a host for a verification fetch", logkey.Host, o.host, logkey.Err, err)
		return false
	}
	if !ok {
		return false
	}
	reserved[o.host] = true
	if resp.Budgets == nil {
		resp.Budgets = make(map[string]schemas.HostBudget)
	}
	resp.Budgets[o.host] = schemas.HostBudget{MinDelay: schemas.Duration(gap), MaxConcurrency: 1}
	return true
}
