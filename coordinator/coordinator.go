// Package coordinator runs crawl jobs: it seeds the durable frontier
// (package frontier) with URLs to fetch, leases them to scraper nodes under
// network-wide host budgets, ingests captures, verifies a sample of them
// and keeps the contribution ledger.
package coordinator

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/internal/retryafter"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// Network is what the coordinator needs from its libp2p host.
// *network.Host satisfies it.
type Network interface {
	ID() peer.ID
	SubscribeCaptures(ctx context.Context) (<-chan *schemas.Capture, error)
	Quarantine(p peer.ID)
	IsQuarantined(p peer.ID) bool
}

// Processor turns captures into documents; *pipeline.Pipeline satisfies it.
type Processor interface {
	Process(c *schemas.Capture, job *schemas.JobSpec) pipeline.Result
}

// Config tunes the coordinator service.
type Config struct {
	// LeaseTTL is how long a node has to finish a lease before its URLs go
	// back to the queue (default 30s; nodes renew while they work).
	LeaseTTL time.Duration
	// MaxLeaseItems caps the URLs in one lease (default 64).
	MaxLeaseItems int
	// Workers is the number of ingest workers (default 4 x GOMAXPROCS:
	// a worker spends much of an ingest waiting for the frontier's write
	// lock and fsync, so one per core leaves the cores idle).
	Workers int
	// CompleteGrace is how long a URL a node reported finished may wait for
	// its capture to arrive by gossip before it is queued again (default 10s).
	CompleteGrace time.Duration
	// VerifyPerLease caps the verification re-fetches added to one lease
	// (default 2).
	VerifyPerLease int
	// VerifyIdlePerLease caps the re-fetches of a lease that carries no
	// frontier work, which the node would otherwise spend idle: each goes
	// to a different idle host, within its politeness budget (default 8;
	// never fewer than VerifyPerLease). It is what drains the checks left
	// open when a crawl's last pages are fetched.
	VerifyIdlePerLease int
	// VerifyTimeout is how long a verification check may stay open before
	// it is dropped as inconclusive, e.g. when too few nodes are up to
	// fetch the page three times (default 2m).
	VerifyTimeout time.Duration
	// VerifySecret keys the hash that samples captures for verification;
	// nodes must not know it. Empty means a random secret drawn once and
	// kept in the frontier database, so a restarted coordinator samples
	// the same URLs.
	VerifySecret []byte
	// TrustedFetch fetches a page with a fetcher the coordinator runs
	// itself; checks that keep lapsing, or find no eligible verifier, are
	// settled with it, so a lie cannot be voided. Nil: no fallback.
	TrustedFetch TrustedFetchFunc
	// Trust tunes probation, adaptive sampling, lease rates and vesting.
	Trust TrustConfig
	// Logger receives the coordinator's logs (default slog.Default()).
	Logger *slog.Logger
}

// Default fills zero fields.
func (c *Config) Default() {
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 30 * time.Second
	}
	if c.MaxLeaseItems == 0 {
		c.MaxLeaseItems = 64
	}
	if c.Workers == 0 {
		c.Workers = 4 * runtime.GOMAXPROCS(0)
	}
	if c.CompleteGrace == 0 {
		c.CompleteGrace = 10 * time.Second
	}
	if c.VerifyPerLease == 0 {
		c.VerifyPerLease = 2
	}
	if c.VerifyIdlePerLease == 0 {
		c.VerifyIdlePerLease = max(8, c.VerifyPerLease)
	}
	if c.VerifyTimeout == 0 {
		c.VerifyTimeout = 2 * time.Minute
	}
	c.Trust.Default()
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports settings the service cannot run with.
func (c Config) Validate() error {
	if c.LeaseTTL < time.Second {
		return fmt.Errorf("coordinator: lease ttl %s is shorter than 1s", c.LeaseTTL)
	}
	if c.MaxLeaseItems < 1 {
		return errors.New("coordinator: max lease items must be at least 1")
	}
	if c.Workers < 1 {
		return errors.New("coordinator: workers must be at least 1")
	}
	if c.VerifyPerLease < 0 {
		return errors.New("coordinator: verify per lease must not be negative")
	}
	if c.VerifyIdlePerLease < c.VerifyPerLease {
		return fmt.Errorf("coordinator: verify idle per lease %d is below verify per lease %d", c.VerifyIdlePerLease, c.VerifyPerLease)
	}
	if c.VerifyTimeout < time.Second {
		return fmt.Errorf("coordinator: verify timeout %s is shorter than 1s", c.VerifyTimeout)
	}
	return c.Trust.Validate()
}

