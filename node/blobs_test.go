package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/storage"
)

// Blobs must keep fitting the service's interface.
var _ Blobs = (*BlobStore)(nil)

// blobClock is a clock tests move by hand.
type blobClock struct {
	mu sync.Mutex
	t  time.Time
}

func newBlobClock() *blobClock {
	return &blobClock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
}

func (c *blobClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *blobClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// blobEnv is a block store in a directory that can be closed and reopened.
type blobEnv struct {
	t     *testing.T
	dir   string
	clock *blobClock
	cfg   BlobConfig
	store *storage.Store
	blobs *BlobStore
}

func newBlobEnv(t *testing.T, cfg BlobConfig) *blobEnv {
	t.Helper()
	e := &blobEnv{t: t, dir: t.TempDir(), clock: newBlobClock(), cfg: cfg}
	e.open()
	t.Cleanup(func() {
		if e.store != nil {
			e.store.Close()
		}
	})
	return e
}

func (e *blobEnv) open() {
	e.t.Helper()
	if err := e.tryOpen(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *blobEnv) tryOpen() error {
	s, err := storage.Open(context.Background(), e.dir)
	if err != nil {
		return err
	}
	e.store = s
	e.blobs, err = newBlobStore(context.Background(), s, e.cfg, e.clock.Now)
	return err
}

// indexPath is where the default config keeps the index.
func (e *blobEnv) indexPath() string { return filepath.Join(e.dir, "blobs.json") }

func (e *blobEnv) close() {
	e.t.Helper()
	if err := e.store.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.store, e.blobs = nil, nil
}

func (e *blobEnv) add(data []byte) cid.Cid {
	e.t.Helper()
	c, err := e.blobs.AddFile(context.Background(), bytes.NewReader(data))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *blobEnv) gc() GCResult {
	e.t.Helper()
	res, err := e.blobs.GC(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// blocks lists root and its links (bodies up to 174 MiB are one level).
func (e *blobEnv) blocks(root cid.Cid) []cid.Cid {
	e.t.Helper()
	nd, err := e.store.DAGService().Get(context.Background(), root)
	if err != nil {
		e.t.Fatal(err)
	}
	out := []cid.Cid{root}
	for _, l := range nd.Links() {
		out = append(out, l.Cid)
	}
	return out
}

// present asserts whether every block in cs is in the store.
func (e *blobEnv) present(cs []cid.Cid, want bool) {
	e.t.Helper()
	for _, c := range cs {
		got, err := e.store.Has(context.Background(), c)
		if err != nil {
			e.t.Fatal(err)
		}
		if got != want {
			e.t.Errorf("Has(%s) = %v, want %v", c, got, want)
		}
	}
}

func (e *blobEnv) read(root cid.Cid) []byte {
	e.t.Helper()
	r, err := e.store.OpenFile(context.Background(), root, "")
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// body returns n deterministic pseudo-random bytes.
func body(seed uint64, n int) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b) // never fails
	return b
}

const mib = 1 << 20

func TestBlobStoreExpiresAfterTTL(t *testing.T) {
	e := newBlobEnv(t, BlobConfig{})
	a, b := body(1, 2*mib+mib/2), body(2, mib+7)
	ra := e.add(a)
	e.clock.Advance(30 * time.Minute)
	rb := e.add(b)
	blocksA, blocksB := e.blocks(ra), e.blocks(rb)

	e.clock.Advance(29 * time.Minute)
	if res := e.gc(); res.Expired+res.Evicted != 0 {
		t.Fatalf("GC before the TTL removed %+v", res)
	}
	e.present(blocksA, true)

	e.clock.Advance(2 * time.Minute) // A is 61 min old, B 31
	res := e.gc()
	if res.Expired != 1 || res.Evicted != 0 {
		t.Fatalf("GC = %+v, want one expired", res)
	}
	if res.Freed < int64(len(a)) {
		t.Errorf("freed %d bytes, want at least the body's %d", res.Freed, len(a))
	}
	e.present(blocksA, false)
	e.present(blocksB, true)
	st := e.blobs.Stats()
	if st.Count != 1 || st.Bytes != int64(len(b)) || st.Removed != 1 || st.Freed != res.Freed {
		t.Errorf("Stats = %+v, want 1 body of %d bytes, 1 removed, %d freed", st, len(b), res.Freed)
	}
	if !st.Oldest.Equal(e.clock.Now().Add(-31 * time.Minute)) {
		t.Errorf("Oldest = %s, want B's time", st.Oldest)
	}
}

func TestBlobStoreCapEvictsOldestFirst(t *testing.T) {
	e := newBlobEnv(t, BlobConfig{MaxBytes: 10 * mib})
	var roots []cid.Cid
	for i := range 3 {
		roots = append(roots, e.add(body(uint64(10+i), 4*mib)))
		e.clock.Advance(time.Second)
	}
	res := e.gc()
	if res.Evicted != 1 || res.Expired != 0 {
		t.Fatalf("GC = %+v, want one evicted", res)
	}
	present := func(c cid.Cid) bool {
		ok, err := e.store.Has(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if present(roots[0]) || !present(roots[1]) || !present(roots[2]) {
		t.Errorf("after eviction have = %v %v %v, want the oldest gone only",
			present(roots[0]), present(roots[1]), present(roots[2]))
	}
	if st := e.blobs.Stats(); st.Count != 2 || st.Bytes != 8*mib {
		t.Errorf("Stats = %+v, want 2 bodies of 8 MiB", st)
	}
}

func TestBlobStoreServeCollectsWhenOverCap(t *testing.T) {
	e := newBlobEnv(t, BlobConfig{MaxBytes: 10 * mib, Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.blobs.Serve(ctx) }()
	first := e.add(body(20, 6*mib))
	e.clock.Advance(time.Second)
	e.add(body(21, 6*mib)) // over the cap: Serve must not wait an hour
	testutil.Eventually(t, 10*time.Second, "the over-cap collection", func() bool { return e.blobs.Stats().Removed > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
	if st := e.blobs.Stats(); st.Removed != 1 || st.Count != 1 || st.LastGC.IsZero() {
		t.Fatalf("Stats = %+v, want the older body evicted by the over-cap collection", st)
	}
	e.present([]cid.Cid{first}, false)
}

func TestBlobStoreKeepsSharedBlocks(t *testing.T) {
	e := newBlobEnv(t, BlobConfig{})
	shared := body(30, mib)
	a := append(append([]byte{}, shared...), body(31, mib/2)...)
	b := append(append([]byte{}, shared...), body(32, mib/3)...)
	same := body(33, mib+mib/4)

	ra := e.add(a)
	rs := e.add(same)
	e.clock.Advance(40 * time.Minute)
	rb := e.add(b)
	if again := e.add(same); !again.Equals(rs) { // a new capture of the same bytes
		t.Fatalf("same bytes stored as %s and %s", rs, again)
	}
	if st := e.blobs.Stats(); st.Count != 3 {
		t.Fatalf("Count = %d, want 3 (identical bodies are one)", st.Count)
	}
	blocksA, blocksB := e.blocks(ra), e.blocks(rb)
	if !blocksA[1].Equals(blocksB[1]) {
		t.Fatal("bodies with the same first MiB should share a leaf")
	}

	e.clock.Advance(21 * time.Minute) // A 61 min old; B and the re-added body 21
	if res := e.gc(); res.Expired != 1 {
		t.Fatalf("GC = %+v, want only A expired", res)
	}
	e.present([]cid.Cid{blocksA[0], blocksA[2]}, false)
	e.present(blocksB, true)
	e.present(e.blocks(rs), true)
	if got := e.read(rb); !bytes.Equal(got, b) {
		t.Error("the body sharing a leaf with a removed one no longer reads back")
	}

	e.clock.Advance(40 * time.Minute)
	if res := e.gc(); res.Expired != 2 {
		t.Fatalf("GC = %+v, want B and the re-added body expired", res)
	}
	e.present(blocksB, false)
	if st := e.blobs.Stats(); st.Count != 0 || st.Bytes != 0 {
		t.Errorf("Stats = %+v, want empty", st)
	}
}

func TestBlobStoreIndexSurvivesReopen(t *testing.T) {
	e := newBlobEnv(t, BlobConfig{})
	a, b := body(40, 2*mib), body(41, 3*mib)
	ra := e.add(a)
	e.clock.Advance(45 * time.Minute)
	rb := e.add(b)
	blocksA := e.blocks(ra)
	e.close()

	e.clock.Advance(5 * time.Minute)
	e.open()
	st := e.blobs.Stats()
	if st.Count != 2 || st.Bytes != int64(len(a)+len(b)) {
		t.Fatalf("after reopen Stats = %+v, want both bodies", st)
	}
	if !st.Oldest.Equal(e.clock.Now().Add(-50 * time.Minute)) {
		t.Errorf("after reopen Oldest = %s, want A's original time", st.Oldest)
	}

	// A keeps its original age: it expires 60 min after it was added, not
	// after the restart.
	e.clock.Advance(11 * time.Minute)
	if res := e.gc(); res.Expired != 1 {
		t.Fatalf("GC after restart = %+v, want A expired", res)
	}
	e.present(blocksA, false)
	e.present(e.blocks(rb), true)
	e.close()
	e.open()
	if st := e.blobs.Stats(); st.Count != 1 {
		t.Errorf("after a second reopen Count = %d, want 1 (the collection was saved)", st.Count)
	}
}

func TestBlobStoreRebuildsIndex(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
		aside  bool
	}{
		{"missing", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"not json", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(`{"version":1,"blobs":[{"cid":`), 0o644); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"unknown version", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(`{"version":99,"blobs":[]}`), 0o644); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"bad cid", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(`{"version":1,"blobs":[{"cid":"nope","added":"2026-05-01T10:00:00Z","size":1}]}`), 0o644); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newBlobEnv(t, BlobConfig{})
			ra := e.add(body(50, 2*mib))
			// Stored by something that never indexed it, as before the
			// blob store existed or after a crash before the index write.
			orphan, err := e.store.AddFile(context.Background(), bytes.NewReader(body(51, mib+1)))
			if err != nil {
				t.Fatal(err)
			}
			e.close()
			tc.damage(t, e.indexPath())

			e.clock.Advance(50 * time.Minute)
			e.open()
			st := e.blobs.Stats()
			if st.Count != 2 {
				t.Fatalf("rebuilt index has %d bodies, want 2", st.Count)
			}
			if !st.Oldest.Equal(e.clock.Now()) {
				t.Errorf("rebuilt Oldest = %s, want the reopen time %s", st.Oldest, e.clock.Now())
			}
			_, err = os.Stat(e.indexPath() + ".corrupt")
			if tc.aside != (err == nil) {
				t.Errorf("corrupt index moved aside = %v, want %v", err == nil, tc.aside)
			}

			// Nothing goes early: the rebuilt bodies count from the reopen.
			e.clock.Advance(59 * time.Minute)
			if res := e.gc(); res.Expired != 0 {
				t.Fatalf("GC before the rebuilt TTL = %+v", res)
			}
			e.clock.Advance(2 * time.Minute)
			if res := e.gc(); res.Expired != 2 {
				t.Fatalf("GC after the rebuilt TTL = %+v, want both expired", res)
			}
			e.present([]cid.Cid{ra, orphan}, false)
		})
	}
}

func TestBlobStoreUnreadableIndex(t *testing.T) {
	e := newBlobEnv(t, BlobConfig{})
	e.close()
	// A directory where the index should be cannot be read or moved
	// aside safely: opening fails with a clear error instead.
	if err := os.Remove(e.indexPath()); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(e.indexPath(), 0o755); err != nil {
		t.Fatal(err)
	}
	err := e.tryOpen()
	if err == nil || !strings.Contains(err.Error(), "reading index") {
		t.Fatalf("open with an unreadable index = %v, want a reading-index error", err)
	}
}

func TestBlobConfigDefault(t *testing.T) {
	var cfg BlobConfig
	cfg.Default()
	if cfg.TTL != time.Hour || cfg.MaxBytes != 512*mib || cfg.Interval != time.Minute || cfg.Logger != slog.Default() {
		t.Errorf("defaults = %+v", cfg)
	}
	if cfg.IndexPath != "" {
		t.Errorf("index path %q without a store", cfg.IndexPath)
	}
	dir := t.TempDir()
	own := BlobConfig{TTL: 2 * time.Hour, MaxBytes: 64 * mib, Interval: time.Second, IndexPath: filepath.Join(dir, "other.json"), Logger: slog.New(slog.DiscardHandler)}
	kept := own
	kept.Default()
	if kept != own {
		t.Errorf("Default replaced set fields: %+v, want %+v", kept, own)
	}
}

func TestBlobConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  BlobConfig
		want string
	}{
		{"defaults", BlobConfig{IndexPath: filepath.Join("store", "blobs.json")}, ""},
		{"own index path", BlobConfig{IndexPath: "blobs.json"}, ""},
		{"short ttl", BlobConfig{IndexPath: "blobs.json", TTL: 10 * time.Second}, "TTL"},
		{"tiny cap", BlobConfig{IndexPath: "blobs.json", MaxBytes: 1 << 20}, "size cap"},
		{"negative interval", BlobConfig{IndexPath: "blobs.json", Interval: -time.Second}, "interval"},
		{"no index path", BlobConfig{}, "index path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Default()
			err := cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "blob store") {
				t.Fatalf("Validate = %v, want a blob store error about %s", err, tc.want)
			}
		})
	}
	if err := (BlobConfig{IndexPath: "blobs.json"}).Validate(); err == nil {
		t.Error("a BlobConfig without Default validated")
	}
}

