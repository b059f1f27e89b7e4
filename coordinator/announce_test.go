package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/network"
	"github.com/swardnet/sward/schemas"
)

// *network.Jobs is what the lead wires in as the publisher.
var _ JobAnnouncer = (*network.Jobs)(nil)

// recordingAnnouncer keeps every announcement and signals each one.
type recordingAnnouncer struct {
	mu   sync.Mutex
	got  [][]schemas.AnnouncedJob
	fail error
	sent chan struct{}
}

func newRecordingAnnouncer() *recordingAnnouncer {
	return &recordingAnnouncer{sent: make(chan struct{}, 100)}
}

func (r *recordingAnnouncer) Announce(_ context.Context, jobs []schemas.AnnouncedJob) error {
	r.mu.Lock()
	r.got = append(r.got, jobs)
	err := r.fail
	r.mu.Unlock()
	select {
	case r.sent <- struct{}{}:
	default:
	}
	return err
}

func (r *recordingAnnouncer) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (r *recordingAnnouncer) last() []schemas.AnnouncedJob {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[len(r.got)-1]
}

func (r *recordingAnnouncer) wait(t *testing.T, what string) {
	t.Helper()
	select {
	case <-r.sent:
	case <-time.After(5 * time.Second):
		t.Fatalf("no announcement %s", what)
	}
}

func TestAnnouncerOpenJobs(t *testing.T) {
	ctx := context.Background()
	f := openTest(t, "")
	putJob(t, f, "idle", 0)   // running, nothing queued
	putJob(t, f, "paused", 0) // paused with queued URLs
	putJob(t, f, "busy", 0)   // running with queued URLs
	putJob(t, f, "gone", 0)   // cancelled
	mustAdd(t, f,
		frontier.Candidate{JobID: "paused", URL: "http://a.example/1", Priority: 1},
		frontier.Candidate{JobID: "busy", URL: "http://b.example/1", Priority: 1},
		frontier.Candidate{JobID: "busy", URL: "http://b.example/2", Priority: 1},
		frontier.Candidate{JobID: "gone", URL: "http://c.example/1", Priority: 1},
	)
	for id, state := range map[string]string{"paused": frontier.JobPaused, "gone": frontier.JobCancelled} {
		if err := f.SetJobState(ctx, id, state); err != nil {
			t.Fatal(err)
		}
	}
	a, err := NewAnnouncer(AnnounceConfig{Logger: quietLogger()}, f, newRecordingAnnouncer())
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := a.OpenJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, fmt.Sprintf("%s:%s:%d", j.ID, j.State, j.Pending))
	}
	want := "busy:running:2 idle:running:0 paused:paused:1"
	if strings.Join(got, " ") != want {
		t.Fatalf("open jobs %v, want %s (running with work first, cancelled left out)", got, want)
	}
	rec, err := f.GetJob(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := schemas.JobSpecHash(rec.Spec)
	if jobs[0].SpecHash != hash || jobs[0].Dataset != "busy" || jobs[0].Name != "busy" {
		t.Fatalf("busy job announced as %+v, want spec hash %s and dataset busy", jobs[0], hash)
	}
	ann := &schemas.JobAnnouncement{Version: schemas.JobAnnouncementVersion, Coordinator: "c", Seq: 1, SentAt: time.Now(), Jobs: jobs}
	if err := ann.Validate(); err != nil {
		t.Fatalf("open jobs do not make a valid announcement: %v", err)
	}

	// Open verification checks count as work: the idle job with 3 checks
	// waiting for a node announces them and sorts with the busy one (jobs
	// with work keep their submission order).
	extra := map[string]int64{"idle": 3, "gone": 5}
	a, err = NewAnnouncer(AnnounceConfig{Logger: quietLogger(), ExtraWork: func(id string) int64 { return extra[id] }}, f, newRecordingAnnouncer())
	if err != nil {
		t.Fatal(err)
	}
	if jobs, err = a.OpenJobs(ctx); err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, j := range jobs {
		got = append(got, fmt.Sprintf("%s:%s:%d", j.ID, j.State, j.Pending))
	}
	if want := "idle:running:3 busy:running:2 paused:paused:1"; strings.Join(got, " ") != want {
		t.Fatalf("open jobs with checks %v, want %s", got, want)
	}
}

func TestAnnouncerLeavesOutUnannounceableJobs(t *testing.T) {
	f := openTest(t, "")
	putJob(t, f, strings.Repeat("n", schemas.MaxAnnouncedField+1), 0)
	putJob(t, f, "fine", 0)
	a, err := NewAnnouncer(AnnounceConfig{Logger: quietLogger()}, f, newRecordingAnnouncer())
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := a.OpenJobs(context.Background())
	if err != nil || len(jobs) != 1 || jobs[0].ID != "fine" {
		t.Fatalf("OpenJobs = %+v, %v; want only the job that fits", jobs, err)
	}
}

