package coordinator

import (
	"context"
	"crypto/rand"
	"strings"
	"time"

	"github.com/swardnet/sward/schemas"
)

// verifyLeasePrefix starts the ID of a lease that holds only verification
// re-fetches. The frontier does not know such leases; the coordinator
// answers their renew, complete and release frames itself.
const verifyLeasePrefix = "verify-"

func isVerifyLease(id string) bool { return strings.HasPrefix(id, verifyLeasePrefix) }

// addVerifyItems adds up to VerifyPerLease verification re-fetches to a
// lease answer for node. A re-fetch counts against its host's budget like
// any fetch: on a host the lease already holds it lengthens the lease's
// fetch schedule by one slot; on another host it needs the host idle and
// reserves it (ReserveHost). When the frontier had nothing for the node,
// the re-fetches travel in a lease of their own.
func (c *Coordinator) addVerifyItems(ctx context.Context, node string, resp *schemas.LeaseResponse, now time.Time) {
	if c.cfg.VerifyPerLease == 0 {
		return
	}
	offers := c.verify.candidates(node, now, 4*c.cfg.VerifyPerLease)
	if len(offers) == 0 {
		return
	}
	// Assign first, so two nodes asking at once never both take a check;
	// whatever cannot be placed within the hosts' budgets is given back.
	offers = c.verify.assign(node, offers, now, now.Add(c.cfg.LeaseTTL+c.cfg.CompleteGrace))
	placed := make([]offer, 0, c.cfg.VerifyPerLease)
	var unplaced []string
	reserved := make(map[string]bool)
	for _, o := range offers {
		if len(placed) == c.cfg.VerifyPerLease || !c.placeVerify(ctx, resp, o, now, reserved) {
			unplaced = append(unplaced, o.url)
			continue
		}
		placed = append(placed, o)
	}
	if len(unplaced) > 0 {
		c.verify.release(node, unplaced)
	}
	if len(placed) == 0 {
		return
	}
	if resp.LeaseID == "" {
		resp.LeaseID = verifyLeasePrefix + rand.Text()
		resp.Deadline = now.Add(c.cfg.LeaseTTL)
		resp.RetryAfter = 0
	}
	for _, o := range placed {
		resp.Items = append(resp.Items, schemas.LeaseItem{JobID: o.key.job, URL: o.url, Depth: o.depth, Verify: true})
	}
	c.log.Debug("verification re-fetches leased", "node", node, "lease", resp.LeaseID, "items", len(placed))
}

// placeVerify fits one re-fetch into the host budgets of a lease answer.
func (c *Coordinator) placeVerify(ctx context.Context, resp *schemas.LeaseResponse, o offer, now time.Time, reserved map[string]bool) bool {
	if b, ok := resp.Budgets[o.host]; ok && !reserved[o.host] {
		// The frontier lease holds the host: one more slot in its schedule.
		ok, err := c.frontier.ExtendLeaseHost(ctx, resp.LeaseID, o.host, 1, time.Duration(b.MinDelay))
		if err != nil {
			c.log.Warn("extending a lease for a verification fetch", "lease", resp.LeaseID, "host", o.host, "err", err)
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
		c.log.Warn("reserving a host for a verification fetch", "host", o.host, "err", err)
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
