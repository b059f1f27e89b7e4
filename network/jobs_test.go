package network

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/schemas"
)

var annSeq atomic.Uint64

func openJob(id string, pending int64) schemas.AnnouncedJob {
	return schemas.AnnouncedJob{
		ID: id, Name: id, Dataset: id + "-data", State: schemas.AnnouncedRunning,
		Pending: pending, SpecHash: strings.Repeat("0", 64),
	}
}

// announcement returns a valid announcement signed by key, with a fresh
// sequence number.
func announcement(t testing.TB, key crypto.PrivKey, mod func(*schemas.JobAnnouncement)) *schemas.JobAnnouncement {
	t.Helper()
	a := &schemas.JobAnnouncement{
		Version: schemas.JobAnnouncementVersion,
		Addrs:   []string{"/ip4/127.0.0.1/tcp/4001"},
		Seq:     1000 + annSeq.Add(1),
		SentAt:  time.Now().UTC(),
		Jobs:    []schemas.AnnouncedJob{openJob("news", 5)},
	}
	if mod != nil {
		mod(a)
	}
	if key != nil {
		must(t, SignJobAnnouncement(key, a))
	}
	return a
}

func encodeAnn(t testing.TB, a *schemas.JobAnnouncement) []byte {
	t.Helper()
	data, err := schemas.EncodeJobAnnouncement(a)
	must(t, err)
	return data
}

func jobsMsg(author peer.ID, data []byte) *pubsub.Message {
	topic := schemas.TopicJobs
	return &pubsub.Message{Message: &pb.Message{From: []byte(author), Data: data, Topic: &topic}}
}

