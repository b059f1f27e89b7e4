package schemas

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// JobAnnouncementVersion is the encoding version of JobAnnouncement, the
// message carried on TopicJobs. A change that alters SigningBytes or the
// meaning of a field bumps it; new optional fields that the signature does
// not need to cover may be added without a bump, since readers ignore
// unknown JSON fields.
const JobAnnouncementVersion = 1

// Limits on a job announcement, so that a peer cannot make every other peer
// hold and relay arbitrarily large values. A coordinator with more open jobs
// announces the ones with pending work first.
const (
	// MaxJobAnnouncementSize bounds the encoded message.
	MaxJobAnnouncementSize = 256 << 10
	// MaxAnnouncedJobs bounds the jobs listed in one announcement.
	MaxAnnouncedJobs = 256
	// MaxAnnouncedAddrs bounds the coordinator's listed multiaddrs.
	MaxAnnouncedAddrs = 16
	// MaxAnnouncedField bounds a job's id, name and dataset and each
	// address, in bytes.
	MaxAnnouncedField = 256
)

// Announced job states. Only running jobs are leased to nodes; a paused job
// is announced so that nodes can show it, with its held URLs as pending.
const (
	AnnouncedRunning = "running"
	AnnouncedPaused  = "paused"
)

// AnnouncedJob is one open job as its coordinator announces it.
type AnnouncedJob struct {
	// ID is the coordinator's job id (lease items carry it as job).
	ID string `json:"id"`
	// Name is the job spec's name.
	Name string `json:"name,omitempty"`
	// Dataset is the dataset the job's documents go to.
	Dataset string `json:"dataset"`
	// State is AnnouncedRunning or AnnouncedPaused.
	State string `json:"state"`
	// Pending counts URLs waiting in the job's frontier (not leased, not
	// done).
	Pending int64 `json:"pending"`
	// SpecHash is JobSpecHash of the job's spec, so that peers can tell a
	// changed spec from the same job announced again.
	SpecHash string `json:"spec_hash"`
}

// JobAnnouncement is a coordinator's signed list of its open jobs, gossiped
// on TopicJobs every few seconds. Nodes without a fixed coordinator take
// work from the trusted coordinators whose announcements show pending work.
//
// Seq increases strictly with every announcement of one coordinator (it is
// at least the send time in Unix nanoseconds, so it survives restarts); a
// receiver drops an announcement whose Seq is not above the last it
// accepted from that coordinator as a replay, and one whose SentAt is
// older than its freshness window as stale.
type JobAnnouncement struct {
	Version int `json:"v"`
	// Coordinator is the announcing coordinator's libp2p peer ID (Ed25519,
	// which embeds the key that verifies Signature). It must be the author
	// of the gossip message.
	Coordinator string `json:"coordinator"`
	// Addrs are multiaddrs the coordinator can be dialled at.
	Addrs  []string       `json:"addrs,omitempty"`
	Seq    uint64         `json:"seq"`
	SentAt time.Time      `json:"sent_at"`
	Jobs   []AnnouncedJob `json:"jobs"`
	// Signature is the coordinator's signature over SigningBytes.
	Signature []byte `json:"sig,omitempty"`
}

var specHashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Validate checks an announcement's shape: version, fields present and
// within the limits. The signature is checked by the receiver, which knows
// how to read peer IDs.
func (a *JobAnnouncement) Validate() error {
	if err := checkVersion("job announcement", a.Version, JobAnnouncementVersion); err != nil {
		return err
	}
	var errs []error
	if a.Coordinator == "" {
		errs = append(errs, errors.New("missing coordinator peer id"))
	}
	if len(a.Coordinator) > MaxAnnouncedField {
		errs = append(errs, fmt.Errorf("coordinator id of %d bytes exceeds %d", len(a.Coordinator), MaxAnnouncedField))
	}
	if a.Seq == 0 {
		errs = append(errs, errors.New("missing seq"))
	}
	if a.SentAt.IsZero() {
		errs = append(errs, errors.New("missing sent_at"))
	}
	if len(a.Addrs) > MaxAnnouncedAddrs {
		errs = append(errs, fmt.Errorf("%d addrs exceed %d", len(a.Addrs), MaxAnnouncedAddrs))
	}
	for i, ad := range a.Addrs {
		if ad == "" || len(ad) > MaxAnnouncedField {
			errs = append(errs, fmt.Errorf("addr %d is empty or longer than %d bytes", i, MaxAnnouncedField))
		}
	}
	if len(a.Jobs) > MaxAnnouncedJobs {
		errs = append(errs, fmt.Errorf("%d jobs exceed %d", len(a.Jobs), MaxAnnouncedJobs))
	}
	seen := make(map[string]bool, len(a.Jobs))
	for i, j := range a.Jobs {
		if err := j.validate(); err != nil {
			errs = append(errs, fmt.Errorf("job %d: %w", i, err))
			continue
		}
		if seen[j.ID] {
			errs = append(errs, fmt.Errorf("job %q listed twice", j.ID))
		}
		seen[j.ID] = true
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("job announcement: %w", err)
	}
	return nil
}

