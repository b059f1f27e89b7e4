package network

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// DefaultJobsTTL is how long a job announcement counts as current after it
// was sent. Coordinators announce every few seconds, so a coordinator that
// stops announcing drops out of nodes' lists within this time.
const DefaultJobsTTL = 30 * time.Second

// jobsSeqMemory bounds the coordinators whose last sequence number is
// remembered for replay detection, beyond the trusted ones.
const jobsSeqMemory = 4096

// JobsConfig tunes a host's membership of schemas.TopicJobs.
type JobsConfig struct {
	// TTL is how long an announcement counts as current after it was sent
	// (default DefaultJobsTTL). Announcements sent longer ago are dropped
	// as stale, so a replayed old announcement cannot revive a departed
	// coordinator.
	TTL time.Duration
}

// Default fills zero fields.
func (c *JobsConfig) Default() {
	if c.TTL == 0 {
		c.TTL = DefaultJobsTTL
	}
}

// Validate reports settings the jobs topic cannot run with.
func (c JobsConfig) Validate() error {
	if c.TTL < 0 {
		return fmt.Errorf("network jobs config: announcement TTL %s must not be negative", c.TTL)
	}
	return nil
}

// Jobs is a host's membership of the jobs topic: coordinators announce
// their open jobs through it, and nodes learn from it which trusted
// coordinators have work. The topic validator drops oversized, malformed,
// unsigned or badly signed announcements, announcements whose coordinator
// is not the gossip message's author, replays (a sequence number not above
// the coordinator's last), stale ones and those of quarantined peers.
// Announcements of coordinators this host does not trust are valid and
// relayed, but never listed. Jobs is safe for concurrent use.
type Jobs struct {
	h     *Host
	ttl   time.Duration
	topic *pubsub.Topic

	// seqMu orders the check and the record of sequence numbers, which the
	// validator runs concurrently.
	seqMu sync.Mutex
	seqs  *expirable.LRU[peer.ID, uint64]

	mu      sync.Mutex
	table   map[peer.ID]jobsEntry
	lastSeq uint64 // of this host's own announcements

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

type jobsEntry struct {
	ann  *schemas.JobAnnouncement
	seen time.Time
}

// JoinJobs joins schemas.TopicJobs with its validator and starts listening
// for announcements. A host joins the topic at most once; Close leaves it,
// and closing the host stops it too.
func (h *Host) JoinJobs(cfg JobsConfig) (*Jobs, error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("joining %s: %w", schemas.TopicJobs, err)
	}
	if h.ctx.Err() != nil {
		return nil, fmt.Errorf("joining %s: %w", schemas.TopicJobs, ErrClosed)
	}
	j := &Jobs{
		h:     h,
		ttl:   cfg.TTL,
		seqs:  expirable.NewLRU[peer.ID, uint64](jobsSeqMemory, nil, 2*cfg.TTL+maxClockSkew),
		table: map[peer.ID]jobsEntry{},
		done:  make(chan struct{}),
	}
	if err := h.ps.RegisterTopicValidator(schemas.TopicJobs, j.validate); err != nil {
		return nil, fmt.Errorf("registering %s validator (joined twice?): %w", schemas.TopicJobs, err)
	}
	topic, err := h.ps.Join(schemas.TopicJobs)
	if err != nil {
		_ = h.ps.UnregisterTopicValidator(schemas.TopicJobs)
		return nil, fmt.Errorf("joining %s: %w", schemas.TopicJobs, err)
	}
	j.topic = topic
	sub, err := topic.Subscribe(pubsub.WithBufferSize(64))
	if err != nil {
		j.leave()
		return nil, fmt.Errorf("subscribing to %s: %w", schemas.TopicJobs, err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	j.cancel = cancel
	if !h.spawn(func() { j.read(ctx, sub) }) {
		cancel()
		sub.Cancel()
		j.leave()
		return nil, fmt.Errorf("joining %s: %w", schemas.TopicJobs, ErrClosed)
	}
	return j, nil
}

// Close stops listening and leaves the topic. It is safe to call more than
// once.
func (j *Jobs) Close() error {
	j.closeOnce.Do(func() {
		j.cancel()
		<-j.done
		j.closeErr = j.leave()
	})
	return j.closeErr
}

// leave closes the topic handle and drops the validator; after the host
// has closed there is nothing left to leave.
func (j *Jobs) leave() error {
	var errs []error
	if j.topic != nil {
		errs = append(errs, j.topic.Close())
	}
	errs = append(errs, j.h.ps.UnregisterTopicValidator(schemas.TopicJobs))
	if err := errors.Join(errs...); err != nil && j.h.ctx.Err() == nil {
		return fmt.Errorf("leaving %s: %w", schemas.TopicJobs, err)
	}
	return nil
}

// read stores the announcements of trusted coordinators as they arrive.
func (j *Jobs) read(ctx context.Context, sub *pubsub.Subscription) {
	defer close(j.done)
	defer sub.Cancel()
	for {
		msg, err := sub.Next(ctx)
		if err != nil {
			return
		}
		a, ok := msg.ValidatorData.(*schemas.JobAnnouncement)
		if !ok {
			continue
		}
		j.see(msg.GetFrom(), a, time.Now())
	}
}

// see records a validated announcement of author, if author is trusted,
// and remembers the coordinator's addresses so that a lease request can
// dial it even when gossip reached this host through other peers.
func (j *Jobs) see(author peer.ID, a *schemas.JobAnnouncement, now time.Time) {
	if !j.h.IsTrusted(author) {
		return
	}
	j.mu.Lock()
	if prev, ok := j.table[author]; ok && prev.ann.Seq >= a.Seq {
		j.mu.Unlock()
		return
	}
	j.table[author] = jobsEntry{ann: a, seen: now}
	for k, v := range j.table {
		if now.Sub(v.seen) > 10*j.ttl {
			delete(j.table, k)
		}
	}
	j.mu.Unlock()
	if author == j.h.ID() {
		return
	}
	var addrs []ma.Multiaddr
	for _, s := range a.Addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		addr, id := peer.SplitAddr(m)
		if addr == nil || (id != "" && id != author) {
			continue
		}
		addrs = append(addrs, addr)
	}
	if len(addrs) > 0 {
		j.h.host.Peerstore().AddAddrs(author, addrs, 2*j.ttl)
	}
}

// Announcements returns the current announcement of each trusted
// coordinator: received within the TTL, newest per coordinator, sorted by
// coordinator peer ID. The caller may modify what it gets.
func (j *Jobs) Announcements() []*schemas.JobAnnouncement {
	now := time.Now()
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]*schemas.JobAnnouncement, 0, len(j.table))
	for id, e := range j.table {
		if now.Sub(e.seen) > j.ttl || !j.h.IsTrusted(id) {
			continue
		}
		a := *e.ann
		a.Addrs = slices.Clone(a.Addrs)
		a.Jobs = slices.Clone(a.Jobs)
		a.Signature = slices.Clone(a.Signature)
		out = append(out, &a)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Coordinator < out[k].Coordinator })
	return out
}

