package feed

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/swardnet/sward/internal/httpserve"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// diffContext is the number of unchanged lines shown around a change.
const diffContext = 2

// version is what change tracking remembers of the latest capture of a URL.
type version struct {
	id        string
	sha256    string
	fetchedAt time.Time
}

// Feed serves accepted documents to LLM applications. Create it with New;
// it is safe for concurrent use. Close stops its goroutines.
type Feed struct {
	cfg Config
	log *slog.Logger
	idx *index

	// addMu serialises writers so change tracking sees captures of the
	// same URL in order.
	addMu  sync.Mutex
	mu     sync.RWMutex
	latest map[string]version // by URL
	// aliases maps a URL asked for in a live fetch to the URL of the
	// document that came back, when they differ.
	aliases map[string]string

	inflightMu sync.Mutex
	inflight   map[string]*fetchCall // live fetches by URL

	events *eventLog
	hooks  *webhooks
	auth   *authenticator
	mcp    *mcp.Server
	routes http.Handler

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// offers queues documents handed over by Offer; started on first use.
	offerOnce sync.Once
	offers    chan schemas.Document
	now       func() time.Time

	// streamStop is closed when a server started by ServeListener shuts
	// down, so open SSE streams end and the shutdown can finish.
	streamStop     chan struct{}
	streamStopOnce sync.Once
}

func (f *Feed) cancelStreams() { f.streamStopOnce.Do(func() { close(f.streamStop) }) }

// New opens the index (rebuilding change-tracking state from it when it
// already holds documents) and starts the webhook workers.
func New(ctx context.Context, cfg Config) (*Feed, error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	idx, err := openIndex(cfg.IndexDir)
	if err != nil {
		return nil, err
	}
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &Feed{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "feed"),
		idx:     idx,
		latest:  map[string]version{},
		aliases: map[string]string{},

		inflight: map[string]*fetchCall{},
		ctx:      fctx,
		cancel:   cancel,
		now:      func() time.Time { return time.Now().UTC() },

		streamStop: make(chan struct{}),
	}
	if cfg.IndexDir == "" {
		f.events = newEventLog(cfg.Retention, strconv.FormatInt(time.Now().UnixNano(), 36))
	} else {
		ef, epoch, evs, err := openEventFile(filepath.Join(cfg.IndexDir, "events.jsonl"), cfg.Retention, f.log)
		if err != nil {
			cancel()
			_ = idx.close()
			return nil, err
		}
		f.events = restoreEventLog(cfg.Retention, epoch, evs, ef)
	}
	err = idx.scan(ctx, nil, 1000, func(recs []*Record) error {
		for _, r := range recs {
			f.latest[r.URL] = version{id: r.ID, sha256: r.ContentSHA256, fetchedAt: r.FetchedAt}
		}
		return nil
	})
	if err != nil {
		cancel()
		_ = idx.close()
		_ = f.events.close()
		return nil, fmt.Errorf("rebuilding change tracking from the index: %w", err)
	}
	f.hooks = newWebhooks(f)
	if err := f.loadWebhooks(); err != nil {
		_ = f.Close()
		return nil, err
	}
	f.auth = newAuthenticator(cfg)
	f.mcp = f.newMCPServer()
	f.routes = f.newRoutes()
	return f, nil
}

// Close stops webhook deliveries and open feed streams and closes the index.
func (f *Feed) Close() error {
	f.cancel()
	f.wg.Wait()
	evErr := f.events.close()
	if err := f.idx.close(); err != nil {
		return fmt.Errorf("closing search index: %w", err)
	}
	return evErr
}

// Add indexes accepted documents, works out their change status against the
// previous capture of the same URL, and pushes them to feed subscribers and
// webhooks. Documents need an ID and a URL. A capture older than the one
// already held for its URL, or the very same capture again, is ignored, so
// replays are harmless.
func (f *Feed) Add(ctx context.Context, docs ...schemas.Document) error {
	_, err := f.add(ctx, docs, true)
	return err
}

// MarkRemoved records that a recrawl of url found the page gone (for
// example 404 or 410): its document leaves the index and subscribers get a
// "removed" event carrying the last known capture. It returns false when the
// feed holds no document for url.
func (f *Feed) MarkRemoved(ctx context.Context, url string, at time.Time) (bool, error) {
	f.addMu.Lock()
	defer f.addMu.Unlock()
	f.mu.RLock()
	prev, ok := f.latest[url]
	f.mu.RUnlock()
	if !ok {
		return false, nil
	}
	r, err := f.idx.get(ctx, prev.id)
	if err != nil {
		return false, fmt.Errorf("marking %s removed: %w", url, err)
	}
	if r == nil {
		return false, fmt.Errorf("marking %s removed: document %s missing from the index", url, prev.id)
	}
	if err := f.idx.apply(nil, []string{prev.id}); err != nil {
		return false, fmt.Errorf("marking %s removed: %w", url, err)
	}
	f.mu.Lock()
	delete(f.latest, url)
	f.mu.Unlock()
	pf := prev.fetchedAt
	r.Change = Change{Status: ChangeRemoved, PreviousID: prev.id, PreviousFetchedAt: &pf, PreviousSHA256: prev.sha256}
	if !at.IsZero() {
		r.FetchedAt = at.UTC()
	}
	f.log.Info("document removed", logkey.URL, url, "id", prev.id)
	f.publish([]*Record{r})
	return true, nil
}

