package node

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p"

	"github.com/swardnet/sward/storage"
)

// TestLargeBodies: a body stored through LargeBodies is served to another
// host over bitswap, Close stops everything (twice is harmless), and the
// store and its index reopen with the body still kept.
func TestLargeBodies(t *testing.T) {
	ctx := context.Background()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	dir := filepath.Join(t.TempDir(), "store")
	lb, err := OpenLargeBodies(ctx, h, dir, BlobConfig{})
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("a large page "), 120_000)
	root, err := lb.Blobs.AddFile(ctx, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}

	// Another host fetches it over bitswap, as the coordinator does.
	other, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Connect(ctx, h.Peerstore().PeerInfo(h.ID())); err != nil {
		t.Fatal(err)
	}
	otherStore, err := storage.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer otherStore.Close()
	fetcher, err := storage.Serve(ctx, other, otherStore, storage.ServeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer fetcher.Close()
	got, err := fetcher.FetchFile(ctx, root, int64(len(body)))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("fetched %d bytes (%v), want the %d stored", len(got), err, len(body))
	}

	if err := lb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := lb.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	lb, err = OpenLargeBodies(ctx, h, dir, BlobConfig{})
	if err != nil {
		t.Fatalf("reopening after Close: %v", err)
	}
	defer lb.Close()
	if st := lb.Blobs.Stats(); st.Count != 1 || st.Bytes != int64(len(body)) {
		t.Errorf("after reopening: %+v, want the one body kept", st)
	}
}