// Coordinator runs crawl jobs: it seeds and schedules the frontier, leases
// URLs to nodes, ingests their captures idempotently, runs the pipeline and
// writes accepted documents to each job's dataset.
type Coordinator struct {
	cfg      Config
	net      Network
	frontier *frontier.Frontier
	store    *storage.Store
	pipe     Processor
	ledger   *Ledger
	log      *slog.Logger

	mu   sync.Mutex
	jobs map[string]*jobState
	// pending holds URLs a node reported finished whose capture has not been
	// ingested yet, by lease.
	pending map[string]pendingComplete
	// bodies fetches bodies that travel by bitswap (SetBodyFetcher).
	bodies BodyFetcher
	// rules are curators' per-domain extraction rules (SetRules).
	rules ruleBook
	// unleased counts captures dropped because their node held no lease.
	unleased atomic.Int64
	// waiters are live fetches waiting for a URL's capture.
	waiters map[string][]chan liveResult

	// verify holds the verification checks in progress, trust what is
	// known of each node, checkLeases the leases that carry only checks
	// and held the redirected documents waiting for a check.
	verify      *verifier
	trust       *trustBook
	checkLeases checkLeaseTable
	held        heldRedirects
	receipts    *receiptBook
	sweeping    atomic.Bool
	sweepWG     sync.WaitGroup
	// quarMu orders ingestion against quarantine: Ingest holds it shared
	// from its quarantine test until the URL is marked done, Quarantine
	// exclusively while it marks a peer, so every capture of a quarantined
	// peer is either dropped or in contrib when its pages are excluded.
	quarMu sync.RWMutex
	// quarSeen mirrors quarantined (node -> struct{}) for readers that
	// hold other locks, such as the verifier draw under the trust book's
	// lock: taking quarMu there would invert the lock order against
	// Ingest (quarMu shared, then the trust book) while a quarantine
	// waits for quarMu. Written under quarMu next to quarantined.
	quarSeen    sync.Map
	quarantined map[string]bool
	// contrib records, per peer, what its captures put in each dataset
	// since the dataset's last version, so the pages of a peer caught
	// lying can be taken out again.
	contribMu sync.Mutex
	contrib   map[string]map[checkKey]*contribution
	// forgotAt is when forgetVested last ran (guarded by contribMu).
	forgotAt time.Time
	// stmts are writeState's statements, prepared once on the
	// frontier's write connection (guarded by stmtsMu).
	stmtsMu sync.Mutex
	stmts   map[string]*sql.Stmt
	// contribDirty holds the contributions added, verified or taken out
	// since they were last saved (see persist.go).
	contribDirty map[contribKey]struct{}

	hooksMu      sync.RWMutex
	onCapture    []func(*schemas.Capture)
	onAccept     []func(schemas.Document)
	onGone       []func(url string, at time.Time)
	onReview     []func(*schemas.Capture, pipeline.Result)
	onQuarantine []func(peer string, entry schemas.LedgerEntry)
	onExclude    []func(jobID, docID string)
}

type pendingComplete struct {
	urls []string
	at   time.Time
}

// jobState is the in-memory side of one job.
type jobState struct {
	id      string
	spec    *schemas.JobSpec
	dataset *storage.DatasetWriter
	started time.Time

	captured, accepted, rejected, review, failed atomic.Int64
	bytes                                        atomic.Int64
	// inReview holds the IDs of the documents this process counted in
	// review: only their settling moves a count (settled items are read
	// again from the start after a restart, when the counters restarted
	// from zero).
	inReview sync.Map

	// nodes holds when each node last delivered a capture of the job.
	nodesMu sync.Mutex
	nodes   map[string]time.Time

	// recrawlChecked is when the job's done URLs were last checked for a
	// recrawl (Serve's goroutine only).
	recrawlChecked time.Time

	// publishMu orders, in a job that checks every capture (verifiesAll),
	// the commit of a capture against Publish: a commit holds it shared
	// from storing the document until its check is open, Publish
	// exclusively from counting the job's open checks until the version
	// is written, so no version holds a page whose check has not settled.
	publishMu sync.RWMutex
}