// add indexes docs with change tracking and, when notify is set, publishes
// them to the feed and webhooks while still holding addMu, so events are in
// the same order as the index saw the captures.
func (f *Feed) add(ctx context.Context, docs []schemas.Document, notify bool) ([]*Record, error) {
	for i := range docs {
		if docs[i].ID == "" || docs[i].URL == "" {
			return nil, fmt.Errorf("adding document %d: id and url are required", i)
		}
	}
	f.addMu.Lock()
	defer f.addMu.Unlock()

	// pending holds versions decided in this batch, so two captures of one
	// URL in the same batch are compared with each other.
	pending := map[string]*Record{}
	var puts []*Record
	var dels []string
	for i := range docs {
		d := docs[i]
		d.FetchedAt = d.FetchedAt.UTC()
		r := &Record{Document: d}
		prev, prevRec, ok := f.previous(d.URL, pending)
		switch {
		case !ok:
			r.Change = Change{Status: ChangeNew}
		case d.FetchedAt.Before(prev.fetchedAt):
			f.log.Debug("older capture ignored", logkey.URL, d.URL, "id", d.ID)
			continue
		case d.ID == prev.id && d.ContentSHA256 == prev.sha256 && d.FetchedAt.Equal(prev.fetchedAt):
			// The same capture again (for example a live fetch that the
			// coordinator also reports as accepted): nothing to do.
			continue
		default:
			pf := prev.fetchedAt
			r.Change = Change{PreviousID: prev.id, PreviousFetchedAt: &pf, PreviousSHA256: prev.sha256}
			if prev.sha256 == d.ContentSHA256 && d.ContentSHA256 != "" {
				r.Change.Status = ChangeSame
			} else {
				r.Change.Status = ChangeChanged
				if prevRec == nil {
					var err error
					prevRec, err = f.idx.get(ctx, prev.id)
					if err != nil {
						return nil, fmt.Errorf("diffing %s: %w", d.URL, err)
					}
				}
				if prevRec != nil {
					r.Change.Diff = lineDiff(prevRec.Text, d.Text, diffContext, f.cfg.MaxDiffLines)
				}
			}
			if prev.id != d.ID {
				dels = append(dels, prev.id)
			}
		}
		if old, ok := pending[d.URL]; ok {
			puts = removeRecord(puts, old)
		}
		pending[d.URL] = r
		puts = append(puts, r)
	}
	if len(puts) == 0 {
		return nil, nil
	}
	if err := f.idx.apply(puts, dels); err != nil {
		return nil, err
	}
	f.mu.Lock()
	for _, r := range puts {
		f.latest[r.URL] = version{id: r.ID, sha256: r.ContentSHA256, fetchedAt: r.FetchedAt}
	}
	f.mu.Unlock()
	if notify {
		f.publish(puts)
	}
	return puts, nil
}

func removeRecord(recs []*Record, r *Record) []*Record {
	for i, x := range recs {
		if x == r {
			return append(recs[:i], recs[i+1:]...)
		}
	}
	return recs
}

// previous finds the latest known version of url, from this batch first.
func (f *Feed) previous(url string, pending map[string]*Record) (version, *Record, bool) {
	if r, ok := pending[url]; ok {
		return version{id: r.ID, sha256: r.ContentSHA256, fetchedAt: r.FetchedAt}, r, true
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	v, ok := f.latest[url]
	return v, nil, ok
}

// publish appends records to the event log (waking SSE streams) and
// queues webhook deliveries.
func (f *Feed) publish(recs []*Record) {
	if len(recs) == 0 {
		return
	}
	evs := f.events.append(f.now(), recs...)
	f.hooks.enqueue(evs)
}

// Get returns the record with id, or nil when the feed does not hold it
// (never seen, superseded by a newer capture, or removed).
func (f *Feed) Get(ctx context.Context, id string) (*Record, error) {
	return f.idx.get(ctx, id)
}

// Search runs a BM25 search.
func (f *Feed) Search(ctx context.Context, req SearchRequest) (*SearchResponse, error) {
	if strings.TrimSpace(req.Query) == "" {
		return nil, &apiError{Status: http.StatusBadRequest, Msg: "q is required"}
	}
	k := req.K
	if k <= 0 {
		k = 10
	}
	if k > f.cfg.MaxResults {
		return nil, &apiError{Status: http.StatusBadRequest, Msg: fmt.Sprintf("k must be at most %d", f.cfg.MaxResults)}
	}
	return f.idx.search(ctx, req, k)
}

// Len is the number of documents in the index.
func (f *Feed) Len() (uint64, error) {
	n, err := f.idx.b.DocCount()
	if err != nil {
		return 0, fmt.Errorf("counting documents: %w", err)
	}
	return n, nil
}

// Handler returns every HTTP route: the /v1 API, /openapi.json and /mcp,
// behind authentication, rate limits and request size limits.
func (f *Feed) Handler() http.Handler { return f.routes }

// Serve listens on Config.Addr and serves Handler until ctx ends.
func (f *Feed) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", f.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening for the feed API on %s: %w", f.cfg.Addr, err)
	}
	return f.ServeListener(ctx, ln)
}

// ServeListener serves Handler on ln until ctx ends, then shuts down
// gracefully (open feed streams are closed).
func (f *Feed) ServeListener(ctx context.Context, ln net.Listener) error {
	// No write timeout: SSE streams and live fetches are long.
	srv := httpserve.NewServer(f.Handler(), 0)
	srv.BaseContext = func(net.Listener) context.Context { return f.ctx }
	// Open streams end when the server shuts down.
	srv.RegisterOnShutdown(f.cancelStreams)
	f.log.Info("feed API listening", logkey.Addr, ln.Addr().String())
	return httpserve.Serve(ctx, srv, ln, httpserve.ShutdownGrace, "the feed API")
}