// TestNewBlobStoreDir: NewBlobStore keeps the index in the store's
// directory unless the config names another, and refuses a bad config.
func TestNewBlobStoreDir(t *testing.T) {
	ctx := context.Background()
	s, err := storage.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := NewBlobStore(ctx, s, BlobConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(s.Dir(), "blobs.json"); b.cfg.IndexPath != want {
		t.Errorf("index path %q, want %q", b.cfg.IndexPath, want)
	}
	other := t.TempDir()
	b, err = NewBlobStore(ctx, s, BlobConfig{IndexPath: filepath.Join(other, "blobs.json")})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(other, "blobs.json"); b.cfg.IndexPath != want {
		t.Errorf("index path %q, want %q", b.cfg.IndexPath, want)
	}
	if _, err := NewBlobStore(ctx, s, BlobConfig{TTL: time.Second}); err == nil || !strings.Contains(err.Error(), "TTL") {
		t.Errorf("NewBlobStore with a short TTL = %v, want the TTL error", err)
	}
}

func TestParseBlobIndexMergesDuplicates(t *testing.T) {
	const c = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	data := []byte(`{"version":1,"blobs":[
		{"cid":"` + c + `","added":"2026-05-01T10:00:00Z","size":5},
		{"cid":"` + c + `","added":"2026-05-01T11:00:00Z","size":5}]}`)
	es, err := parseBlobIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Added.Hour() != 11 {
		t.Fatalf("entries = %+v, want one, the newer", es)
	}
}

func FuzzParseBlobIndex(f *testing.F) {
	f.Add([]byte(`{"version":1,"blobs":[]}`))
	f.Add([]byte(`{"version":1,"blobs":[{"cid":"bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy","added":"2026-05-01T10:00:00Z","size":5}]}`))
	f.Add([]byte(`{"version":1,"blobs":[{"cid":"x","size":-1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := parseBlobIndex(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for i, e := range es {
			if _, err := cid.Decode(e.CID); err != nil {
				t.Fatalf("accepted bad cid %q", e.CID)
			}
			if seen[e.CID] {
				t.Fatalf("duplicate cid %s", e.CID)
			}
			seen[e.CID] = true
			if e.Size < 0 || e.Added.IsZero() {
				t.Fatalf("accepted entry %+v", e)
			}
			if i > 0 && es[i-1].Added.After(e.Added) {
				t.Fatal("entries not oldest first")
			}
		}
	})
}
