package storage

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	pebbleds "github.com/ipfs/go-ds-pebble"
	"github.com/libp2p/go-libp2p/core/peer"
)

// corruptBlock overwrites block c in bs with garbage under the same key.
func corruptBlock(t *testing.T, bs blockstore.Blockstore, c cid.Cid) {
	t.Helper()
	ctx := context.Background()
	if err := bs.DeleteBlock(ctx, c); err != nil {
		t.Fatal(err)
	}
	bad, err := blocks.NewBlockWithCid([]byte("definitely not the original bytes"), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.Put(ctx, bad); err != nil {
		t.Fatal(err)
	}
}

// firstLeaf returns the first raw leaf of a shard.
func firstLeaf(t *testing.T, s *Store, shard string) cid.Cid {
	t.Helper()
	nd, err := s.dag.Get(context.Background(), cid.MustParse(shard))
	if err != nil {
		t.Fatal(err)
	}
	if nd.Cid().Prefix().Codec == cid.Raw {
		return nd.Cid()
	}
	return nd.Links()[0].Cid
}

func TestCARRoundTripAndCorruptPeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, root := publishedStore(t, 400, DatasetOptions{RowGroupBytes: 64 << 10, ShardBytes: 80 << 10})
	var car bytes.Buffer
	if err := a.ExportCAR(ctx, root, &car); err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	roots, err := b.ImportCAR(ctx, bytes.NewReader(car.Bytes()))
	if err != nil || len(roots) != 1 || !roots[0].Equals(root) {
		t.Fatalf("ImportCAR = %v, %v", roots, err)
	}
	if head, err := b.Head(ctx, "web"); err != nil || !head.Equals(root) {
		t.Fatalf("imported head = %s, %v; want %s", head, err, root)
	}
	// A CAR with a flipped byte in a block is refused.
	bad := bytes.Clone(car.Bytes())
	bad[len(bad)-10] ^= 1
	if _, err := b.ImportCAR(ctx, bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("importing a corrupted CAR: err = %v", err)
	}

	// Peer A has a corrupt block on disk; the pull must get it from B.
	m, err := a.Manifest(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	leaf := firstLeaf(t, a, m.Shards[0].CID)
	corruptBlock(t, a.Blockstore(), leaf)
	out := filepath.Join(t.TempDir(), "out")
	peers := []peer.AddrInfo{serveStore(t, a), serveStore(t, b)}
	if _, err := PullWithOptions(ctx, newHost(t), root, out, PullOptions{Peers: peers, StallTimeout: 20 * time.Second}); err != nil {
		t.Fatalf("pull with one corrupt peer: %v", err)
	}
	if err := VerifyDir(ctx, out, root); err != nil {
		t.Fatal(err)
	}
}

func TestPullResumeDropsCorruptLocalBlock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, root := publishedStore(t, 300, DatasetOptions{RowGroupBytes: 64 << 10, ShardBytes: 80 << 10})
	m, err := s.Manifest(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	// Leave state as an interrupted pull would: some blocks, one corrupt.
	out := filepath.Join(t.TempDir(), "out")
	pds, err := pebbleds.NewDatastore(filepath.Join(out, pullStateDir, "blocks"))
	if err != nil {
		t.Fatal(err)
	}
	local := blockstore.NewBlockstore(pds)
	good := firstLeaf(t, s, m.Shards[len(m.Shards)-1].CID)
	blk, err := s.Blockstore().Get(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	if err := local.Put(ctx, blk); err != nil {
		t.Fatal(err)
	}
	corruptBlock(t, local, firstLeaf(t, s, m.Shards[0].CID))
	if err := pds.Close(); err != nil {
		t.Fatal(err)
	}
	var first int64 = -1
	_, err = Pull(ctx, newHost(t), []peer.AddrInfo{serveStore(t, s)}, root, out, func(done, _ int64) {
		if first < 0 {
			first = done
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if first < int64(len(blk.RawData())) {
		t.Errorf("progress started at %d; the resumed block of %d bytes was not counted", first, len(blk.RawData()))
	}
	if err := VerifyDir(ctx, out, root); err != nil {
		t.Fatal(err)
	}
}

func TestDiffVersions(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := s.OpenDataset(ctx, "d", DatasetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ctx, testDocs("a", 10)...); err != nil {
		t.Fatal(err)
	}
	v1, _, err := w.Publish(ctx, VersionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ctx, testDocs("b", 6)...); err != nil {
		t.Fatal(err)
	}
	v2, _, err := w.Publish(ctx, VersionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.DiffVersions(ctx, v1, v2)
	if err != nil {
		t.Fatal(err)
	}
	data := d.Tables["data"]
	if !d.Ancestor || d.RowsDelta != 6 || data.Shared != 1 || len(data.Added) != 1 || len(data.Removed) != 0 {
		t.Fatalf("diff = %+v, data = %+v", d, data)
	}
	if d.Languages["en"] != 2 || d.Languages["fr"] != 2 || d.Languages["de"] != 2 {
		t.Fatalf("language delta = %v", d.Languages)
	}
	var text bytes.Buffer
	d.WriteText(&text)
	if !strings.Contains(text.String(), "rows: +6") {
		t.Fatalf("diff text lacks the row delta:\n%s", text.String())
	}
}
