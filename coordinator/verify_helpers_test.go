package coordinator

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/schemas"
)

// isCheckItem reports whether a lease item given to node is a check: the
// item itself does not say, only the coordinator knows.
func isCheckItem(c *Coordinator, node peer.ID, it schemas.LeaseItem) bool {
	key, err := leasedKey(it.JobID, it.URL)
	return err == nil && c.verify.isAssigned(key, node.String())
}

// isOpen reports whether a check of key is open.
func (v *verifier) isOpen(key checkKey) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.checks[key] != nil
}
