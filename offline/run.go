package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// Summary is what a run did.
type Summary struct {
	// Dataset and Out are the dataset's name and directory.
	Dataset, Out string
	// Version is the published version's CID ("" when not published).
	Version string
	// AlreadyComplete: Out held a finished run over the same input, and
	// nothing was done.
	AlreadyComplete bool
	// Captures counts the input's captures decided; Documents, Rejected,
	// Review and Repeats split them (Documents and Rejected as published).
	Captures            int64
	Documents, Rejected int64
	Review, Repeats     int
	// Records counts the input's records by type (WARC inputs).
	Records map[string]int
	// CreatedAt is the version's created_at: the latest fetch time in
	// the input (or, with none, the input file's modification time).
	CreatedAt time.Time
	// Damage says where the input broke, when it did (Run then also
	// returns it as its error).
	Damage *InputError
}

// item is one capture on its way from the reader to the committer.
type item struct {
	idx     int64
	c       *schemas.Capture
	records map[string]int // non-capture records read before this one
	res     pipeline.Result
	key     *pipeline.DedupKey // set for a document that dedup must decide
	cc      string             // the capture record's CID
	err     error
}

// runner holds one run's open files and state.
type runner struct {
	cfg         Config
	scope       string
	p           *pipeline.Pipeline
	dedup       *pipeline.Dedup
	exact, near bool
	store       *storage.Store
	w           *storage.DatasetWriter
	src         Source
	state       State
	statePath   string
	keysFile    *os.File
	reviewFile  *os.File

	// decidedN counts the captures decided (State.Done lags it until the
	// next checkpoint).
	decidedN int64

	// Set by the reader before it returns (read after the results
	// channel is closed).
	damage *InputError
	tail   map[string]int
}

