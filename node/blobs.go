package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/google/renameio/v2"
	"github.com/ipfs/go-cid"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// BlobConfig tunes a BlobStore.
type BlobConfig struct {
	// TTL is how long a body stays after it was stored (default 1 h). The
	// coordinator fetches a body within seconds of its capture (and gives
	// up after 30 s), so an hour leaves room for retries and slow links.
	TTL time.Duration
	// MaxBytes caps the bodies kept at once (default 512 MiB); beyond it
	// the oldest go first, whatever their age.
	MaxBytes int64
	// Interval is how often Serve collects (default 1 min). A body that
	// takes the store over MaxBytes also starts a collection at once.
	Interval time.Duration
	// IndexPath is the index file. NewBlobStore sets it to blobs.json in
	// the block store's directory when it is empty (Default cannot: it
	// does not know the store).
	IndexPath string
	// Logger receives the collector's logs (default slog.Default()).
	Logger *slog.Logger
}

// Default fills zero fields.
func (c *BlobConfig) Default() {
	if c.TTL == 0 {
		c.TTL = time.Hour
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 512 << 20
	}
	if c.Interval == 0 {
		c.Interval = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a config that would delete bodies before the
// coordinator can fetch them, or that names no index file.
func (c BlobConfig) Validate() error {
	if c.TTL < time.Minute {
		return fmt.Errorf("blob store: TTL %s is too short for the coordinator to fetch bodies; use at least 1m", c.TTL)
	}
	if c.MaxBytes < schemas.MaxCaptureBody {
		return fmt.Errorf("blob store: size cap %d bytes is below the largest body (%d bytes); raise it", c.MaxBytes, schemas.MaxCaptureBody)
	}
	if c.Interval <= 0 {
		return fmt.Errorf("blob store: collection interval %s must be positive", c.Interval)
	}
	if c.IndexPath == "" {
		return errors.New("blob store: no index path; set IndexPath (NewBlobStore defaults it to blobs.json in the block store's directory)")
	}
	if c.Logger == nil {
		return errors.New("blob store: no logger; call Default first")
	}
	return nil
}

// BlobStats describes the bodies a BlobStore keeps, for the dashboard.
type BlobStats struct {
	// Count and Bytes are the bodies stored now and their total size.
	Count int   `json:"count"`
	Bytes int64 `json:"bytes"`
	// Oldest is when the oldest stored body was added (zero when none).
	Oldest time.Time `json:"oldest,omitzero"`
	// Removed and Freed count the bodies collected since start and the
	// block bytes that freed.
	Removed int64 `json:"removed"`
	Freed   int64 `json:"freed_bytes"`
	// LastGC is when the last collection finished (zero before the first).
	LastGC time.Time `json:"last_gc,omitzero"`
}

// GCResult is what one collection did.
type GCResult struct {
	// Expired bodies were older than the TTL; Evicted ones were the oldest
	// while the store was over its size cap.
	Expired, Evicted int
	// Freed is the bytes of the blocks deleted (shared blocks that other
	// bodies still use are kept and not counted).
	Freed int64
}

// blobIndexVersion is the version of the index file format (docs/node.md).
const blobIndexVersion = 1

// blobIndexFile is the on-disk index: one entry per stored body.
type blobIndexFile struct {
	Version int         `json:"version"`
	Blobs   []blobEntry `json:"blobs"`
}

type blobEntry struct {
	CID   string    `json:"cid"`
	Added time.Time `json:"added"`
	Size  int64     `json:"size"`
}

// BlobStore keeps the bodies too large for gossip in a storage.Store, where
// the coordinator fetches them over bitswap, and deletes them again: after
// TTL, and oldest first while they exceed MaxBytes. It implements Blobs.
//
// It remembers each body's root CID, time and size in an index file that it
// rewrites atomically on every change, so collection carries on across
// restarts. On open it also adopts every file in the store that the index
// does not list (a crash between storing and indexing, an index that was
// missing or corrupt, or bodies stored before this existed) as if it had
// just been added, so those expire one TTL later. A corrupt index is moved
// aside to IndexPath+".corrupt" and rebuilt that way; nothing is deleted
// early because of it.
type BlobStore struct {
	cfg   BlobConfig
	store *storage.Store
	log   *slog.Logger
	now   func() time.Time
	kick  chan struct{}

	// gc is held shared while a body is stored and exclusively while
	// blocks are deleted, so a collection never removes blocks that an
	// add of the same bytes is relying on.
	gc sync.RWMutex

	mu      sync.Mutex // guards the fields below and the index file
	blobs   map[string]blobEntry
	removed int64
	freed   int64
	lastGC  time.Time
}

// NewBlobStore opens the index of store (creating or rebuilding it as
// described on BlobStore). It does not own store; the caller closes it
// after Serve has returned.
func NewBlobStore(ctx context.Context, store *storage.Store, cfg BlobConfig) (*BlobStore, error) {
	return newBlobStore(ctx, store, cfg, time.Now)
}

func newBlobStore(ctx context.Context, store *storage.Store, cfg BlobConfig, now func() time.Time) (*BlobStore, error) {
	if store == nil {
		return nil, errors.New("blob store: no block store")
	}
	if cfg.IndexPath == "" {
		cfg.IndexPath = filepath.Join(store.Dir(), "blobs.json")
	}
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &BlobStore{
		cfg: cfg, store: store, now: now,
		log:   cfg.Logger.With("index", cfg.IndexPath),
		kick:  make(chan struct{}, 1),
		blobs: map[string]blobEntry{},
	}
	dirty, err := b.load()
	if err != nil {
		return nil, err
	}
	loose, err := store.LooseFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("blob store: finding bodies missing from the index: %w", err)
	}
	adopted := 0
	t := now().UTC()
	for _, f := range loose {
		if _, ok := b.blobs[f.Root.String()]; ok {
			continue
		}
		b.blobs[f.Root.String()] = blobEntry{CID: f.Root.String(), Added: t, Size: f.Bytes}
		adopted++
	}
	if adopted > 0 {
		b.log.Info("blob store: indexed bodies the index did not list; they expire one TTL from now", logkey.Count, adopted)
		dirty = true
	}
	if dirty {
		b.mu.Lock()
		err := b.saveLocked()
		b.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// load reads the index file. A missing file starts empty; a corrupt one is
// moved aside and starts empty. It reports whether the file needs writing.
func (b *BlobStore) load() (bool, error) {
	data, err := os.ReadFile(b.cfg.IndexPath)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("blob store: reading index %s: %w", b.cfg.IndexPath, err)
	}
	entries, err := parseBlobIndex(data)
	if err != nil {
		aside := b.cfg.IndexPath + ".corrupt"
		if rerr := os.Rename(b.cfg.IndexPath, aside); rerr != nil {
			return false, fmt.Errorf("blob store: index %s is corrupt (%w) and could not be moved aside: %w", b.cfg.IndexPath, err, rerr)
		}
		b.log.Warn("blob store: index is corrupt; moved it aside and rebuilding it from the block store", "aside", aside, logkey.Err, err)
		return true, nil
	}
	for _, e := range entries {
		b.blobs[e.CID] = e
	}
	return false, nil
}

// parseBlobIndex decodes and checks an index file. Duplicate CIDs merge
// into the newest entry.
func parseBlobIndex(data []byte) ([]blobEntry, error) {
	var f blobIndexFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("decoding blob index: %w", err)
	}
	if f.Version != blobIndexVersion {
		return nil, fmt.Errorf("blob index version %d is not %d", f.Version, blobIndexVersion)
	}
	byCID := make(map[string]blobEntry, len(f.Blobs))
	for i, e := range f.Blobs {
		c, err := cid.Decode(e.CID)
		if err != nil {
			return nil, fmt.Errorf("blob index entry %d: bad cid %q: %w", i, e.CID, err)
		}
		if e.Size < 0 {
			return nil, fmt.Errorf("blob index entry %d (%s): negative size %d", i, e.CID, e.Size)
		}
		if e.Added.IsZero() {
			return nil, fmt.Errorf("blob index entry %d (%s): no time added", i, e.CID)
		}
		e.CID = c.String()
		if old, ok := byCID[e.CID]; !ok || e.Added.After(old.Added) {
			byCID[e.CID] = e
		}
	}
	out := make([]blobEntry, 0, len(byCID))
	for _, e := range byCID {
		out = append(out, e)
	}
	sortEntries(out)
	return out, nil
}

// sortEntries orders entries oldest first, ties by CID.
func sortEntries(es []blobEntry) {
	sort.Slice(es, func(i, j int) bool {
		if !es[i].Added.Equal(es[j].Added) {
			return es[i].Added.Before(es[j].Added)
		}
		return es[i].CID < es[j].CID
	})
}

// saveLocked writes the index atomically: a temporary file, synced, then
// renamed over the old one (renameio), then the directory synced. Caller
// holds mu.
func (b *BlobStore) saveLocked() error {
	f := blobIndexFile{Version: blobIndexVersion, Blobs: make([]blobEntry, 0, len(b.blobs))}
	for _, e := range b.blobs {
		f.Blobs = append(f.Blobs, e)
	}
	sortEntries(f.Blobs)
	data, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return fmt.Errorf("blob store: encoding index: %w", err)
	}
	path := b.cfg.IndexPath
	dir := filepath.Dir(path)
	if err := renameio.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("blob store: replacing index %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blob store: syncing directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("blob store: syncing directory %s: %w", dir, err)
	}
	return nil
}