// verifiesAll reports whether the job checks every capture of every node
// (verify_sample_rate 1): then its versions hold only pages whose check
// settled (Publish).
func (j *jobState) verifiesAll() bool { return j.spec.VerifySampleRate >= 1 }

// activeNodeWindow is how recently a node must have delivered a capture
// to count as working on a job.
const activeNodeWindow = time.Minute

// noteNode records that node delivered a capture at now.
func (j *jobState) noteNode(node string, now time.Time) {
	j.nodesMu.Lock()
	defer j.nodesMu.Unlock()
	if j.nodes == nil {
		j.nodes = map[string]time.Time{}
	}
	j.nodes[node] = now
}

// activeNodes counts the nodes that delivered a capture within
// activeNodeWindow of now, forgetting the others.
func (j *jobState) activeNodes(now time.Time) int64 {
	j.nodesMu.Lock()
	defer j.nodesMu.Unlock()
	for node, at := range j.nodes {
		if now.Sub(at) > activeNodeWindow {
			delete(j.nodes, node)
		}
	}
	return int64(len(j.nodes))
}

// uncountTaken lowers the job's counters for document docID of a convicted or
// retracted page, counted under decision d: a document this process
// counted in review and curators have not settled leaves the review count
// whether or not it was in the dataset (it never is: only a settled
// accept adds it), and its review item no longer moves a count when it
// settles; a review document in the dataset was accepted by curators, so
// it leaves the accepted count. Otherwise only a page the removal took
// out, and that this process counted (not restored), moves its count.
func (j *jobState) uncountTaken(docID string, d pipeline.Decision, removed, restored bool) {
	if _, pending := j.inReview.LoadAndDelete(docID); pending {
		decIfPositive(&j.review)
		return
	}
	if !removed || restored {
		return
	}
	if d == pipeline.Review {
		d = pipeline.Accept
	}
	j.uncount(d)
}

// uncount takes a page taken out of the job's dataset off the counter of
// the decision its capture was counted under.
func (j *jobState) uncount(d pipeline.Decision) {
	switch d {
	case pipeline.Accept:
		j.accepted.Add(-1)
	case pipeline.Review:
		j.review.Add(-1)
	default:
		j.rejected.Add(-1)
	}
}

// JobProgress is a snapshot of one job for progress displays.
type JobProgress struct {
	JobID    string    `json:"job"`
	State    string    `json:"state"`
	Started  time.Time `json:"started"`
	Captured int64     `json:"captured"`
	Accepted int64     `json:"accepted"`
	Rejected int64     `json:"rejected"`
	Review   int64     `json:"review"`
	Failed   int64     `json:"failed"`
	Bytes    int64     `json:"bytes"`
	// Verifying counts sampled captures whose verification is still open.
	Verifying int64 `json:"verifying"`
	Queued    int64 `json:"queued"`
	Leased    int64 `json:"leased"`
	Done      int64 `json:"done"`
	// Nodes counts the nodes that delivered a capture of the job in the
	// last minute.
	Nodes int64 `json:"nodes"`
}