func TestJobsValidator(t *testing.T) {
	key, author := genKey(t)
	otherKey, other := genKey(t)
	_, relay := genKey(t)
	malloryKey, mallory := genKey(t)
	cfg := testConfig()
	cfg.PresenceInterval = -1
	cfg.Trusted = []string{author.String()}
	h := newTestHost(t, cfg)
	j, err := h.JoinJobs(JobsConfig{TTL: time.Minute})
	must(t, err)
	h.Quarantine(mallory)

	first := encodeAnn(t, announcement(t, key, nil))
	if res := j.validate(t.Context(), author, jobsMsg(author, first)); res != pubsub.ValidationAccept {
		t.Fatalf("first announcement: %v", res)
	}
	older := announcement(t, key, func(a *schemas.JobAnnouncement) { a.Seq = 1 })

	tests := []struct {
		name   string
		from   peer.ID // the peer that forwarded the message
		author peer.ID // the gossip message's author
		data   func() []byte
		want   pubsub.ValidationResult
		err    error
	}{
		{"good, direct", author, author, func() []byte { return encodeAnn(t, announcement(t, key, nil)) }, pubsub.ValidationAccept, nil},
		{"good, relayed", relay, author, func() []byte { return encodeAnn(t, announcement(t, key, nil)) }, pubsub.ValidationAccept, nil},
		{"untrusted coordinator is valid (relayed, never listed)", other, other, func() []byte {
			return encodeAnn(t, announcement(t, otherKey, nil))
		}, pubsub.ValidationAccept, nil},
		{"no jobs", author, author, func() []byte {
			return encodeAnn(t, announcement(t, key, func(a *schemas.JobAnnouncement) { a.Jobs = nil }))
		}, pubsub.ValidationAccept, nil},
		{"oversized", author, author, func() []byte { return bytes.Repeat([]byte(" "), schemas.MaxJobAnnouncementSize+1) }, pubsub.ValidationReject, ErrMessageTooLarge},
		{"not json", author, author, func() []byte { return []byte("\x00{garbage") }, pubsub.ValidationReject, ErrMalformed},
		{"wrong version", author, author, func() []byte {
			return encodeAnn(t, announcement(t, key, func(a *schemas.JobAnnouncement) { a.Version = 7 }))
		}, pubsub.ValidationReject, ErrMalformed},
		{"malformed job", author, author, func() []byte {
			return encodeAnn(t, announcement(t, key, func(a *schemas.JobAnnouncement) { a.Jobs[0].State = "exploding" }))
		}, pubsub.ValidationReject, ErrMalformed},
		{"coordinator not a peer id", author, author, func() []byte {
			a := announcement(t, key, nil)
			a.Coordinator = "not-a-peer"
			return encodeAnn(t, a)
		}, pubsub.ValidationReject, ErrMalformed},
		{"unsigned", author, author, func() []byte {
			a := announcement(t, nil, nil)
			a.Coordinator = author.String()
			return encodeAnn(t, a)
		}, pubsub.ValidationReject, ErrBadSignature},
		{"tampered after signing", author, author, func() []byte {
			a := announcement(t, key, nil)
			a.Jobs[0].Pending = 1 << 40
			return encodeAnn(t, a)
		}, pubsub.ValidationReject, ErrBadSignature},
		{"signed by another key", author, author, func() []byte {
			a := announcement(t, otherKey, nil)
			a.Coordinator = author.String()
			return encodeAnn(t, a)
		}, pubsub.ValidationReject, ErrBadSignature},
		{"claims to be another coordinator", relay, relay, func() []byte {
			return encodeAnn(t, announcement(t, key, nil))
		}, pubsub.ValidationReject, ErrWrongAuthor},
		{"replay", relay, author, func() []byte { return first }, pubsub.ValidationIgnore, ErrReplay},
		{"older sequence", relay, author, func() []byte { return encodeAnn(t, older) }, pubsub.ValidationIgnore, ErrReplay},
		{"stale", author, author, func() []byte {
			return encodeAnn(t, announcement(t, key, func(a *schemas.JobAnnouncement) { a.SentAt = time.Now().Add(-2 * time.Minute) }))
		}, pubsub.ValidationIgnore, ErrStale},
		{"from the future", author, author, func() []byte {
			return encodeAnn(t, announcement(t, key, func(a *schemas.JobAnnouncement) { a.SentAt = time.Now().Add(time.Hour) }))
		}, pubsub.ValidationIgnore, ErrStale},
		{"quarantined author, direct", mallory, mallory, func() []byte {
			return encodeAnn(t, announcement(t, malloryKey, nil))
		}, pubsub.ValidationReject, ErrQuarantined},
		{"quarantined author, relayed", relay, mallory, func() []byte {
			return encodeAnn(t, announcement(t, malloryKey, nil))
		}, pubsub.ValidationIgnore, ErrQuarantined},
		{"relayed by a quarantined peer", mallory, author, func() []byte {
			return encodeAnn(t, announcement(t, key, nil))
		}, pubsub.ValidationIgnore, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data()
			if tt.err != nil {
				_, err := j.check(data, tt.author, time.Now())
				if !errors.Is(err, tt.err) {
					t.Fatalf("check: got %v, want %v", err, tt.err)
				}
			}
			msg := jobsMsg(tt.author, data)
			res := j.validate(t.Context(), tt.from, msg)
			if res != tt.want {
				t.Fatalf("validator said %v, want %v", res, tt.want)
			}
			a, ok := msg.ValidatorData.(*schemas.JobAnnouncement)
			if (res == pubsub.ValidationAccept) != ok {
				t.Fatalf("validator data %T for result %v", msg.ValidatorData, res)
			}
			if ok && a.Coordinator != tt.author.String() {
				t.Fatalf("delivered announcement names %s, want %s", a.Coordinator, tt.author)
			}
		})
	}
}

