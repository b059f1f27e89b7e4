package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// DefaultAnnounceInterval is how often a coordinator announces its open
// jobs. Nodes drop a coordinator whose announcements stop after the jobs
// topic's TTL (network.DefaultJobsTTL, 30s), so this is well inside it.
const DefaultAnnounceInterval = 2 * time.Second

// JobAnnouncer gossips a coordinator's open jobs on the jobs topic, signed
// by the coordinator's key; *network.Jobs satisfies it. Announce is called
// from the Announcer's goroutine only, one call at a time.
type JobAnnouncer interface {
	Announce(ctx context.Context, jobs []schemas.AnnouncedJob) error
}

// AnnounceConfig tunes an Announcer.
type AnnounceConfig struct {
	// Interval between announcements (default DefaultAnnounceInterval).
	Interval time.Duration
	// Logger receives failures; default slog.Default().
	Logger *slog.Logger
	// ExtraWork, when set, adds to a job's pending count the work the
	// frontier does not count: Coordinator.OpenChecks, the verification
	// re-fetches waiting for a node. Without it, a job whose last work is
	// verification announces nothing pending, and nodes that find work by
	// announcements do not ask for it.
	ExtraWork func(jobID string) int64
}

// Default fills zero fields.
func (c *AnnounceConfig) Default() {
	if c.Interval == 0 {
		c.Interval = DefaultAnnounceInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports settings an Announcer cannot run with.
func (c AnnounceConfig) Validate() error {
	if c.Interval < 10*time.Millisecond {
		return fmt.Errorf("coordinator: announce interval %s is shorter than 10ms", c.Interval)
	}
	return nil
}

// Announcer periodically publishes the coordinator's open jobs (running
// and paused) with their pending URL counts, read from the frontier, so
// that nodes without a fixed coordinator can find work. Call Poke after a
// job is submitted, paused, resumed or cancelled to announce at once
// rather than at the next tick.
type Announcer struct {
	cfg      AnnounceConfig
	frontier *frontier.Frontier
	pub      JobAnnouncer
	poke     chan struct{}
}

// NewAnnouncer builds an announcer of frontier's jobs through pub.
func NewAnnouncer(cfg AnnounceConfig, fr *frontier.Frontier, pub JobAnnouncer) (*Announcer, error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if fr == nil || pub == nil {
		return nil, errors.New("coordinator: announcer needs a frontier and a publisher")
	}
	a := &Announcer{cfg: cfg, frontier: fr, pub: pub, poke: make(chan struct{}, 1)}
	// A submitted, paused, resumed or cancelled job is announced at once.
	fr.OnJobsChanged(a.Poke)
	return a, nil
}

// Poke asks for an announcement as soon as possible. It never blocks;
// pokes that arrive while one is pending are merged.
func (a *Announcer) Poke() {
	select {
	case a.poke <- struct{}{}:
	default:
	}
}

// Serve announces at once, then every Interval and after each Poke, until
// ctx ends; it returns nil then. A failed announcement is logged and the
// next one tried on time.
func (a *Announcer) Serve(ctx context.Context) error {
	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	for {
		if err := a.AnnounceOnce(ctx); err != nil && ctx.Err() == nil {
			a.cfg.Logger.Warn("announcing open jobs", logkey.Err, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-a.poke:
		}
	}
}

// AnnounceOnce publishes the open jobs now.
func (a *Announcer) AnnounceOnce(ctx context.Context) error {
	jobs, err := a.OpenJobs(ctx)
	if err != nil {
		return err
	}
	if err := a.pub.Announce(ctx, jobs); err != nil {
		return fmt.Errorf("announcing %d open jobs: %w", len(jobs), err)
	}
	return nil
}

// OpenJobs lists the running and paused jobs of the frontier as they are
// announced: running jobs with pending URLs first, then the rest, each
// group oldest first, at most schemas.MaxAnnouncedJobs. A job whose id or
// dataset is too long to announce is left out (and logged); nodes still
// work on it when their coordinator is fixed.
func (a *Announcer) OpenJobs(ctx context.Context) ([]schemas.AnnouncedJob, error) {
	recs, err := a.frontier.ListJobs(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing open jobs to announce: %w", err)
	}
	out := make([]schemas.AnnouncedJob, 0, len(recs))
	for _, r := range recs {
		var state string
		switch r.State {
		case frontier.JobRunning:
			state = schemas.AnnouncedRunning
		case frontier.JobPaused:
			state = schemas.AnnouncedPaused
		default:
			continue
		}
		if len(r.ID) > schemas.MaxAnnouncedField || len(r.Spec.Name) > schemas.MaxAnnouncedField || len(r.Spec.Dataset) > schemas.MaxAnnouncedField {
			a.cfg.Logger.Warn("job id, name or dataset too long to announce; only nodes pinned to this coordinator will work on it", logkey.Job, r.ID)
			continue
		}
		st, err := a.frontier.Stats(ctx, r.ID)
		if err != nil {
			return nil, fmt.Errorf("counting pending URLs of job %s to announce: %w", r.ID, err)
		}
		hash, err := schemas.JobSpecHash(r.Spec)
		if err != nil {
			return nil, err
		}
		pending := st.Queued
		if a.cfg.ExtraWork != nil {
			pending += max(a.cfg.ExtraWork(r.ID), 0)
		}
		out = append(out, schemas.AnnouncedJob{
			ID: r.ID, Name: r.Spec.Name, Dataset: r.Spec.Dataset, State: state,
			Pending: pending, SpecHash: hash,
		})
	}
	hasWork := func(j schemas.AnnouncedJob) bool { return j.State == schemas.AnnouncedRunning && j.Pending > 0 }
	sort.SliceStable(out, func(i, k int) bool { return hasWork(out[i]) && !hasWork(out[k]) })
	if len(out) > schemas.MaxAnnouncedJobs {
		out = out[:schemas.MaxAnnouncedJobs]
	}
	return out, nil
}