// New builds a coordinator over an open frontier, block store and pipeline.
// Jobs stored in the frontier are resumed, and so is the verification
// state an earlier coordinator saved in the frontier's database: the
// ledger, the quarantined peers (quarantined again on net), each peer's
// contributions to the next dataset versions and the open checks (see
// persist.go).
func New(ctx context.Context, cfg Config, net Network, fr *frontier.Frontier, store *storage.Store, pipe Processor) (*Coordinator, error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if net == nil || fr == nil || store == nil || pipe == nil {
		return nil, errors.New("coordinator: network, frontier, store and pipeline are required")
	}
	secret := cfg.VerifySecret
	if len(secret) == 0 {
		var err error
		if secret, err = loadSecret(ctx, fr, secretKey, rand.Read); err != nil {
			return nil, fmt.Errorf("coordinator: %w", err)
		}
	}
	c := &Coordinator{
		cfg: cfg, net: net, frontier: fr, store: store, pipe: pipe,
		ledger:       NewLedger(),
		log:          cfg.Logger.With(logkey.Peer, net.ID().String(), logkey.Role, "coordinator"),
		jobs:         make(map[string]*jobState),
		pending:      make(map[string]pendingComplete),
		verify:       newVerifier(secret),
		trust:        newTrustBook(cfg.Trust),
		quarantined:  make(map[string]bool),
		contrib:      make(map[string]map[checkKey]*contribution),
		contribDirty: make(map[contribKey]struct{}),
		// The first sweep that forgets comes forgetVestedEvery after the
		// start, as it did from Serve's loop.
		forgotAt: time.Now(),
	}
	jobs, err := fr.ListJobs(ctx)
	if err != nil {
		return nil, fmt.Errorf("coordinator: loading jobs: %w", err)
	}
	for _, j := range jobs {
		if _, err := c.openJob(ctx, j.ID, j.Spec); err != nil {
			return nil, err
		}
	}
	if err := c.loadState(ctx); err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	if err := c.setupTrust(ctx); err != nil {
		return nil, err
	}
	if err := c.requeueLostHeld(ctx); err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	return c, nil
}

// OnCapture registers fn to be called with every capture of a known job as
// it arrives, before ingestion (for observers and tests).
func (c *Coordinator) OnCapture(fn func(*schemas.Capture)) {
	c.hooksMu.Lock()
	c.onCapture = append(c.onCapture, fn)
	c.hooksMu.Unlock()
}

// OnAccept registers fn to be called with every accepted document (for the
// feed). fn must not block for long.
func (c *Coordinator) OnAccept(fn func(schemas.Document)) {
	c.hooksMu.Lock()
	c.onAccept = append(c.onAccept, fn)
	c.hooksMu.Unlock()
}

// OnGone registers fn to be called with every page a node found gone (HTTP
// 404 or 410), for example a recrawled page that was deleted, so the feed
// can tell its subscribers (feed.MarkRemoved).
func (c *Coordinator) OnGone(fn func(url string, at time.Time)) {
	c.hooksMu.Lock()
	c.onGone = append(c.onGone, fn)
	c.hooksMu.Unlock()
}

// OnReview registers fn to be called with every capture the pipeline routed
// to human review (for the curator queue).
func (c *Coordinator) OnReview(fn func(*schemas.Capture, pipeline.Result)) {
	c.hooksMu.Lock()
	c.onReview = append(c.onReview, fn)
	c.hooksMu.Unlock()
}

// Ledger returns the contribution ledger.
func (c *Coordinator) Ledger() *Ledger { return c.ledger }

func (c *Coordinator) openJob(ctx context.Context, id string, spec *schemas.JobSpec) (*jobState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if j, ok := c.jobs[id]; ok {
		return j, nil
	}
	ds, err := c.store.OpenDataset(ctx, spec.Dataset, storage.DatasetOptions{})
	if err != nil {
		return nil, fmt.Errorf("coordinator: opening dataset %q of job %s: %w", spec.Dataset, id, err)
	}
	j := &jobState{id: id, spec: spec, dataset: ds, started: time.Now()}
	c.jobs[id] = j
	return j, nil
}

func (c *Coordinator) job(id string) *jobState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.jobs[id]
}

