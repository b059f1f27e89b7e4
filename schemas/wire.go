package schemas

import (
	"encoding/json"
	"fmt"
	"time"
)

// Gossipsub topic names. The trailing number is WireVersion.
const (
	TopicCaptures = "/sward/captures/1"
	TopicJobs     = "/sward/jobs/1"
	TopicPresence = "/sward/presence/1"
)

// LeaseProtocol is the libp2p stream protocol nodes use to ask a coordinator
// for work.
const LeaseProtocol = "/sward/lease/1.0.0"

// MaxMessageSize bounds every gossip message and lease frame.
const MaxMessageSize = 4 << 20

// CaptureMessage is the gossiped announcement of a capture.
type CaptureMessage struct {
	Version int      `json:"v"`
	Capture *Capture `json:"capture"`
}

// Lease operations.
const (
	LeaseAcquire  = "acquire"
	LeaseRenew    = "renew"
	LeaseComplete = "complete"
	LeaseRelease  = "release"
)

// LeaseRequest is a node's frame on the lease protocol.
type LeaseRequest struct {
	Version int    `json:"v"`
	Op      string `json:"op"`
	// Max is how many URLs the node wants (acquire).
	Max     int    `json:"max,omitempty"`
	LeaseID string `json:"lease,omitempty"`
	// URLs are the finished (complete) or returned (release) URLs; empty
	// means all of the lease.
	URLs []string `json:"urls,omitempty"`
}

// LeaseItem is one URL to fetch.
type LeaseItem struct {
	JobID string `json:"job"`
	URL   string `json:"url"`
	Depth int    `json:"depth"`
}

// HostBudget is what a node must keep for one host during a lease.
type HostBudget struct {
	MinDelay       Duration `json:"min_delay"`
	MaxConcurrency int      `json:"max_concurrency"`
}

// LeaseResponse is the coordinator's answer.
type LeaseResponse struct {
	Version  int                   `json:"v"`
	LeaseID  string                `json:"lease,omitempty"`
	Items    []LeaseItem           `json:"items,omitempty"`
	Deadline time.Time             `json:"deadline,omitempty"`
	Budgets  map[string]HostBudget `json:"budgets,omitempty"`
	// RetryAfter tells an idle node when to ask again.
	RetryAfter Duration `json:"retry_after,omitempty"`
	// Ledger is the asking node's standing, so its dashboard can show it.
	Ledger *LedgerEntry `json:"ledger,omitempty"`
	Error  string       `json:"error,omitempty"`
}

// LedgerEntry is one peer's contribution as the coordinator counts it.
type LedgerEntry struct {
	Peer          string  `json:"peer"`
	Pages         int64   `json:"pages"`
	Bytes         int64   `json:"bytes"`
	VerifiedPages int64   `json:"verified_pages"`
	VerifiedBytes int64   `json:"verified_bytes"`
	Failed        int64   `json:"failed_checks"`
	Reputation    float64 `json:"reputation"`
	Points        float64 `json:"points"`
	VerifiedShare float64 `json:"verified_share"`
	Quarantined   bool    `json:"quarantined,omitempty"`
}

// DecodeCaptureMessage parses and validates a gossiped capture.
func DecodeCaptureMessage(data []byte) (*CaptureMessage, error) {
	if len(data) > MaxMessageSize {
		return nil, fmt.Errorf("capture message of %d bytes exceeds %d", len(data), MaxMessageSize)
	}
	var m CaptureMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("capture message: %w", err)
	}
	if err := checkVersion("capture message", m.Version, WireVersion); err != nil {
		return nil, err
	}
	if m.Capture == nil {
		return nil, fmt.Errorf("capture message: no capture")
	}
	if err := m.Capture.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}
