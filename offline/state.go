package offline

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/google/renameio/v2"

	"github.com/swardnet/sward/pipeline"
)

// State is OUT/.pipeline/progress.json: which input is being read, how
// many of its captures are durably done, and what they were.
type State struct {
	Input string `json:"input"`
	Size  int64  `json:"size"`
	// Done counts the captures decided and written; every capture before
	// it is durable.
	Done int64 `json:"done"`
	// Counts counts Done by decision: accept, reject, review, repeat.
	Counts map[string]int `json:"counts"`
	// Records counts the input's records by type (WARC: warcinfo,
	// request, response, metadata, revisit, resource, ...), up to the
	// last checkpoint.
	Records map[string]int `json:"records,omitempty"`
	// LatestFetch is the latest fetch time among the captures done; it
	// becomes the version's created_at.
	LatestFetch time.Time `json:"latest_fetch,omitzero"`
	Started     time.Time `json:"started"`
	Finished    bool      `json:"finished"`
	// Damage says where the input broke, when it did.
	Damage string `json:"damage,omitempty"`
}

func readState(path string) (*State, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("reading %s: %w (use --restart to start over)", path, err)
	}
	if st.Counts == nil {
		st.Counts = map[string]int{}
	}
	if st.Records == nil {
		st.Records = map[string]int{}
	}
	return &st, nil
}

func writeJSONAtomic(path string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// appendDedupKey logs one dedup insertion as "index hex(key)\n".
func appendDedupKey(b []byte, idx int64, k *pipeline.DedupKey) []byte {
	b = fmt.Appendf(b, "%d ", idx)
	b = hex.AppendEncode(b, k.Marshal())
	return append(b, '\n')
}

// replayDedupKeys re-enters into d the keys logged for captures before
// done; it returns how many.
func replayDedupKeys(path string, done int64, d *pipeline.Dedup, exact, near bool) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading dedup log: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		var idx int64
		var hx string
		if _, err := fmt.Sscanf(sc.Text(), "%d %s", &idx, &hx); err != nil || idx >= done {
			continue // a torn last line or a capture that will be redone
		}
		raw, err := hex.DecodeString(hx)
		if err != nil {
			continue
		}
		var k pipeline.DedupKey
		if err := k.Unmarshal(raw); err != nil {
			continue
		}
		d.Add(k, exact, near)
		n++
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("reading dedup log: %w", err)
	}
	return n, nil
}