// Submit stores a job and seeds its frontier. Submitting the same spec
// again resumes the job instead of starting over; another spec under a
// known job's name is ErrJobExists (see checkNameClash).
func (c *Coordinator) Submit(ctx context.Context, spec *schemas.JobSpec) (string, error) {
	if err := spec.Validate(); err != nil {
		return "", err
	}
	id := spec.Name
	if existing, err := c.frontier.GetJob(ctx, id); err == nil && existing != nil {
		if err := checkNameClash(existing, spec); err != nil {
			return "", err
		}
		if _, err := c.openJob(ctx, id, existing.Spec); err != nil {
			return "", err
		}
		return id, nil
	}
	if err := c.frontier.PutJob(ctx, id, spec, frontier.JobRunning); err != nil {
		return "", fmt.Errorf("coordinator: storing job %s: %w", id, err)
	}
	if _, err := c.openJob(ctx, id, spec); err != nil {
		return "", err
	}
	if pol := spec.Politeness; pol.MinDelay > 0 || pol.MaxConcurrency > 0 {
		for _, d := range spec.Scope.Domains {
			if err := c.frontier.SetHostPolicy(ctx, d, frontier.HostPolicy{
				MinDelay: time.Duration(pol.MinDelay), MaxConcurrency: pol.MaxConcurrency,
			}); err != nil {
				return "", fmt.Errorf("coordinator: host policy for %s: %w", d, err)
			}
		}
	}
	seeds := make([]frontier.Candidate, 0, len(spec.Seeds)+len(spec.Sitemaps))
	for _, s := range spec.Seeds {
		seeds = append(seeds, frontier.Candidate{JobID: id, URL: s, Depth: 0, Priority: 1})
	}
	// Sitemaps are fetched like pages (nodes accept XML for .xml URLs) and
	// their <loc> entries become depth-1 links.
	for _, s := range spec.Sitemaps {
		seeds = append(seeds, frontier.Candidate{JobID: id, URL: s, Depth: 0, Priority: 1})
	}
	if _, err := c.frontier.Add(ctx, seeds); err != nil {
		return "", fmt.Errorf("coordinator: seeding job %s: %w", id, err)
	}
	c.log.Info("job submitted", logkey.Job, id, "seeds", len(seeds), logkey.Dataset, spec.Dataset)
	return id, nil
}

// HandleLease answers a node's lease frame. It implements
// network.LeaseHandler.
func (c *Coordinator) HandleLease(ctx context.Context, from peer.ID, req *schemas.LeaseRequest) *schemas.LeaseResponse {
	resp := &schemas.LeaseResponse{Version: schemas.WireVersion}
	if c.net.IsQuarantined(from) {
		resp.Error = "quarantined: this node failed verification and gets no work"
		return resp
	}
	now := time.Now()
	if !c.admitLease(from, req, resp, now) {
		return resp
	}
	switch req.Op {
	case schemas.LeaseAcquire:
		max := req.Max
		if max <= 0 || max > c.cfg.MaxLeaseItems {
			max = c.cfg.MaxLeaseItems
		}
		max = c.trust.leaseShare(from.String(), max)
		lease, err := c.frontier.Lease(ctx, from.String(), max, now, c.cfg.LeaseTTL)
		if err != nil {
			resp.Error = "lease: " + err.Error()
			return resp
		}
		if lease == nil || len(lease.Items) == 0 {
			wait := time.Second
			if lease != nil && lease.RetryAfter > 0 && lease.RetryAfter < wait {
				// The next host opens sooner than the default poll.
				wait = lease.RetryAfter
			}
			resp.RetryAfter = schemas.Duration(wait)
		} else {
			resp.LeaseID = lease.ID
			resp.Deadline = lease.Deadline
			resp.Items = make([]schemas.LeaseItem, len(lease.Items))
			for i, it := range lease.Items {
				resp.Items[i] = schemas.LeaseItem{JobID: it.JobID, URL: it.URL, Depth: it.Depth}
			}
			resp.Budgets = make(map[string]schemas.HostBudget, len(lease.Budgets))
			for h, p := range lease.Budgets {
				resp.Budgets[h] = schemas.HostBudget{MinDelay: schemas.Duration(p.MinDelay), MaxConcurrency: p.MaxConcurrency}
			}
		}
		c.addVerifyItems(ctx, from.String(), resp, now)
		entry := c.ledger.Entry(from.String())
		resp.Ledger = &entry
	case schemas.LeaseRenew:
		c.verify.extend(from.String(), req.LeaseID, now.Add(c.cfg.LeaseTTL+c.cfg.CompleteGrace))
		if c.checkLeases.renew(req.LeaseID, from.String(), now.Add(c.cfg.LeaseTTL)) {
			resp.LeaseID = req.LeaseID
			resp.Deadline = now.Add(c.cfg.LeaseTTL)
			return resp
		}
		if err := c.frontier.Renew(ctx, req.LeaseID, now, c.cfg.LeaseTTL); err != nil {
			resp.Error = "renew: " + err.Error()
			return resp
		}
		resp.LeaseID = req.LeaseID
		resp.Deadline = now.Add(c.cfg.LeaseTTL)
	case schemas.LeaseComplete:
		// The captures travel by gossip and may arrive after this frame. URLs
		// whose capture is not ingested within the grace period are queued
		// again (see sweepPending), so a lost message never loses a page.
		// A verification lease has nothing to complete: its checks stay
		// open until the captures arrive or the assignment runs out.
		resp.LeaseID = req.LeaseID
		if c.checkLeases.end(req.LeaseID, from.String()) {
			return resp
		}
		c.mu.Lock()
		p := c.pending[req.LeaseID]
		p.urls = append(p.urls, req.URLs...)
		p.at = now
		c.pending[req.LeaseID] = p
		c.mu.Unlock()
	case schemas.LeaseRelease:
		// Verification items the node gives back go to another node.
		if len(req.URLs) == 0 {
			c.verify.releaseLease(from.String(), req.LeaseID)
		}
		c.verify.release(from.String(), req.URLs)
		if c.checkLeases.end(req.LeaseID, from.String()) {
			resp.LeaseID = req.LeaseID
			return resp
		}
		if err := c.frontier.Release(ctx, req.LeaseID, req.URLs); err != nil {
			resp.Error = "release: " + err.Error()
			return resp
		}
		resp.LeaseID = req.LeaseID
	default:
		resp.Error = fmt.Sprintf("unknown lease op %q", req.Op)
	}
	return resp
}