func TestJobsSeeListsTrustedOnly(t *testing.T) {
	key, trusted := genKey(t)
	otherKey, untrusted := genKey(t)
	cfg := testConfig()
	cfg.PresenceInterval = -1
	cfg.Trusted = []string{trusted.String()}
	h := newTestHost(t, cfg)
	j, err := h.JoinJobs(JobsConfig{TTL: 300 * time.Millisecond})
	must(t, err)
	now := time.Now()
	newer := announcement(t, key, nil)
	old := announcement(t, key, func(a *schemas.JobAnnouncement) { a.Seq = 2; a.Jobs = nil })
	j.see(trusted, newer, now)
	j.see(trusted, old, now) // out of order: must not replace the newer one
	j.see(untrusted, announcement(t, otherKey, nil), now)
	got := j.Announcements()
	if len(got) != 1 || got[0].Coordinator != trusted.String() || got[0].Seq != newer.Seq || !got[0].HasWork() {
		t.Fatalf("Announcements() = %+v, want only the trusted coordinator's newest", got)
	}
	got[0].Jobs[0].Pending = 0 // callers own what they get
	if again := j.Announcements(); again[0].Jobs[0].Pending != 5 {
		t.Fatal("a caller's change reached the table")
	}
	if addrs := h.Libp2p().Peerstore().Addrs(trusted); len(addrs) != 1 || addrs[0].String() != "/ip4/127.0.0.1/tcp/4001" {
		t.Fatalf("peerstore addrs of the trusted coordinator: %v", addrs)
	}
	if addrs := h.Libp2p().Peerstore().Addrs(untrusted); len(addrs) != 0 {
		t.Fatalf("an untrusted coordinator's addrs reached the peerstore: %v", addrs)
	}
	testutil.Eventually(t, 3*time.Second, "announcement to expire", func() bool { return len(j.Announcements()) == 0 })
}

// announceEvery announces jobs on j every d until the test ends or stop is
// called.
func announceEvery(t *testing.T, j *Jobs, d time.Duration, jobs []schemas.AnnouncedJob) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			if err := j.Announce(ctx, jobs); err != nil && ctx.Err() == nil {
				t.Errorf("Announce: %v", err)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return stop
}

func TestJobsGossipReachesTrustingNodesOnly(t *testing.T) {
	t.Parallel()
	quiet := func() Config { c := testConfig(); c.PresenceInterval = -1; return c }
	coordA := newTestHost(t, quiet())
	coordB := newTestHost(t, quiet())
	bootstrap := append(coordA.Addrs(), coordB.Addrs()...)

	ncfg := quiet()
	ncfg.Bootstrap = bootstrap
	ncfg.Trusted = []string{coordA.ID().String()}
	node := newTestHost(t, ncfg)
	wcfg := quiet()
	wcfg.Bootstrap = bootstrap
	wcfg.Trusted = []string{coordA.ID().String(), coordB.ID().String()}
	watcher := newTestHost(t, wcfg)

	ttl := 1500 * time.Millisecond
	join := func(h *Host) *Jobs {
		j, err := h.JoinJobs(JobsConfig{TTL: ttl})
		must(t, err)
		return j
	}
	ja, jb, jn, jw := join(coordA), join(coordB), join(node), join(watcher)
	if _, err := node.JoinJobs(JobsConfig{}); err == nil {
		t.Fatal("joining the jobs topic twice succeeded")
	}
	stopA := announceEvery(t, ja, 100*time.Millisecond, []schemas.AnnouncedJob{openJob("crawl-a", 7)})
	announceEvery(t, jb, 100*time.Millisecond, []schemas.AnnouncedJob{openJob("crawl-b", 9)})

	testutil.Eventually(t, 10*time.Second, "the watcher, trusting both, to list both", func() bool {
		return len(jw.Announcements()) == 2
	})
	testutil.Eventually(t, 10*time.Second, "the node to accept announcements of both coordinators", func() bool {
		return len(jn.Announcements()) > 0 && jn.lastAccepted(coordB.ID()) > 0
	})
	got := jn.Announcements()
	if len(got) != 1 {
		t.Fatalf("node lists %d coordinators, want only the trusted one: %+v", len(got), got)
	}
	a := got[0]
	if a.Coordinator != coordA.ID().String() || len(a.Jobs) != 1 || a.Jobs[0].ID != "crawl-a" || a.Jobs[0].Pending != 7 || !a.HasWork() {
		t.Fatalf("node's view of coordinator A: %+v", a)
	}
	if len(a.Addrs) == 0 || a.Addrs[0] != coordA.Addrs()[0] {
		t.Fatalf("announced addrs %v, want the coordinator's %v", a.Addrs, coordA.Addrs())
	}
	if err := VerifyJobAnnouncement(a); err != nil {
		t.Fatalf("listed announcement does not verify: %v", err)
	}

	stopA()
	testutil.Eventually(t, 5*time.Second, "coordinator A to drop out after it stops announcing", func() bool {
		return len(jn.Announcements()) == 0 && len(jw.Announcements()) == 1
	})
	must(t, jn.Close())
	must(t, jn.Close())
	if err := jn.Announce(t.Context(), nil); err == nil {
		t.Fatal("announcing after Close succeeded")
	}
}