func TestAnnouncerServesPeriodicallyAndOnPoke(t *testing.T) {
	f := openTest(t, "")
	putJob(t, f, "j1", 0)
	mustAdd(t, f, frontier.Candidate{JobID: "j1", URL: "http://a.example/", Priority: 1})
	pub := newRecordingAnnouncer()
	pub.fail = errors.New("no peers") // failures are logged, not fatal
	a, err := NewAnnouncer(AnnounceConfig{Interval: time.Hour, Logger: quietLogger()}, f, pub)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	pub.wait(t, "at start")
	if got := pub.last(); len(got) != 1 || got[0].ID != "j1" || got[0].Pending != 1 {
		t.Fatalf("first announcement %+v", got)
	}
	// Pausing the job and poking announces the change long before the
	// hourly tick.
	if err := f.SetJobState(context.Background(), "j1", frontier.JobPaused); err != nil {
		t.Fatal(err)
	}
	a.Poke()
	pub.wait(t, "after a poke")
	if got := pub.last(); len(got) != 1 || got[0].State != schemas.AnnouncedPaused {
		t.Fatalf("announcement after pausing: %+v", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop")
	}

	fast := newRecordingAnnouncer()
	a, err = NewAnnouncer(AnnounceConfig{Interval: 20 * time.Millisecond, Logger: quietLogger()}, f, fast)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { done <- a.Serve(ctx) }()
	for range 3 {
		fast.wait(t, "on the ticker")
	}
	cancel()
	<-done
	if n := fast.count(); n < 3 {
		t.Fatalf("%d announcements, want at least 3", n)
	}
}

func TestNewAnnouncerValidates(t *testing.T) {
	f := openTest(t, "")
	if _, err := NewAnnouncer(AnnounceConfig{Interval: time.Millisecond}, f, newRecordingAnnouncer()); err == nil {
		t.Error("1ms interval accepted")
	}
	if _, err := NewAnnouncer(AnnounceConfig{}, nil, newRecordingAnnouncer()); err == nil {
		t.Error("nil frontier accepted")
	}
	if _, err := NewAnnouncer(AnnounceConfig{}, f, nil); err == nil {
		t.Error("nil publisher accepted")
	}
}

func TestAnnouncerReachesTrustingNodeOverGossip(t *testing.T) {
	quiet := network.Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, PresenceInterval: -1, Logger: quietLogger()}
	coordHost, err := network.New(t.Context(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer coordHost.Close()
	ncfg := quiet
	ncfg.Bootstrap = coordHost.Addrs() // bootstrap peers are trusted by default
	nodeHost, err := network.New(t.Context(), ncfg)
	if err != nil {
		t.Fatal(err)
	}
	defer nodeHost.Close()
	pub, err := coordHost.JoinJobs(network.JobsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := nodeHost.JoinJobs(network.JobsConfig{})
	if err != nil {
		t.Fatal(err)
	}

	f := openTest(t, "")
	putJob(t, f, "crawl", 0)
	mustAdd(t, f, frontier.Candidate{JobID: "crawl", URL: "http://a.example/", Priority: 1},
		frontier.Candidate{JobID: "crawl", URL: "http://a.example/2", Priority: 1})
	a, err := NewAnnouncer(AnnounceConfig{Interval: 100 * time.Millisecond, Logger: quietLogger()}, f, pub)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	var anns []*schemas.JobAnnouncement
	testutil.Eventually(t, 10*time.Second, "the node to see the coordinator's announcement", func() bool {
		anns = sub.Announcements()
		return len(anns) == 1
	})
	got := anns[0]
	if got.Coordinator != coordHost.ID().String() || !got.HasWork() || got.Pending() != 2 || got.Jobs[0].ID != "crawl" {
		t.Fatalf("node sees %+v", got)
	}
}

// TestAnnouncerAnnouncesJobChangesAtOnce: submitting, pausing and
// resuming a job announces it without waiting for the next tick.
func TestAnnouncerAnnouncesJobChangesAtOnce(t *testing.T) {
	f := openTest(t, "")
	pub := newRecordingAnnouncer()
	a, err := NewAnnouncer(AnnounceConfig{Interval: time.Hour, Logger: quietLogger()}, f, pub)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	pub.wait(t, "at start")
	putJob(t, f, "j1", 0)
	pub.wait(t, "after a submit")
	if got := pub.last(); len(got) != 1 || got[0].ID != "j1" || got[0].State != schemas.AnnouncedRunning {
		t.Fatalf("announcement after submit: %+v", got)
	}
	if err := f.SetJobState(context.Background(), "j1", frontier.JobPaused); err != nil {
		t.Fatal(err)
	}
	pub.wait(t, "after a pause")
	if got := pub.last(); len(got) != 1 || got[0].State != schemas.AnnouncedPaused {
		t.Fatalf("announcement after pausing: %+v", got)
	}
}