// Serve ingests captures and keeps leases honest until ctx ends.
func (c *Coordinator) Serve(ctx context.Context) error {
	captures, err := c.net.SubscribeCaptures(ctx)
	if err != nil {
		return fmt.Errorf("coordinator: subscribing to captures: %w", err)
	}
	if err := c.resumeQuarantines(ctx); err != nil {
		c.log.Error("finishing interrupted quarantines", logkey.Err, err)
	}
	// Ingest workers are sharded by URL so two captures of one URL are
	// never processed at the same time.
	shards := make([]chan *schemas.Capture, c.cfg.Workers)
	var wg sync.WaitGroup
	for i := range shards {
		shards[i] = make(chan *schemas.Capture, 64)
		wg.Add(1)
		go func(in <-chan *schemas.Capture) {
			defer wg.Done()
			for capt := range in {
				if err := c.Ingest(ctx, capt); err != nil && ctx.Err() == nil {
					c.log.Error("ingest failed", logkey.URL, capt.URL, logkey.Job, capt.JobID, logkey.Err, err)
				}
			}
		}(shards[i])
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	defer c.sweepWG.Wait()
	defer func() {
		for _, s := range shards {
			close(s)
		}
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case capt, ok := <-captures:
			if !ok {
				return nil
			}
			h := fnv.New32a()
			h.Write([]byte(capt.JobID + "\x00" + capt.URL))
			select {
			case shards[int(h.Sum32())%len(shards)] <- capt:
			case <-ctx.Done():
				return nil
			}
		case now := <-tick.C:
			if n, err := c.frontier.ExpireLeases(ctx, now); err != nil {
				c.log.Warn("expiring leases", logkey.Err, err)
			} else if n > 0 {
				c.log.Info("expired leases returned URLs", "urls", n)
			}
			c.sweepPending(ctx, now)
			c.scheduleRecrawls(ctx, now)
			c.sweepChecksAsync(ctx, now)
		}
	}
}

// recrawlCheckEvery is how often the done URLs of a job with a recrawl
// interval are checked: often enough that a page is fetched again soon
// after its interval, at most once a second and at least once a minute.
func recrawlCheckEvery(interval time.Duration) time.Duration {
	return min(max(interval/4, time.Second), time.Minute)
}