// Announce signs and gossips this host's open jobs as a coordinator. It
// fills in the coordinator's peer ID, addresses, sequence number and time,
// checks the message exactly as receivers will, and returns the reason
// when they would drop it (too many jobs, a malformed job, ...).
// Announcing succeeds even when no peer is listening yet.
func (j *Jobs) Announce(ctx context.Context, jobs []schemas.AnnouncedJob) error {
	now := time.Now()
	a := &schemas.JobAnnouncement{
		Version:     schemas.JobAnnouncementVersion,
		Coordinator: j.h.ID().String(),
		Addrs:       announceAddrs(j.h.Addrs()),
		Seq:         j.nextSeq(now),
		SentAt:      now.UTC(),
		Jobs:        jobs,
	}
	if err := SignJobAnnouncement(j.h.key, a); err != nil {
		return err
	}
	data, err := schemas.EncodeJobAnnouncement(a)
	if err != nil {
		return err
	}
	if _, err := j.check(data, j.h.ID(), now); err != nil {
		return fmt.Errorf("announcing %d jobs: %w", len(jobs), err)
	}
	if err := j.topic.Publish(ctx, data); err != nil {
		return fmt.Errorf("announcing %d jobs: %w", len(jobs), err)
	}
	return nil
}

// announceAddrs keeps the addresses that fit an announcement's limits.
func announceAddrs(all []string) []string {
	out := make([]string, 0, min(len(all), schemas.MaxAnnouncedAddrs))
	for _, a := range all {
		if len(out) == schemas.MaxAnnouncedAddrs {
			break
		}
		if a != "" && len(a) <= schemas.MaxAnnouncedField {
			out = append(out, a)
		}
	}
	return out
}

// nextSeq returns a sequence number above every earlier one of this host,
// and at least the time in Unix nanoseconds, so that it also stays above
// the announcements of this identity's previous runs.
func (j *Jobs) nextSeq(now time.Time) uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lastSeq = max(j.lastSeq+1, uint64(max(now.UnixNano(), 1)))
	return j.lastSeq
}

// SignJobAnnouncement sets a.Coordinator to the peer ID of key and
// a.Signature to key's signature over a.SigningBytes(). Sign last.
func SignJobAnnouncement(key crypto.PrivKey, a *schemas.JobAnnouncement) error {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return fmt.Errorf("signing job announcement: deriving peer id: %w", err)
	}
	a.Coordinator = id.String()
	sig, err := key.Sign(a.SigningBytes())
	if err != nil {
		return fmt.Errorf("signing job announcement: %w", err)
	}
	a.Signature = sig
	return nil
}

