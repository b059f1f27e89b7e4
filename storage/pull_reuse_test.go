package storage

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/bitswap/server"
	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/swardnet/sward/schemas"
)

// sentLog records the blocks a bitswap server read to send.
type sentLog struct {
	mu   sync.Mutex
	sent map[cid.Cid]int
}

func (l *sentLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent = map[cid.Cid]int{}
}

func (l *sentLog) snapshot() map[cid.Cid]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[cid.Cid]int, len(l.sent))
	for c, n := range l.sent {
		out[c] = n
	}
	return out
}

// recordingBlockstore logs every block the server gets (it gets a block
// only to send it).
type recordingBlockstore struct {
	blockstore.Blockstore
	log *sentLog
}

func (r *recordingBlockstore) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	b, err := r.Blockstore.Get(ctx, c)
	if err == nil {
		r.log.mu.Lock()
		r.log.sent[c] = len(b.RawData())
		r.log.mu.Unlock()
	}
	return b, err
}

// serveRecording serves s over a bitswap server that logs what it sends.
func serveRecording(t *testing.T, s *Store) (peer.AddrInfo, *sentLog) {
	t.Helper()
	log := &sentLog{}
	log.reset()
	h := newHost(t)
	n := bsnet.NewFromIpfsHost(h)
	srv := server.New(context.Background(), n, &recordingBlockstore{Blockstore: s.Blockstore(), log: log})
	n.Start(srv)
	t.Cleanup(func() {
		n.Stop()
		srv.Close()
	})
	return addrInfo(h), log
}

// blocksUnder lists every block of the DAG under c in s.
func blocksUnder(t *testing.T, s *Store, c cid.Cid) []cid.Cid {
	t.Helper()
	nd, err := s.DAGService().Get(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	out := []cid.Cid{c}
	for _, l := range nd.Links() {
		out = append(out, blocksUnder(t, s, l.Cid)...)
	}
	return out
}

func shardCID(t *testing.T, sh schemas.Shard) cid.Cid {
	t.Helper()
	c, err := cid.Decode(sh.CID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPullReusesLocalFiles pulls a second version into a directory that
// already holds shards of the first and checks, on the publisher's side,
// that only the blocks the directory lacks travel.
func TestPullReusesLocalFiles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := DatasetOptions{RowGroupBytes: 16 << 10, ShardBytes: 32 << 10}
	s, v1 := publishedStore(t, 150, opts)
	m1, err := s.Manifest(ctx, v1)
	if err != nil {
		t.Fatal(err)
	}
	v2, m2 := publishDocs(t, s, "web", opts, testDocs("v2", 40))
	from, sent := serveRecording(t, s)
	pull := func(root cid.Cid, dir string) *PullResult {
		t.Helper()
		res, err := PullVersion(ctx, newHost(t), root, dir, PullOptions{Peers: []peer.AddrInfo{from}, StallTimeout: 20 * time.Second})
		if err != nil {
			t.Fatalf("pull %s into %s: %v", root, dir, err)
		}
		if err := VerifyDir(ctx, dir, root); err != nil {
			t.Fatalf("after pulling %s: %v", root, err)
		}
		return res
	}
	old := allShards(m1)
	if len(old) < 2 {
		t.Fatalf("the first version has %d shards; the test needs several", len(old))
	}

	tests := []struct {
		name string
		// prepare fills dir before v2 is pulled and returns the shards of
		// v1 it expects to be reused.
		prepare func(t *testing.T, dir string) []schemas.Shard
		// gone are paths below dir that must not survive the pull.
		gone []string
	}{
		{
			name: "previous version in the directory",
			prepare: func(t *testing.T, dir string) []schemas.Shard {
				if res := pull(v1, dir); res.Reused != 0 {
					t.Fatalf("first pull reused %d bytes of an empty directory", res.Reused)
				}
				return old
			},
		},
		{
			name: "a corrupt shard is fetched again",
			prepare: func(t *testing.T, dir string) []schemas.Shard {
				pull(v1, dir)
				p := filepath.Join(dir, filepath.FromSlash(old[0].Path))
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				data[len(data)/2] ^= 0xff
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
				return old[1:]
			},
		},
		{
			name: "copies under other names",
			prepare: func(t *testing.T, dir string) []schemas.Shard {
				if err := os.MkdirAll(filepath.Join(dir, "mirror"), 0o755); err != nil {
					t.Fatal(err)
				}
				for i, sh := range old {
					r, err := s.OpenFile(ctx, v1, sh.Path)
					if err != nil {
						t.Fatal(err)
					}
					data, err := io.ReadAll(r)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(dir, "mirror", string(rune('a'+i))+".bin"), data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return old
			},
			gone: []string{"mirror"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "web")
			reusedShards := tt.prepare(t, dir)
			sent.reset()
			res := pull(v2, dir)

			var wantReused int64
			reusedRoots := map[cid.Cid]bool{}
			for _, sh := range reusedShards {
				wantReused += sh.Bytes
				reusedRoots[shardCID(t, sh)] = true
			}
			if res.Reused != wantReused || res.ReusedFiles != len(reusedShards) {
				t.Errorf("reused %d bytes in %d files, want %d in %d", res.Reused, res.ReusedFiles, wantReused, len(reusedShards))
			}
			// Blocks that may travel: the version's directories and small
			// files, and every block of a shard not reused.
			allowed := map[cid.Cid]bool{}
			keys, err := versionKeys(ctx, s.DAGService(), v2)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if !reusedRoots[k] {
					allowed[k] = true
				}
			}
			var needed []cid.Cid
			for _, sh := range allShards(m2) {
				if c := shardCID(t, sh); !reusedRoots[c] {
					needed = append(needed, blocksUnder(t, s, c)...)
				}
			}
			for _, c := range needed {
				allowed[c] = true
			}
			got := sent.snapshot()
			var rawSent int64
			for c, n := range got {
				if !allowed[c] {
					t.Errorf("block %s travelled though the directory held it", c)
				}
				if c.Prefix().Codec == cid.Raw {
					rawSent += int64(n)
				}
			}
			for _, c := range needed {
				if _, ok := got[c]; !ok {
					t.Errorf("block %s of a missing shard was not fetched from the publisher", c)
				}
			}
			if res.Fetched != rawSent {
				t.Errorf("pull counted %d fetched bytes; the publisher sent %d bytes of raw blocks", res.Fetched, rawSent)
			}
			if res.Fetched+res.Reused < res.Total {
				t.Errorf("fetched %d + reused %d < total %d", res.Fetched, res.Reused, res.Total)
			}
			for _, p := range tt.gone {
				if _, err := os.Stat(filepath.Join(dir, p)); !os.IsNotExist(err) {
					t.Errorf("%s survived the pull (err %v)", p, err)
				}
			}
			t.Logf("total %d, fetched %d, reused %d in %d files, %d blocks sent", res.Total, res.Fetched, res.Reused, res.ReusedFiles, len(got))
		})
	}
}