// Run curates cfg.In into the dataset directory cfg.Out: it resumes an
// interrupted run there, publishes the version when the input is read to
// its end (or to where it broke) and exports it into cfg.Out. A damaged
// input gives the Summary of what was kept and an *InputError.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	info, err := os.Stat(cfg.In)
	if err != nil {
		return Summary{}, fmt.Errorf("reading input: %w", err)
	}
	absIn, _ := filepath.Abs(cfg.In)
	sum := Summary{Dataset: cfg.Dataset, Out: cfg.Out}

	// Workers run the stages without dedup; the committer deduplicates in
	// input order, so which copy is kept does not depend on which worker
	// finished first.
	r := &runner{cfg: cfg, scope: cfg.Dataset, exact: cfg.Pipeline.ExactDedup, near: cfg.Pipeline.NearDedup}
	if cfg.Job != nil {
		// Document IDs are scoped like the coordinator's: by the job, or
		// by the dataset when no job is given.
		r.scope = cfg.Job.Name
	}
	wcfg := cfg.Pipeline
	wcfg.ExactDedup, wcfg.NearDedup = false, false
	if r.p, err = pipeline.New(wcfg); err != nil {
		return sum, err
	}
	r.dedup = pipeline.NewDedup(cfg.Pipeline.DedupNGram, cfg.Pipeline.DedupBands, cfg.Pipeline.DedupRows)

	stateDir := filepath.Join(cfg.Out, ".pipeline")
	if cfg.Restart {
		if err := os.RemoveAll(stateDir); err != nil {
			return sum, fmt.Errorf("discarding the previous run: %w", err)
		}
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return sum, fmt.Errorf("creating %s: %w", stateDir, err)
	}
	r.statePath = filepath.Join(stateDir, "progress.json")
	r.state = State{Input: absIn, Size: info.Size(), Counts: map[string]int{}, Records: map[string]int{}, Started: time.Now().UTC()}
	prev, err := readState(r.statePath)
	if err != nil {
		return sum, err
	}
	if prev != nil {
		if prev.Input != absIn || prev.Size != info.Size() {
			return sum, fmt.Errorf("%s holds a run over %s; use another --out or --restart", cfg.Out, prev.Input)
		}
		if prev.Finished {
			sum.AlreadyComplete = true
			sum.Captures, sum.Records = prev.Done, prev.Records
			if raw, err := os.ReadFile(filepath.Join(cfg.Out, "CID")); err == nil {
				sum.Version = strings.TrimSpace(string(raw))
			}
			return sum, nil
		}
		r.state = *prev
		cfg.Logger.Info("resuming pipeline run", "input", absIn, "done", r.state.Done)
	}

	// Rebuild the dedup index from the keys logged by the interrupted run.
	keysPath := filepath.Join(stateDir, "dedup.keys")
	n, err := replayDedupKeys(keysPath, r.state.Done, r.dedup, r.exact, r.near)
	if err != nil {
		return sum, err
	}
	cfg.Logger.Debug("dedup index restored", "keys", n)
	if r.keysFile, err = os.OpenFile(keysPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
		return sum, fmt.Errorf("opening the dedup log: %w", err)
	}
	defer r.keysFile.Close()
	if r.reviewFile, err = os.OpenFile(filepath.Join(cfg.Out, "review.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
		return sum, fmt.Errorf("opening the review list: %w", err)
	}
	defer r.reviewFile.Close()
	if r.store, err = storage.OpenWithConfig(ctx, filepath.Join(stateDir, "store"), storage.Config{Logger: cfg.Logger}); err != nil {
		return sum, err
	}
	defer r.store.Close()
	if r.w, err = r.store.OpenDataset(ctx, cfg.Dataset, storage.DatasetOptions{}); err != nil {
		return sum, err
	}
	defer r.w.Close()
	if r.src, err = Open(cfg.In); err != nil {
		return sum, err
	}
	defer r.src.Close()

	if err := r.process(ctx); err != nil {
		r.fill(&sum)
		return sum, err
	}
	for k, v := range r.tail {
		r.state.Records[k] += v
	}

	created := r.state.LatestFetch
	if created.IsZero() {
		created = info.ModTime().UTC()
	}
	meta := storage.VersionMeta{
		Filters: pipeline.Filters, TDMPolicy: schemas.TDMSkip, CreatedAt: created,
		Description: "Curated offline by `sward pipeline run` from " + filepath.Base(cfg.In) + ".",
	}
	if cfg.Job != nil {
		meta.JobID, meta.TDMPolicy = cfg.Job.Name, cfg.Job.TDMPolicy
	}
	root, m, err := r.w.Publish(ctx, meta)
	if err != nil {
		return sum, err
	}
	if err := exportVersion(ctx, r.store, root, m, cfg.Out); err != nil {
		return sum, err
	}
	r.state.Finished = true
	if r.damage != nil {
		r.state.Damage = r.damage.Error()
	}
	if err := writeJSONAtomic(r.statePath, r.state); err != nil {
		return sum, err
	}
	r.fill(&sum)
	sum.Version, sum.Documents, sum.Rejected, sum.CreatedAt = root.String(), m.Rows, m.Rejected, m.CreatedAt
	if r.damage != nil {
		sum.Damage = r.damage
		return sum, fmt.Errorf("%w; the %d captures before it are published in version %s", r.damage, r.state.Done, root)
	}
	return sum, nil
}

func (r *runner) fill(s *Summary) {
	s.Captures, s.Records = r.state.Done, r.state.Records
	s.Review, s.Repeats = r.state.Counts["review"], r.state.Counts["repeat"]
}