// scheduleRecrawls queues again the done URLs of running jobs with a
// recrawl interval once the interval has passed since they were fetched.
// A page fetched again goes through the pipeline like the first time; the
// feed tracks it as new, changed or unchanged, while a dataset keeps one
// row per page (the first accepted version; see docs/frontier.md).
func (c *Coordinator) scheduleRecrawls(ctx context.Context, now time.Time) {
	c.mu.Lock()
	var due []*jobState
	for _, j := range c.jobs {
		if iv := time.Duration(j.spec.RecrawlInterval); iv > 0 && now.Sub(j.recrawlChecked) >= recrawlCheckEvery(iv) {
			due = append(due, j)
		}
	}
	c.mu.Unlock()
	for _, j := range due {
		j.recrawlChecked = now
		rec, err := c.frontier.GetJob(ctx, j.id)
		if err != nil || rec.State != frontier.JobRunning {
			continue
		}
		n, err := c.frontier.ScheduleRecrawl(ctx, j.id, time.Duration(j.spec.RecrawlInterval), now)
		if err != nil {
			c.log.Warn("scheduling recrawl", logkey.Job, j.id, logkey.Err, err)
			continue
		}
		if n > 0 {
			c.log.Info("recrawl: pages queued again", logkey.Job, j.id, "urls", n)
		}
	}
}

// sweepPending releases URLs whose capture never arrived.
func (c *Coordinator) sweepPending(ctx context.Context, now time.Time) {
	c.mu.Lock()
	var due map[string][]string
	for id, p := range c.pending {
		if now.Sub(p.at) >= c.cfg.CompleteGrace {
			if due == nil {
				due = make(map[string][]string)
			}
			due[id] = p.urls
			delete(c.pending, id)
		}
	}
	c.mu.Unlock()
	for id, urls := range due {
		// Release is a no-op for URLs that were ingested meanwhile.
		if err := c.frontier.Release(ctx, id, urls); err != nil {
			c.log.Warn("releasing unconfirmed URLs", logkey.Lease, id, logkey.Err, err)
		}
	}
}

func (c *Coordinator) emitAccepted(d schemas.Document) {
	c.hooksMu.RLock()
	defer c.hooksMu.RUnlock()
	for _, fn := range c.onAccept {
		fn(d)
	}
}

// Bounds on how long an overloaded host is left alone.
const (
	defaultBackoff = time.Minute
	maxBackoff     = time.Hour
)

// backOff records a 429/503 answer: the host is not leased before its
// Retry-After (internal/retryafter: seconds or an HTTP date; a missing or
// invalid one means defaultBackoff; kept between a second and maxBackoff)
// and the URL is queued again for then.
func (c *Coordinator) backOff(ctx context.Context, jobID string, capt *schemas.Capture) error {
	now := time.Now()
	wait, ok := retryafter.Parse(capt.Headers["Retry-After"], now)
	if !ok {
		wait = defaultBackoff
	}
	until := now.Add(retryafter.Clamp(wait, time.Second, maxBackoff))
	host, err := frontier.HostKey(capt.URL)
	if err != nil {
		return err
	}
	if err := c.frontier.Backoff(ctx, host, until); err != nil {
		return fmt.Errorf("backing off %s: %w", host, err)
	}
	c.log.Info("host asked to slow down", logkey.Host, host, "status", capt.Status, "until", until.Format(time.RFC3339))
	return c.frontier.RetryLater(ctx, jobID, capt.URL, until)
}

// AddReviewed stores a document that human curators settled as accepted:
// it joins the job's next dataset version like any accepted document.
// Adding one twice is harmless and counted once (rows are keyed by ID).
func (c *Coordinator) AddReviewed(ctx context.Context, d schemas.Document) error {
	j := c.job(d.JobID)
	if j == nil {
		return fmt.Errorf("reviewed document %s names unknown job %q", d.ID, d.JobID)
	}
	c.quarMu.RLock()
	defer c.quarMu.RUnlock()
	if c.quarantined[d.NodePeerID] {
		return fmt.Errorf("reviewed document %s was fetched by quarantined node %s: %w", d.ID, d.NodePeerID, ErrQuarantined)
	}
	n, err := j.dataset.AddNew(ctx, d)
	if err != nil {
		return fmt.Errorf("storing reviewed document %s: %w", d.ID, err)
	}
	if n == 1 {
		// A settled review moves from review to accepted.
		if _, counted := j.inReview.LoadAndDelete(d.ID); counted {
			decIfPositive(&j.review)
		}
		j.accepted.Add(1)
		c.emitAccepted(d)
	}
	return nil
}

