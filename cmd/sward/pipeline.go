package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/ipfs/go-cid"
	"github.com/nlnwa/gowarc/v3"
	"github.com/spf13/cobra"

	"github.com/swardnet/sward/internal/progress"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// pipelineCmd groups the offline curation tools.
var pipelineCmd = &cobra.Command{
	Use:   "pipeline",
	Short: "Run the curation pipeline offline over WARC or capture files, and score extraction",
}

func init() {
	pipelineCmd.AddCommand(pipelineRunCmd(), pipelineEvalCmd())
	rootCmd.AddCommand(pipelineCmd)
}

// runOptions are `sward pipeline run`'s flags.
type runOptions struct {
	in, out, dataset, jobFile string
	workers                   int
	progress, restart         bool
	// stopAfter, when positive, ends the run with errInterrupted after
	// that many records are durably done (tests simulate a kill with it).
	stopAfter int64
}

// errInterrupted is returned by a run stopped by stopAfter.
var errInterrupted = errors.New("pipeline run interrupted")

func pipelineRunCmd() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run --in FILE.warc.gz|captures.parquet|captures.jsonl --out DIR",
		Short: "Curate a WARC or capture file into a dataset directory, offline and resumably",
		Long: `Run the same pipeline the coordinator runs over a local file, without a
network, and write the accepted documents as a content-addressed dataset:
DIR/manifest.json and DIR/data/*.parquet (zstd), the rejects table with
reason codes, and DIR/review.jsonl for documents routed to human review.

Interrupted runs resume: progress, the dedup index and the spooled documents
are kept under DIR, so running the same command again continues where it
stopped. --restart discards them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.in == "" || o.out == "" {
				return errors.New("give --in FILE and --out DIR")
			}
			return runPipeline(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&o.in, "in", "", "input: .warc, .warc.gz, .parquet (captures) or .jsonl (captures)")
	cmd.Flags().StringVar(&o.out, "out", "", "output dataset directory")
	cmd.Flags().StringVar(&o.dataset, "dataset", "", "dataset name (default: from the input file name)")
	cmd.Flags().StringVar(&o.jobFile, "job", "", "job spec YAML whose languages, quality thresholds and fields apply")
	cmd.Flags().IntVar(&o.workers, "workers", runtime.GOMAXPROCS(0), "documents processed in parallel")
	cmd.Flags().BoolVar(&o.progress, "progress", true, "show a progress bar on stderr")
	cmd.Flags().BoolVar(&o.restart, "restart", false, "discard an interrupted run's state in DIR and start over")
	return cmd
}

// runState is DIR/.pipeline/progress.json: which input was being read and
// how many of its records are durably done.
type runState struct {
	Input    string         `json:"input"`
	Size     int64          `json:"size"`
	Done     int64          `json:"done"`
	Counts   map[string]int `json:"counts"`
	Started  time.Time      `json:"started"`
	Finished bool           `json:"finished"`
}

func datasetNameFor(in string) string {
	base := strings.ToLower(filepath.Base(in))
	for _, ext := range []string{".gz", ".warc", ".parquet", ".jsonl", ".json"} {
		base = strings.TrimSuffix(base, ext)
	}
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-.")
	if name == "" || storage.ValidateDatasetName(name) != nil {
		return "offline"
	}
	return name
}

func runPipeline(ctx context.Context, o runOptions, stderr io.Writer) error {
	info, err := os.Stat(o.in)
	if err != nil {
		return fmt.Errorf("reading input: %w", err)
	}
	absIn, _ := filepath.Abs(o.in)
	if o.dataset == "" {
		o.dataset = datasetNameFor(o.in)
	}
	if err := storage.ValidateDatasetName(o.dataset); err != nil {
		return err
	}
	var job *schemas.JobSpec
	if o.jobFile != "" {
		raw, err := os.ReadFile(o.jobFile)
		if err != nil {
			return fmt.Errorf("reading job spec: %w", err)
		}
		if job, err = schemas.ParseJobSpec(raw); err != nil {
			return err
		}
	}
	cfg := pipeline.DefaultConfig()
	if err := pipeline.ValidateJob(cfg, job); err != nil {
		return err
	}
	p, err := pipeline.New(cfg)
	if err != nil {
		return err
	}

	stateDir := filepath.Join(o.out, ".pipeline")
	if o.restart {
		if err := os.RemoveAll(stateDir); err != nil {
			return fmt.Errorf("discarding previous run: %w", err)
		}
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", stateDir, err)
	}
	state := runState{Input: absIn, Size: info.Size(), Counts: map[string]int{}, Started: time.Now().UTC()}
	statePath := filepath.Join(stateDir, "progress.json")
	if raw, err := os.ReadFile(statePath); err == nil {
		var prev runState
		if err := json.Unmarshal(raw, &prev); err != nil {
			return fmt.Errorf("reading %s: %w (use --restart to start over)", statePath, err)
		}
		if prev.Input != absIn || prev.Size != info.Size() {
			return fmt.Errorf("%s holds a run over %s; use another --out or --restart", o.out, prev.Input)
		}
		if prev.Finished {
			fmt.Fprintf(stderr, "%s is already complete (%d records); use --restart to run again\n", o.out, prev.Done)
			return nil
		}
		state = prev
		if state.Counts == nil {
			state.Counts = map[string]int{}
		}
		slog.Info("resuming pipeline run", "input", absIn, "done", state.Done)
	}

	// Rebuild the dedup index from the keys logged by the interrupted run.
	keysPath := filepath.Join(stateDir, "dedup.keys")
	if err := replayDedupKeys(keysPath, state.Done, p); err != nil {
		return err
	}
	keysFile, err := os.OpenFile(keysPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("opening dedup log: %w", err)
	}
	defer keysFile.Close()
	reviewFile, err := os.OpenFile(filepath.Join(o.out, "review.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("opening review list: %w", err)
	}
	defer reviewFile.Close()

	store, err := storage.Open(ctx, filepath.Join(stateDir, "store"))
	if err != nil {
		return err
	}
	defer store.Close()
	w, err := store.OpenDataset(ctx, o.dataset, storage.DatasetOptions{})
	if err != nil {
		return err
	}
	defer w.Close()

	src, err := openCaptureSource(o.in)
	if err != nil {
		return err
	}
	defer src.Close()

	bar := newRunProgress(stderr, o.progress, src)
	bar.done, bar.counts = state.Done, state.Counts

	// Reader -> workers -> in-order committer. Workers run Process; the
	// committer writes results in input order and checkpoints, so
	// "done" always means every earlier record is durably written.
	type item struct {
		idx int64
		c   *schemas.Capture
		res pipeline.Result
		cc  string // the capture record's CID
		err error
	}
	// Document IDs are scoped like the coordinator's: by the job, or by
	// the dataset when no job is given.
	scope := o.dataset
	if job != nil {
		scope = job.Name
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan item, o.workers*2)
	results := make(chan item, o.workers*2)
	var readErr error
	skip := state.Done
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		for idx := int64(0); ; idx++ {
			c, err := src.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				readErr = err
				cancel()
				return
			}
			if idx < skip {
				continue
			}
			select {
			case jobs <- item{idx: idx, c: c}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var workers sync.WaitGroup
	for i := 0; i < max(1, o.workers); i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for it := range jobs {
				it.res = p.Process(it.c, job)
				it.cc, it.err = finishOfflineRow(ctx, store, scope, it.idx, it.c, &it.res)
				it.c.Body = nil
				select {
				case results <- it:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { workers.Wait(); close(results) }()
	// However the run ends, stop the reader and workers before the input
	// and the store are closed.
	defer func() {
		cancel()
		wg.Wait()
		workers.Wait()
	}()

	pending := map[int64]item{}
	// seen holds the IDs of the pages decided so far; a resumed run
	// rebuilds it from the dataset's pending rows.
	seen, err := w.IDs()
	if err != nil {
		return err
	}
	var docs []schemas.Document
	var rejects []storage.Reject
	var keyLines, reviewLines []byte
	next := state.Done
	checkpoint := func() error {
		if err := w.Add(ctx, docs...); err != nil {
			return err
		}
		if err := w.AddRejects(ctx, rejects...); err != nil {
			return err
		}
		// The capture records the rows name are durable before the
		// progress that says they are done.
		if err := store.Sync(ctx); err != nil {
			return err
		}
		if _, err := keysFile.Write(keyLines); err != nil {
			return fmt.Errorf("writing dedup log: %w", err)
		}
		if _, err := reviewFile.Write(reviewLines); err != nil {
			return fmt.Errorf("writing review list: %w", err)
		}
		if err := keysFile.Sync(); err != nil {
			return fmt.Errorf("syncing dedup log: %w", err)
		}
		state.Done = next
		if err := writeJSONAtomic(statePath, state); err != nil {
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
				cancel()
				return x.err
			}
			next++
			r := x.res
			// A page the run has already decided (the same URL again in
			// the input) is counted as a repeat and makes no second row,
			// so the counts, progress.json and the dataset agree.
			id := offlineID(scope, x.idx, x.c)
			if seen[id] {
				state.Counts["repeat"]++
				bar.advance(r.Decision)
				continue
			}
			seen[id] = true
			state.Counts[r.Decision.String()]++
			if r.DedupKey != nil {
				keyLines = appendDedupKey(keyLines, x.idx, r.DedupKey)
			}
			switch r.Decision {
			case pipeline.Accept:
				docs = append(docs, *r.Doc)
			case pipeline.Review:
				line, _ := json.Marshal(map[string]any{"reasons": r.Reasons, "scores": r.Scores, "doc": r.Doc})
				reviewLines = append(append(reviewLines, line...), '\n')
			case pipeline.Reject:
				rejects = append(rejects, rejectFor(scope, x.idx, x.c, x.cc, r))
			}
			bar.advance(r.Decision)
		}
		if len(docs)+len(rejects) >= 256 || time.Since(lastCheckpoint) > 2*time.Second || o.stopAfter > 0 {
			if err := checkpoint(); err != nil {
				cancel()
				return err
			}
			lastCheckpoint = time.Now()
			if o.stopAfter > 0 && state.Done >= o.stopAfter {
				return errInterrupted
			}
		}
	}
	wg.Wait()
	bar.finish()
	if readErr != nil {
		_ = checkpoint()
		return fmt.Errorf("reading %s after %d records: %w", o.in, next, readErr)
	}
	if err := ctx.Err(); err != nil {
		_ = checkpoint()
		return err
	}
	if err := checkpoint(); err != nil {
		return err
	}
	meta := storage.VersionMeta{Filters: pipeline.Filters, TDMPolicy: schemas.TDMSkip, Description: "Curated offline by `sward pipeline run` from " + filepath.Base(o.in) + "."}
	if job != nil {
		meta.JobID, meta.TDMPolicy = job.Name, job.TDMPolicy
	}
	root, m, err := w.Publish(ctx, meta)
	if err != nil {
		return err
	}
	if err := exportVersion(ctx, store, root, m, o.out); err != nil {
		return err
	}
	state.Finished = true
	if err := writeJSONAtomic(statePath, state); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "dataset %s version %s: %d records: %d documents, %d rejected, %d for review, %d repeated URLs -> %s\n",
		o.dataset, root, state.Done, m.Rows, m.Rejected, state.Counts["review"], state.Counts["repeat"], o.out)
	return nil
}

// finishOfflineRow stores the capture as a capture record in the run's
// store and gives the document its dataset ID (schemas.PageDocumentID: the
// scope and the normalised final URL, or the record's index for a capture
// without a usable URL) and that record's CID.
func finishOfflineRow(ctx context.Context, store *storage.Store, scope string, idx int64, c *schemas.Capture, r *pipeline.Result) (string, error) {
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

// appendDedupKey logs one dedup insertion as "index hex(key)\n".
func appendDedupKey(b []byte, idx int64, k *pipeline.DedupKey) []byte {
	b = fmt.Appendf(b, "%d ", idx)
	b = hex.AppendEncode(b, k.Marshal())
	return append(b, '\n')
}

func replayDedupKeys(path string, done int64, p *pipeline.Pipeline) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading dedup log: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		var idx int64
		var hx string
		if _, err := fmt.Sscanf(sc.Text(), "%d %s", &idx, &hx); err != nil || idx >= done {
			continue // a torn last line or a record that will be redone
		}
		raw, err := hex.DecodeString(hx)
		if err != nil {
			continue
		}
		var k pipeline.DedupKey
		if err := k.Unmarshal(raw); err != nil {
			continue
		}
		p.RestoreDedup(k)
		n++
	}
	slog.Debug("dedup index restored", "keys", n)
	return sc.Err()
}

func writeJSONAtomic(path string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// exportVersion copies a published version's files (manifest, dataset
// card, Parquet shards of every table) from the store into dir.
func exportVersion(ctx context.Context, s *storage.Store, c cid.Cid, m *schemas.Manifest, dir string) error {
	paths := []string{"manifest.json", "README.md"}
	for _, sh := range m.Shards {
		paths = append(paths, sh.Path)
	}
	for _, shards := range m.Tables {
		for _, sh := range shards {
			paths = append(paths, sh.Path)
		}
	}
	for _, p := range paths {
		r, err := s.OpenFile(ctx, c, p)
		if err != nil {
			if p == "README.md" {
				continue
			}
			return fmt.Errorf("exporting %s: %w", p, err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			r.Close()
			return err
		}
		f, err := os.Create(dst)
		if err != nil {
			r.Close()
			return fmt.Errorf("exporting %s: %w", p, err)
		}
		_, err = io.Copy(f, r)
		r.Close()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("exporting %s: %w", p, err)
		}
	}
	return os.WriteFile(filepath.Join(dir, "CID"), []byte(c.String()+"\n"), 0o644)
}

// captureSource yields captures from an input file.
type captureSource interface {
	// Next returns the next capture, or io.EOF.
	Next() (*schemas.Capture, error)
	// Progress reports work done and total, in the source's own unit.
	Progress() (done, total int64, unit string)
	Close() error
}

func openCaptureSource(path string) (captureSource, error) {
	lower := strings.ToLower(path)
	switch {
	case strings.HasSuffix(lower, ".warc") || strings.HasSuffix(lower, ".warc.gz"):
		return openWARC(path)
	case strings.HasSuffix(lower, ".parquet"):
		return openCaptureParquet(path)
	case strings.HasSuffix(lower, ".jsonl") || strings.HasSuffix(lower, ".json") || strings.HasSuffix(lower, ".jsonl.gz"):
		return openCaptureJSONL(path)
	}
	return nil, fmt.Errorf("input %s: unknown format (want .warc, .warc.gz, .parquet or .jsonl)", path)
}

// countingFile counts bytes read, for byte-based progress.
type countingFile struct {
	f    *os.File
	n    atomic.Int64 // read by the progress bar while the reader runs
	size int64
}

func (c *countingFile) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type warcSource struct {
	cf   *countingFile
	r    *gowarc.WarcFileReader
	path string
}

func openWARC(path string) (*warcSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening WARC: %w", err)
	}
	st, _ := f.Stat()
	if err := checkWARCStart(f, path, st.Size()); err != nil {
		f.Close()
		return nil, err
	}
	cf := &countingFile{f: f, size: st.Size()}
	r, err := gowarc.NewWarcFileReaderFromStream(cf, 0,
		gowarc.WithSyntaxErrorPolicy(gowarc.ErrWarn), gowarc.WithSpecViolationPolicy(gowarc.ErrWarn))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening WARC %s: %w", path, err)
	}
	return &warcSource{cf: cf, r: r, path: path}, nil
}

// checkWARCStart refuses, with a message that says what is wrong, an empty
// input and one that is neither a WARC nor gzip data (instead of gowarc's
// "gzip: invalid header" for a file not even named .gz). It leaves f at
// the start.
func checkWARCStart(f *os.File, path string, size int64) error {
	if size == 0 {
		return fmt.Errorf("input %s is empty: no WARC records to read", path)
	}
	head := make([]byte, 5)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	head = head[:n]
	if bytes.HasPrefix(head, []byte{0x1f, 0x8b}) || bytes.HasPrefix(head, []byte("WARC/")) {
		return nil
	}
	return fmt.Errorf("input %s is not a WARC file: it starts with %q, not \"WARC/\" or a gzip header; check the file (a download error page?)", path, head)
}

// rawTargetURI reads the WARC-Target-URI of the record at offset straight
// from the file. gowarc blanks a header value its URL parser refuses, as
// it does wget's "<https://...>", so the page's URL is read here instead.
func rawTargetURI(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return ""
		}
		zr.Multistream(false)
		r = zr
	}
	lr := bufio.NewReader(io.LimitReader(r, 64<<10))
	for {
		line, err := lr.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(name), gowarc.WarcTargetURI) {
			return strings.Trim(strings.TrimSpace(value), "<>")
		}
		if line == "" || err != nil {
			return "" // end of the header block
		}
	}
}

func (s *warcSource) Next() (*schemas.Capture, error) {
	for {
		rec, err := s.r.Next()
		if err != nil {
			if rec.WarcRecord != nil {
				rec.WarcRecord.Close()
			}
			return nil, err
		}
		wr := rec.WarcRecord
		if wr == nil {
			return nil, io.EOF
		}
		c, ok, err := captureFromWARC(wr)
		wr.Close()
		if ok && c.URL == "" {
			c.URL = rawTargetURI(s.path, rec.Offset)
		}
		if err != nil {
			return nil, fmt.Errorf("WARC record at offset %d: %w", rec.Offset, err)
		}
		if ok {
			return c, nil
		}
	}
}

// captureFromWARC turns a response record into a capture; other record
// types are skipped (ok false).
func captureFromWARC(wr gowarc.WarcRecord) (*schemas.Capture, bool, error) {
	if wr.Type() != gowarc.Response {
		return nil, false, nil
	}
	block, ok := wr.Block().(gowarc.HttpResponseBlock)
	if !ok {
		return nil, false, nil
	}
	body, err := block.PayloadBytes()
	if err != nil {
		return nil, false, err
	}
	data, err := io.ReadAll(io.LimitReader(body, schemas.MaxCaptureBody+1))
	if err != nil {
		return nil, false, err
	}
	truncated := len(data) > schemas.MaxCaptureBody
	if truncated {
		data = data[:schemas.MaxCaptureBody]
	}
	c := &schemas.Capture{
		Version:    schemas.CaptureVersion,
		URL:        targetURI(wr),
		Status:     block.HttpStatusCode(),
		Body:       data,
		BodySize:   int64(len(data)),
		BodySHA256: schemas.SHA256Hex(data),
		Truncated:  truncated,
		NodePeerID: "offline",
		Headers:    map[string]string{},
	}
	if t, err := wr.Date(); err == nil {
		c.FetchedAt = t.UTC()
	}
	if h := block.HttpHeader(); h != nil {
		for _, k := range schemas.KeptHeaders {
			if v := h.Get(k); v != "" {
				c.Headers[k] = v
			}
		}
		c.ContentType = h.Get("Content-Type")
		c.OptOut = optOutFromHeaders(h.Get("X-Robots-Tag"), h.Get("Tdm-Reservation"), h.Get("Tdm-Policy"), h.Get("Content-Usage"))
	}
	return c, true, nil
}

// targetURI is a record's WARC-Target-URI. wget writes it in angle
// brackets (WARC 1.0's grammar), which gowarc reports and leaves in place;
// the brackets are not part of the URL.
func targetURI(wr gowarc.WarcRecord) string {
	u := strings.TrimSpace(wr.WarcHeader().Get(gowarc.WarcTargetURI))
	if strings.HasPrefix(u, "<") && strings.HasSuffix(u, ">") {
		u = strings.TrimSpace(u[1 : len(u)-1])
	}
	return u
}

// optOutFromHeaders reads the TDM and AI opt-out response headers (page
// <meta> signals are not read offline).
func optOutFromHeaders(robots, tdm, tdmPolicy, usage string) schemas.OptOut {
	r := strings.ToLower(robots)
	return schemas.OptOut{
		NoAI:         strings.Contains(r, "noai"),
		NoIndex:      strings.Contains(r, "noindex"),
		TDMReserved:  strings.TrimSpace(tdm) == "1",
		TDMPolicy:    tdmPolicy,
		ContentUsage: usage,
	}
}

func (s *warcSource) Progress() (int64, int64, string) { return s.cf.n.Load(), s.cf.size, "bytes" }
func (s *warcSource) Close() error                     { return s.cf.f.Close() }

type jsonlSource struct {
	cf  *countingFile
	dec *json.Decoder
}

func openCaptureJSONL(path string) (*jsonlSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening captures: %w", err)
	}
	st, _ := f.Stat()
	cf := &countingFile{f: f, size: st.Size()}
	return &jsonlSource{cf: cf, dec: json.NewDecoder(bufio.NewReaderSize(cf, 1<<20))}, nil
}

func (s *jsonlSource) Next() (*schemas.Capture, error) {
	var c schemas.Capture
	if err := s.dec.Decode(&c); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("decoding capture: %w", err)
	}
	return &c, nil
}

func (s *jsonlSource) Progress() (int64, int64, string) { return s.cf.n.Load(), s.cf.size, "bytes" }
func (s *jsonlSource) Close() error                     { return s.cf.f.Close() }

// parquetSource reads captures from a Parquet file whose columns carry the
// capture's JSON names (url, status, content_type, body, fetched_at, ...).
type parquetSource struct {
	f     *os.File
	pf    *file.Reader
	rr    pqarrow.RecordReader
	rec   arrow.RecordBatch
	row   int
	done  atomic.Int64
	total int64
}

func openCaptureParquet(path string) (*parquetSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening captures: %w", err)
	}
	pf, err := file.NewParquetReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading Parquet %s: %w", path, err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 256}, memory.DefaultAllocator)
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("reading Parquet %s: %w", path, err)
	}
	rr, err := fr.GetRecordReader(context.Background(), nil, nil)
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("reading Parquet %s: %w", path, err)
	}
	for _, name := range []string{"url", "body"} {
		if len(rr.Schema().FieldIndices(name)) == 0 {
			rr.Release()
			pf.Close()
			return nil, fmt.Errorf("Parquet %s has no %q column; captures need url and body (and status, content_type, fetched_at)", path, name)
		}
	}
	return &parquetSource{f: f, pf: pf, rr: rr, total: pf.NumRows()}, nil
}

func (s *parquetSource) Next() (*schemas.Capture, error) {
	for s.rec == nil || s.row >= int(s.rec.NumRows()) {
		if !s.rr.Next() {
			if err := s.rr.Err(); err != nil && err != io.EOF {
				return nil, err
			}
			return nil, io.EOF
		}
		s.rec = s.rr.RecordBatch()
		s.row = 0
	}
	c := captureFromRow(s.rec, s.row)
	s.row++
	s.done.Add(1)
	return c, nil
}

func captureFromRow(rec arrow.RecordBatch, i int) *schemas.Capture {
	col := func(name string) arrow.Array {
		if idx := rec.Schema().FieldIndices(name); len(idx) > 0 {
			return rec.Column(idx[0])
		}
		return nil
	}
	str := func(name string) string {
		a := col(name)
		if a == nil || a.IsNull(i) {
			return ""
		}
		switch v := a.(type) {
		case *array.String:
			return v.Value(i)
		case *array.LargeString:
			return v.Value(i)
		case *array.Binary:
			return string(v.Value(i))
		case *array.LargeBinary:
			return string(v.Value(i))
		}
		return ""
	}
	num := func(name string) int64 {
		a := col(name)
		if a == nil || a.IsNull(i) {
			return 0
		}
		switch v := a.(type) {
		case *array.Int64:
			return v.Value(i)
		case *array.Int32:
			return int64(v.Value(i))
		case *array.Int16:
			return int64(v.Value(i))
		}
		return 0
	}
	c := &schemas.Capture{
		Version: schemas.CaptureVersion, URL: str("url"), FinalURL: str("final_url"), JobID: str("job"),
		Status: int(num("status")), ContentType: str("content_type"), BodyCID: str("body_cid"),
		NodePeerID: str("node"), Error: str("error"),
	}
	if c.NodePeerID == "" {
		c.NodePeerID = "offline"
	}
	c.Body = []byte(str("body"))
	c.BodySize = int64(len(c.Body))
	if a, ok := col("fetched_at").(*array.Timestamp); ok && !a.IsNull(i) {
		unit := a.DataType().(*arrow.TimestampType).Unit
		c.FetchedAt = a.Value(i).ToTime(unit).UTC()
	}
	return c
}

func (s *parquetSource) Progress() (int64, int64, string) { return s.done.Load(), s.total, "records" }
func (s *parquetSource) Close() error {
	s.rr.Release()
	return s.pf.Close()
}

// runProgress draws "[#####     ] 45%  1234 docs  98.1 docs/s  accept 900
// reject 300 review 34": in place on a terminal, a line every few seconds in
// a log.
type runProgress struct {
	line   *progress.Line // nil when off
	src    captureSource
	start  time.Time
	last   time.Time
	done   int64
	seen   int64
	counts map[string]int
}

func newRunProgress(w io.Writer, on bool, src captureSource) *runProgress {
	b := &runProgress{src: src, start: time.Now(), counts: map[string]int{}}
	if on {
		b.line = progress.New(w)
	}
	return b
}

func (b *runProgress) advance(d pipeline.Decision) {
	b.done++
	b.seen++
	if b.line != nil && time.Since(b.last) > progress.TerminalEvery {
		b.draw(false)
		b.last = time.Now()
	}
}

func (b *runProgress) draw(force bool) {
	done, total, _ := b.src.Progress()
	frac := 0.0
	if total > 0 {
		frac = min(1, float64(done)/float64(total))
	}
	const width = 30
	filled := int(frac * width)
	rate := float64(b.seen) / max(time.Since(b.start).Seconds(), 1e-9)
	b.line.Draw(force, "[%s%s] %3.0f%%  %d docs  %.1f docs/s  accept %d reject %d review %d",
		strings.Repeat("#", filled), strings.Repeat(" ", width-filled), frac*100, b.done, rate,
		b.counts["accept"], b.counts["reject"], b.counts["review"])
}

func (b *runProgress) finish() {
	if b.line != nil {
		b.draw(true)
		b.line.Done()
	}
}