// VerifyJobAnnouncement checks a.Signature against the public key embedded
// in a.Coordinator. It checks the signature only; Validate checks fields.
func VerifyJobAnnouncement(a *schemas.JobAnnouncement) error {
	if len(a.Signature) == 0 {
		return fmt.Errorf("%w: job announcement is unsigned", ErrBadSignature)
	}
	id, err := peer.Decode(a.Coordinator)
	if err != nil {
		return fmt.Errorf("%w: coordinator peer id %q: %w", ErrBadSignature, a.Coordinator, err)
	}
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: peer id %s does not embed its public key: %w", ErrBadSignature, id, err)
	}
	ok, err := pub.Verify(a.SigningBytes(), a.Signature)
	if err != nil {
		return fmt.Errorf("%w: verifying job announcement: %w", ErrBadSignature, err)
	}
	if !ok {
		return fmt.Errorf("%w: signature does not match the job announcement and peer %s", ErrBadSignature, id)
	}
	return nil
}

// validate is the gossipsub validator of schemas.TopicJobs. It hands the
// decoded announcement to the subscription as the message's ValidatorData.
func (j *Jobs) validate(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	author := msg.GetFrom()
	if from != author && j.h.quarantine.has(from) {
		return pubsub.ValidationIgnore
	}
	a, err := j.check(msg.Data, author, time.Now())
	if err == nil && !j.recordSeq(author, a.Seq) {
		err = fmt.Errorf("%w: seq %d", ErrReplay, a.Seq)
	}
	if err != nil {
		res := dropResult(err, from, author)
		j.h.log.Debug("dropping job announcement", logPeer, author.String(), "from", from.String(), "reject", res == pubsub.ValidationReject, logkey.Err, err)
		return res
	}
	msg.ValidatorData = a
	return pubsub.ValidationAccept
}

// check runs every test on an announcement except recording its sequence
// number, cheapest first, so the signature is verified only for messages
// that pass everything else.
func (j *Jobs) check(data []byte, author peer.ID, now time.Time) (*schemas.JobAnnouncement, error) {
	if len(data) > schemas.MaxJobAnnouncementSize {
		return nil, fmt.Errorf("%w: job announcement of %d bytes exceeds %d", ErrMessageTooLarge, len(data), schemas.MaxJobAnnouncementSize)
	}
	if j.h.quarantine.has(author) {
		return nil, fmt.Errorf("%w: %s", ErrQuarantined, author)
	}
	a, err := schemas.DecodeJobAnnouncement(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	id, err := peer.Decode(a.Coordinator)
	if err != nil {
		return nil, fmt.Errorf("%w: coordinator peer id %q: %w", ErrMalformed, a.Coordinator, err)
	}
	if id != author || a.Coordinator != author.String() {
		return nil, fmt.Errorf("%w: announcement names coordinator %s, message authored by %s", ErrWrongAuthor, a.Coordinator, author)
	}
	if age := now.Sub(a.SentAt); age > j.ttl {
		return nil, fmt.Errorf("%w: job announcement sent %s ago, TTL is %s", ErrStale, age.Round(time.Millisecond), j.ttl)
	} else if -age > maxClockSkew {
		return nil, fmt.Errorf("%w: job announcement sent %s in the future", ErrStale, (-age).Round(time.Second))
	}
	if a.Seq <= j.lastAccepted(author) {
		return nil, fmt.Errorf("%w: seq %d", ErrReplay, a.Seq)
	}
	if err := VerifyJobAnnouncement(a); err != nil {
		return nil, err
	}
	return a, nil
}

// lastAccepted is the highest sequence number accepted from p: from the
// bounded replay memory, or from the table, which keeps trusted
// coordinators however many others announce.
func (j *Jobs) lastAccepted(p peer.ID) uint64 {
	j.seqMu.Lock()
	last, _ := j.seqs.Get(p)
	j.seqMu.Unlock()
	j.mu.Lock()
	if e, ok := j.table[p]; ok && e.ann.Seq > last {
		last = e.ann.Seq
	}
	j.mu.Unlock()
	return last
}

// recordSeq stores seq as p's latest and reports whether it is above every
// earlier one.
func (j *Jobs) recordSeq(p peer.ID, seq uint64) bool {
	if seq <= j.lastAccepted(p) {
		return false
	}
	j.seqMu.Lock()
	defer j.seqMu.Unlock()
	if last, ok := j.seqs.Get(p); ok && seq <= last {
		return false
	}
	j.seqs.Add(p, seq)
	return true
}