// process runs reader -> workers -> in-order committer under one errgroup.
// Workers run the pipeline; the committer writes results in input order
// and checkpoints, so "done" always means every earlier capture is durably
// written. It returns when the input is read (or broke), or with the first
// error, ctx's error or ErrInterrupted.
func (r *runner) process(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan item, r.cfg.Workers*2)
	results := make(chan item, r.cfg.Workers*2)
	skip := r.state.Done
	counter, _ := r.src.(recordCounter)
	g.Go(func() error {
		defer close(jobs)
		for idx := int64(0); ; idx++ {
			c, err := r.src.Next()
			var records map[string]int
			if counter != nil {
				records = counter.takeRecordCounts()
			}
			if err == io.EOF {
				r.tail = records
				return nil
			}
			var ie *InputError
			if errors.As(err, &ie) {
				r.tail, r.damage = records, ie
				return nil
			}
			if err != nil {
				return fmt.Errorf("reading %s after %d captures: %w", r.cfg.In, idx, err)
			}
			if idx < skip {
				continue // done by the interrupted run, records counted
			}
			select {
			case jobs <- item{idx: idx, c: c, records: records}:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
	})
	var workers sync.WaitGroup
	for range r.cfg.Workers {
		workers.Add(1)
		g.Go(func() error {
			defer workers.Done()
			for it := range jobs {
				it.res = r.p.Process(it.c, r.cfg.Job)
				if it.res.Doc != nil && it.res.Decision != pipeline.Reject && (r.exact || r.near) {
					k := r.dedup.Key(it.res.Doc.Text)
					it.key = &k
				}
				it.cc, it.err = finishRow(gctx, r.store, r.scope, it.idx, it.c, &it.res)
				it.c.Body = nil
				select {
				case results <- it:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	go func() { workers.Wait(); close(results) }()
	g.Go(func() error { return r.commit(gctx, results) })
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// commit is the in-order committer.
func (r *runner) commit(ctx context.Context, results <-chan item) error {
	pending := map[int64]item{}
	// seen holds the IDs of the pages decided so far; a resumed run
	// rebuilds it from the dataset's pending rows.
	seen, err := r.w.IDs()
	if err != nil {
		return err
	}
	var docs []schemas.Document
	var rejects []storage.Reject
	var keyLines, reviewLines []byte
	next := r.state.Done
	r.decidedN = next
	checkpoint := func() error {
		if err := r.w.Add(ctx, docs...); err != nil {
			return err
		}
		if err := r.w.AddRejects(ctx, rejects...); err != nil {
			return err
		}
		// The capture records the rows name are durable before the
		// progress that says they are done.
		if err := r.store.Sync(ctx); err != nil {
			return err
		}
		if _, err := r.keysFile.Write(keyLines); err != nil {
			return fmt.Errorf("writing the dedup log: %w", err)
		}
		if _, err := r.reviewFile.Write(reviewLines); err != nil {
			return fmt.Errorf("writing the review list: %w", err)
		}
		if err := r.keysFile.Sync(); err != nil {
			return fmt.Errorf("syncing the dedup log: %w", err)
		}
		r.state.Done = next
		if err := writeJSONAtomic(r.statePath, r.state); err != nil {
			return err
		}
		docs, rejects, keyLines, reviewLines = docs[:0], rejects[:0], keyLines[:0], reviewLines[:0]
		return nil
	}
	lastCheckpoint := time.Now()
	for it := range results {
		pending[it.idx] = it
		for {
			x, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			if x.err != nil {
				return x.err
			}
			next++
			for k, v := range x.records {
				r.state.Records[k] += v
			}
			if x.c.FetchedAt.After(r.state.LatestFetch) {
				r.state.LatestFetch = x.c.FetchedAt.UTC()
			}
			// A page the run has already decided (the same URL again in
			// the input) is counted as a repeat and makes no second row,
			// so the counts, progress.json and the dataset agree.
			id := offlineID(r.scope, x.idx, x.c)
			if seen[id] {
				r.decided("repeat")
				continue
			}
			seen[id] = true
			res := x.res
			if x.key != nil {
				r.dedupe(&res, *x.key)
				keyLines = appendDedupKey(keyLines, x.idx, x.key)
			}
			switch res.Decision {
			case pipeline.Accept:
				docs = append(docs, *res.Doc)
			case pipeline.Review:
				line, _ := json.Marshal(map[string]any{"reasons": res.Reasons, "scores": res.Scores, "doc": res.Doc})
				reviewLines = append(append(reviewLines, line...), '\n')
			case pipeline.Reject:
				rejects = append(rejects, rejectFor(r.scope, x.idx, x.c, x.cc, res))
			}
			r.decided(res.Decision.String())
		}
		if len(docs)+len(rejects) >= r.cfg.CheckpointRows || time.Since(lastCheckpoint) > r.cfg.CheckpointEvery || r.cfg.StopAfter > 0 {
			if err := checkpoint(); err != nil {
				return err
			}
			lastCheckpoint = time.Now()
			if r.cfg.StopAfter > 0 && r.state.Done >= r.cfg.StopAfter {
				return ErrInterrupted
			}
		}
	}
	// The results channel is closed: the input is read, or the run is
	// being stopped; either way what is decided is kept.
	return checkpoint()
}

// decided counts one capture's outcome and reports progress.
func (r *runner) decided(outcome string) {
	r.state.Counts[outcome]++
	r.decidedN++
	if r.cfg.OnProgress != nil {
		read, total, unit := r.src.Progress()
		r.cfg.OnProgress(Progress{Read: read, Total: total, Unit: unit, Done: r.decidedN, Counts: r.state.Counts})
	}
}

// dedupe decides a kept document against the ones before it, as the
// pipeline's own dedup stage would: an exact or near copy of an earlier
// document is rejected.
func (r *runner) dedupe(res *pipeline.Result, key pipeline.DedupKey) {
	d := r.dedup.Add(key, r.exact, r.near)
	res.DedupKey = &key
	res.Doc.DupClusterSize = int32(d.ClusterSize)
	res.Scores["dup_cluster_size"] = float64(d.ClusterSize)
	reason := ""
	switch {
	case d.Exact:
		reason = "dedup:exact"
	case d.Near:
		reason = "dedup:near"
	default:
		return
	}
	res.Decision, res.Reasons = pipeline.Reject, []string{reason}
	res.Detail = fmt.Sprintf("%s (dup_cluster_size=%.4g)", reason, float64(d.ClusterSize))
}

// finishRow stores the capture as a capture record in the run's store and
// gives the document its dataset ID (schemas.PageDocumentID: the scope and
// the normalised final URL, or the record's index for a capture without a
// usable URL) and that record's CID.
func finishRow(ctx context.Context, store *storage.Store, scope string, idx int64, c *schemas.Capture, r *pipeline.Result) (string, error) {
	root, err := store.PutCapture(ctx, c)
	if err != nil {
		return "", err
	}
	if r.Doc != nil {
		pageURL := c.FinalURL
		if pageURL == "" {
			pageURL = c.URL
		}
		r.Doc.ID = offlineID(scope, idx, c)
		r.Doc.URL = pageURL
		r.Doc.CaptureCID = root.String()
	}
	return root.String(), nil
}

// offlineID is a capture's document ID in an offline run.
func offlineID(scope string, idx int64, c *schemas.Capture) string {
	pageURL := c.FinalURL
	if pageURL == "" {
		pageURL = c.URL
	}
	id, _, _ := schemas.PageDocumentID(scope, pageURL, fmt.Sprintf("record:%d", idx))
	return id
}

// rejectFor makes the rejects-table row of a rejected capture, with the
// builder the coordinator uses.
func rejectFor(scope string, idx int64, c *schemas.Capture, captureCID string, r pipeline.Result) storage.Reject {
	id := offlineID(scope, idx, c)
	rj := storage.NewReject(id, c.URL, storage.Verdict{Reasons: r.Reasons, Detail: r.Detail, Scores: r.Scores}, c.FetchedAt)
	if r.Doc != nil {
		rj.Host = r.Doc.Host
	}
	rj.JobID, rj.CaptureCID = c.JobID, captureCID
	return rj
}