func TestAnnounceReportsProblems(t *testing.T) {
	cfg := testConfig()
	cfg.PresenceInterval = -1
	h := newTestHost(t, cfg)
	j, err := h.JoinJobs(JobsConfig{})
	must(t, err)
	bad := openJob("x", 1)
	bad.State = "cancelled"
	many := make([]schemas.AnnouncedJob, schemas.MaxAnnouncedJobs+1)
	for i := range many {
		many[i] = openJob(fmt.Sprintf("job-%d", i), 1)
	}
	for name, jobs := range map[string][]schemas.AnnouncedJob{"bad state": {bad}, "too many jobs": many} {
		if err := j.Announce(t.Context(), jobs); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Announce = %v, want ErrMalformed", name, err)
		}
	}
	// Sequence numbers increase even when announcing faster than the clock.
	s1, s2 := j.nextSeq(time.Unix(0, 5)), j.nextSeq(time.Unix(0, 5))
	if s2 <= s1 {
		t.Fatalf("seq went %d then %d", s1, s2)
	}
	must(t, j.Announce(t.Context(), []schemas.AnnouncedJob{openJob("ok", 1)}))
	if _, err := h.JoinJobs(JobsConfig{TTL: -time.Second}); err == nil {
		t.Fatal("negative TTL accepted")
	}
}

func FuzzJobsCheck(f *testing.F) {
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		f.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	a := announcement(f, key, nil)
	f.Add(encodeAnn(f, a))
	b, _ := json.Marshal(map[string]any{"v": 1, "coordinator": id.String(), "seq": 1})
	f.Add(b)
	cfg := testConfig()
	cfg.PresenceInterval = -1
	h := newTestHost(f, cfg)
	j, err := h.JoinJobs(JobsConfig{TTL: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := j.check(data, id, time.Now())
		if err != nil {
			return
		}
		if got.Coordinator != id.String() || VerifyJobAnnouncement(got) != nil || got.Validate() != nil {
			t.Fatalf("check passed an announcement it should not: %+v", got)
		}
	})
}

func BenchmarkValidateJobAnnouncement(b *testing.B) {
	key, author := genKey(b)
	cfg := testConfig()
	cfg.PresenceInterval = -1
	h := newTestHost(b, cfg)
	j, err := h.JoinJobs(JobsConfig{})
	if err != nil {
		b.Fatal(err)
	}
	jobs := make([]schemas.AnnouncedJob, 16)
	for i := range jobs {
		jobs[i] = openJob(fmt.Sprintf("job-%d", i), int64(i))
	}
	msgs := make([]*pubsub.Message, b.N)
	for i := range msgs {
		a := announcement(b, key, func(a *schemas.JobAnnouncement) { a.Jobs = jobs })
		msgs[i] = jobsMsg(author, encodeAnn(b, a))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := j.validate(context.Background(), author, msgs[i]); res != pubsub.ValidationAccept {
			b.Fatalf("validator said %v", res)
		}
	}
}
