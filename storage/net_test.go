package storage

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

func newHost(t testing.TB) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.NoTransports, libp2p.DefaultTransports)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// publishedStore makes a store with one published version of n docs.
func publishedStore(t *testing.T, n int, opts DatasetOptions) (*Store, cid.Cid) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	root, _ := publishDocs(t, s, "web", opts, testDocs("p", n))
	return s, root
}

func serveStore(t testing.TB, s *Store) peer.AddrInfo {
	t.Helper()
	h := newHost(t)
	srv, err := Serve(context.Background(), h, s, ServeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
}

func TestPullVerifyAndCorruption(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, root := publishedStore(t, 300, DatasetOptions{RowGroupBytes: 16 << 10, ShardBytes: 32 << 10})
	from := serveStore(t, s)

	out := filepath.Join(t.TempDir(), "ds")
	var last int64
	m, err := Pull(ctx, newHost(t), []peer.AddrInfo{from}, root, out, func(done, total int64) { last = done })
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != 300 || last == 0 {
		t.Fatalf("pulled manifest rows=%d, last progress=%d", m.Rows, last)
	}
	if err := VerifyDir(ctx, out, root); err != nil {
		t.Fatalf("VerifyDir of a fresh pull: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, pullStateDir)); !os.IsNotExist(err) {
		t.Fatalf("pull state left behind: %v", err)
	}

	// Flip a byte in a shard: verify must name the shard.
	shard := filepath.Join(out, filepath.FromSlash(m.Shards[0].Path))
	data, err := os.ReadFile(shard)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(shard, data, 0o644); err != nil {
		t.Fatal(err)
	}
	err = VerifyDir(ctx, out, root)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != m.Shards[0].Path || !errors.Is(err, ErrMismatch) {
		t.Fatalf("VerifyDir after corruption = %v, want CorruptError for %s", err, m.Shards[0].Path)
	}
}

func TestPullUnknownCIDFailsFast(t *testing.T) {
	ctx := context.Background()
	s, _ := publishedStore(t, 5, DatasetOptions{})
	from := serveStore(t, s)
	unknown := rawCIDOf([]byte("not a dataset anyone has"))
	_, err := PullWithOptions(ctx, newHost(t), unknown, t.TempDir(), PullOptions{Peers: []peer.AddrInfo{from}, StallTimeout: 500 * time.Millisecond})
	if !errors.Is(err, ErrNoProviders) {
		t.Fatalf("pull of unknown CID err = %v, want ErrNoProviders", err)
	}
	_, err = Pull(ctx, newHost(t), nil, unknown, t.TempDir(), nil)
	if !errors.Is(err, ErrNoProviders) {
		t.Fatalf("pull with no peers err = %v, want ErrNoProviders", err)
	}
	if want := "no providers for " + unknown.String() + ": pass --from <multiaddr> or enable the DHT"; err.Error() != want {
		t.Fatalf("pull with no peers err = %q, want %q", err, want)
	}
}

// TestPullMultiBlockShard pulls shards of several 1 MiB blocks (the common
// case for real datasets; the other tests use one-block shards).
func TestPullMultiBlockShard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	docs := testDocs("big", 3)
	rnd := rand.New(rand.NewPCG(3, 4))
	text := make([]byte, 3<<20)
	for i := range text {
		text[i] = byte('a' + rnd.IntN(26))
	}
	docs[0].Text = string(text)
	root, m := publishDocs(t, s, "big", DatasetOptions{}, docs)
	if m.Shards[0].Bytes <= ChunkSize {
		t.Fatalf("shard is %d bytes; want several blocks", m.Shards[0].Bytes)
	}
	out := filepath.Join(t.TempDir(), "out")
	start := time.Now()
	if _, err := PullWithOptions(ctx, newHost(t), root, out, PullOptions{Peers: []peer.AddrInfo{serveStore(t, s)}, StallTimeout: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	t.Logf("pulled %d bytes in %s", m.Shards[0].Bytes, time.Since(start))
	if err := VerifyDir(ctx, out, root); err != nil {
		t.Fatal(err)
	}
}