// DocumentID names a job's document for a URL: stable across re-fetches, so
// a page captured twice is stored once (schemas.DocumentID, shared with the
// offline pipeline).
func DocumentID(jobID, normalizedURL string) string {
	return schemas.DocumentID(jobID, normalizedURL)
}

// Progress reports a job's counters and frontier state.
func (c *Coordinator) Progress(ctx context.Context, jobID string) (JobProgress, error) {
	j := c.job(jobID)
	if j == nil {
		return JobProgress{}, fmt.Errorf("unknown job %q", jobID)
	}
	st, err := c.frontier.Stats(ctx, jobID)
	if err != nil {
		return JobProgress{}, err
	}
	state := frontier.JobRunning
	if rec, err := c.frontier.GetJob(ctx, jobID); err == nil && rec != nil {
		state = rec.State
	}
	return JobProgress{
		JobID: jobID, State: state, Started: j.started,
		Captured: j.captured.Load(), Accepted: j.accepted.Load(), Rejected: j.rejected.Load(),
		Review: j.review.Load(), Failed: j.failed.Load(), Bytes: j.bytes.Load(),
		Verifying: int64(c.verify.pending(jobID)),
		Queued:    st.Queued, Leased: st.Leased, Done: st.Done,
		Nodes: j.activeNodes(time.Now()),
	}, nil
}

// Finished reports whether a job has nothing queued or leased.
func (c *Coordinator) Finished(ctx context.Context, jobID string) (bool, error) {
	st, err := c.frontier.Stats(ctx, jobID)
	if err != nil {
		return false, err
	}
	// A URL a node reported finished stays leased until its capture is
	// ingested or the grace period returns it to the queue. A page whose
	// verification is open may still go back to the queue.
	return st.Queued == 0 && st.Leased == 0 && st.Done > 0 && c.verify.pending(jobID) == 0, nil
}

// ErrChecksOpen is returned by Publish for a job that checks every
// capture (verify_sample_rate 1) while some of its checks are open.
var ErrChecksOpen = errors.New("verification checks are open")

// Publish writes a new version of the job's dataset from everything
// accepted so far and returns its CID. A job that checks every capture
// publishes only when none of its checks is open (else ErrChecksOpen):
// a page under check may be a lie, and once in a version it stays there
// for whoever pulled it, whatever the next version retracts. With a
// lower sample rate most pages are never checked, and a version holds
// whatever was accepted.
func (c *Coordinator) Publish(ctx context.Context, jobID string) (string, *schemas.Manifest, error) {
	j := c.job(jobID)
	if j == nil {
		return "", nil, fmt.Errorf("unknown job %q", jobID)
	}
	if j.verifiesAll() {
		j.publishMu.Lock()
		defer j.publishMu.Unlock()
		if n := c.verify.pending(jobID); n > 0 {
			return "", nil, fmt.Errorf("publishing dataset of job %s: %d %w; the job checks every capture (verify_sample_rate 1), so a version holds only pages whose check settled: publish again once they have (its progress counts them as verifying)",
				jobID, n, ErrChecksOpen)
		}
	}
	end := time.Now().UTC()
	start := j.started.UTC()
	root, m, err := j.dataset.Publish(ctx, storage.VersionMeta{
		JobID: jobID, CrawlStart: &start, CrawlEnd: &end, TDMPolicy: j.spec.TDMPolicy,
		Filters: pipeline.Filters,
	})
	if err != nil {
		return "", nil, fmt.Errorf("publishing dataset of job %s: %w", jobID, err)
	}
	// Contributions stay tracked past the version until their points
	// vest (forgetVested): a node convicted later has its unvested pages
	// retracted from the next version.
	c.log.Info("dataset version published", logkey.Job, jobID, logkey.CID, root.String(), "rows", m.Rows)
	if err := c.markDoneIfFinished(ctx, j); err != nil {
		c.log.Warn("job state after publishing", logkey.Job, jobID, logkey.Err, err)
	}
	return root.String(), m, nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