// AddFile stores r as a UnixFS file in the block store and indexes it.
// Storing bytes already held refreshes their time, since a new capture now
// names them.
func (b *BlobStore) AddFile(ctx context.Context, r io.Reader) (cid.Cid, error) {
	b.gc.RLock()
	defer b.gc.RUnlock()
	cr := &countingReader{r: r}
	root, err := b.store.AddFile(ctx, cr)
	if err != nil {
		return cid.Undef, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	key := root.String()
	prev, had := b.blobs[key]
	b.blobs[key] = blobEntry{CID: key, Added: b.now().UTC(), Size: cr.n}
	if err := b.saveLocked(); err != nil {
		// The bytes are stored but would never be collected if the index
		// kept forgetting them: roll back, so the caller sends the body
		// cut instead and the next open adopts the blocks.
		if had {
			b.blobs[key] = prev
		} else {
			delete(b.blobs, key)
		}
		return cid.Undef, err
	}
	if b.totalLocked() > b.cfg.MaxBytes {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	return root, nil
}

func (b *BlobStore) totalLocked() int64 {
	var n int64
	for _, e := range b.blobs {
		n += e.Size
	}
	return n
}

// GC deletes the bodies older than TTL and then, oldest first, those
// beyond MaxBytes. Blocks another kept body (or a dataset in the same
// store) shares are kept. It is safe to call at any time, also while Serve
// runs.
func (b *BlobStore) GC(ctx context.Context) (GCResult, error) {
	b.gc.Lock()
	defer b.gc.Unlock()
	b.mu.Lock()
	now := b.now().UTC()
	entries := make([]blobEntry, 0, len(b.blobs))
	for k, e := range b.blobs {
		if e.Added.After(now) {
			// The clock went back: count from now rather than keep the
			// body until the clock catches up.
			e.Added = now
			b.blobs[k] = e
		}
		entries = append(entries, e)
	}
	b.mu.Unlock()
	sortEntries(entries)

	var res GCResult
	var doomed, keep []cid.Cid
	var doomedKeys []string
	var total int64
	for _, e := range entries {
		total += e.Size
	}
	for _, e := range entries {
		expired := now.Sub(e.Added) >= b.cfg.TTL
		over := total > b.cfg.MaxBytes
		c, err := cid.Decode(e.CID)
		if err != nil {
			return res, fmt.Errorf("blob store: index holds a bad cid %q: %w", e.CID, err)
		}
		if !expired && !over {
			keep = append(keep, c)
			continue
		}
		if expired {
			res.Expired++
		} else {
			res.Evicted++
		}
		total -= e.Size
		doomed = append(doomed, c)
		doomedKeys = append(doomedKeys, e.CID)
	}
	if len(doomed) == 0 {
		b.mu.Lock()
		b.lastGC = b.now().UTC()
		b.mu.Unlock()
		return res, nil
	}
	freed, err := b.store.RemoveFiles(ctx, doomed, keep)
	res.Freed = freed
	b.mu.Lock()
	defer b.mu.Unlock()
	b.freed += freed
	if err != nil {
		// Keep the entries: the next collection retries, and blocks already
		// deleted are skipped then.
		return res, fmt.Errorf("blob store: deleting %d bodies: %w", len(doomed), err)
	}
	for _, k := range doomedKeys {
		delete(b.blobs, k)
	}
	b.removed += int64(len(doomedKeys))
	b.lastGC = b.now().UTC()
	if err := b.saveLocked(); err != nil {
		return res, err
	}
	for _, k := range doomedKeys {
		b.log.Debug("blob store: deleted body", logkey.CID, k)
	}
	return res, nil
}

// Serve collects once at start, then every Interval and whenever a body
// takes the store over its cap, until ctx ends. It returns nil then.
// Failed collections are logged and retried at the next tick.
func (b *BlobStore) Serve(ctx context.Context) error {
	t := time.NewTicker(b.cfg.Interval)
	defer t.Stop()
	for {
		res, err := b.GC(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			b.log.Warn("blob store: collecting old bodies failed; retrying later", logkey.Err, err)
		case res.Expired+res.Evicted > 0:
			b.log.Info("blob store: collected old bodies", "expired", res.Expired, "evicted", res.Evicted, "freed_bytes", res.Freed)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-b.kick:
		}
	}
}

// Stats reports the bodies kept and collected, for the dashboard.
func (b *BlobStore) Stats() BlobStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := BlobStats{Count: len(b.blobs), Removed: b.removed, Freed: b.freed, LastGC: b.lastGC}
	for _, e := range b.blobs {
		s.Bytes += e.Size
		if s.Oldest.IsZero() || e.Added.Before(s.Oldest) {
			s.Oldest = e.Added
		}
	}
	return s
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