func (j AnnouncedJob) validate() error {
	switch {
	case j.ID == "":
		return errors.New("missing id")
	case len(j.ID) > MaxAnnouncedField || len(j.Name) > MaxAnnouncedField || len(j.Dataset) > MaxAnnouncedField:
		return fmt.Errorf("id, name or dataset longer than %d bytes", MaxAnnouncedField)
	case j.State != AnnouncedRunning && j.State != AnnouncedPaused:
		return fmt.Errorf("state %q is neither %q nor %q", j.State, AnnouncedRunning, AnnouncedPaused)
	case j.Pending < 0:
		return fmt.Errorf("negative pending count %d", j.Pending)
	case !specHashRE.MatchString(j.SpecHash):
		return fmt.Errorf("spec hash %q is not 64 lowercase hex digits", j.SpecHash)
	}
	return nil
}

// HasWork reports whether the announcement lists a running job with
// pending URLs, that is, whether a node asking for a lease may get one.
func (a *JobAnnouncement) HasWork() bool {
	for _, j := range a.Jobs {
		if j.State == AnnouncedRunning && j.Pending > 0 {
			return true
		}
	}
	return false
}

// Pending sums the pending URLs of the running jobs.
func (a *JobAnnouncement) Pending() int64 {
	var n int64
	for _, j := range a.Jobs {
		if j.State == AnnouncedRunning {
			n += j.Pending
		}
	}
	return n
}

// SigningBytes is the canonical byte string the coordinator signs: every
// field except the signature, each length-prefixed or fixed-width, so no
// two different announcements share it.
func (a *JobAnnouncement) SigningBytes() []byte {
	var b []byte
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	str("sward/job-announcement")
	b = binary.AppendVarint(b, int64(a.Version))
	str(a.Coordinator)
	b = binary.AppendUvarint(b, uint64(len(a.Addrs)))
	for _, ad := range a.Addrs {
		str(ad)
	}
	b = binary.AppendUvarint(b, a.Seq)
	b = binary.AppendVarint(b, a.SentAt.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(a.Jobs)))
	for _, j := range a.Jobs {
		str(j.ID)
		str(j.Name)
		str(j.Dataset)
		str(j.State)
		b = binary.AppendVarint(b, j.Pending)
		str(j.SpecHash)
	}
	return b
}

// EncodeJobAnnouncement returns the gossip payload of an announcement.
func EncodeJobAnnouncement(a *JobAnnouncement) ([]byte, error) {
	data, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encoding job announcement: %w", err)
	}
	return data, nil
}

// DecodeJobAnnouncement parses a gossiped announcement and checks its
// shape (Validate). It does not check the signature.
func DecodeJobAnnouncement(data []byte) (*JobAnnouncement, error) {
	if len(data) > MaxJobAnnouncementSize {
		return nil, fmt.Errorf("job announcement of %d bytes exceeds %d", len(data), MaxJobAnnouncementSize)
	}
	var a JobAnnouncement
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("job announcement: %w", err)
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return &a, nil
}

// JobSpecHash is the hex SHA-256 of a spec's JSON encoding. encoding/json
// writes struct fields in order and map keys sorted, so equal specs hash
// equally.
func JobSpecHash(spec *JobSpec) (string, error) {
	if spec == nil {
		return "", errors.New("hashing job spec: nil spec")
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return "", fmt.Errorf("hashing job spec %q: %w", spec.Name, err)
	}
	return SHA256Hex(data), nil
}
