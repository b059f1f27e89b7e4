package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/go-cid"
)

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b) // never fails
	return b
}

// fileBlocks lists root and the blocks it links to (AddFile's files of up
// to 174 chunks are one level deep).
func fileBlocks(t *testing.T, s *Store, root cid.Cid) []cid.Cid {
	t.Helper()
	if root.Type() == cid.Raw {
		return []cid.Cid{root}
	}
	nd, err := s.DAGService().Get(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	out := []cid.Cid{root}
	for _, l := range nd.Links() {
		out = append(out, l.Cid)
	}
	return out
}

func blockBytes(t *testing.T, s *Store, cs []cid.Cid) int64 {
	t.Helper()
	var n int64
	for _, c := range cs {
		sz, err := s.Blockstore().GetSize(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		n += int64(sz)
	}
	return n
}

func addBytes(t *testing.T, s *Store, data []byte) cid.Cid {
	t.Helper()
	c, err := s.AddFile(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readFile reads the file at path below root ("" for root itself).
func readFile(t *testing.T, s *Store, root cid.Cid, path string) []byte {
	t.Helper()
	r, err := s.OpenFile(context.Background(), root, path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func assertHas(t *testing.T, s *Store, c cid.Cid, want bool) {
	t.Helper()
	got, err := s.Has(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Has(%s) = %v, want %v", c, got, want)
	}
}

func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRemoveFileDeletesItsBlocks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		blocks int
	}{
		{"three chunks", 2*ChunkSize + ChunkSize/2, 4},
		{"one raw block", ChunkSize / 2, 1},
		{"exactly two chunks", 2 * ChunkSize, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTestStore(t)
			root := addBytes(t, s, randomBytes(uint64(tc.size), tc.size))
			blocks := fileBlocks(t, s, root)
			if len(blocks) != tc.blocks {
				t.Fatalf("file has %d blocks, want %d", len(blocks), tc.blocks)
			}
			want := blockBytes(t, s, blocks)
			freed, err := s.RemoveFile(ctx, root)
			if err != nil {
				t.Fatal(err)
			}
			if freed != want {
				t.Errorf("freed %d bytes, want %d", freed, want)
			}
			for _, c := range blocks {
				assertHas(t, s, c, false)
			}
			again, err := s.RemoveFile(ctx, root)
			if err != nil || again != 0 {
				t.Errorf("removing again = %d, %v; want 0, nil", again, err)
			}
		})
	}
}

func TestRemoveFileKeepsSharedBlocks(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	shared := randomBytes(1, ChunkSize)
	a := append(append([]byte{}, shared...), randomBytes(2, ChunkSize/2)...)
	b := append(append([]byte{}, shared...), randomBytes(3, ChunkSize/3)...)
	ra, rb := addBytes(t, s, a), addBytes(t, s, b)
	blocksA, blocksB := fileBlocks(t, s, ra), fileBlocks(t, s, rb)
	if !blocksA[1].Equals(blocksB[1]) {
		t.Fatalf("first leaves differ: %s vs %s", blocksA[1], blocksB[1])
	}
	want := blockBytes(t, s, []cid.Cid{blocksA[0], blocksA[2]})
	freed, err := s.RemoveFile(ctx, ra, rb)
	if err != nil {
		t.Fatal(err)
	}
	if freed != want {
		t.Errorf("freed %d bytes, want %d (A's root and own leaf only)", freed, want)
	}
	assertHas(t, s, blocksA[0], false)
	assertHas(t, s, blocksA[2], false)
	for _, c := range blocksB {
		assertHas(t, s, c, true)
	}
	if got := readFile(t, s, rb, ""); !bytes.Equal(got, b) {
		t.Errorf("kept file reads %d bytes, differs from what was added", len(got))
	}

	// The same bytes added twice are one file; removing it while kept is
	// a no-op.
	if again := addBytes(t, s, b); !again.Equals(rb) {
		t.Fatalf("identical bytes gave %s, want %s", again, rb)
	}
	freed, err = s.RemoveFiles(ctx, []cid.Cid{rb}, []cid.Cid{rb})
	if err != nil || freed != 0 {
		t.Errorf("removing a kept root = %d, %v; want 0, nil", freed, err)
	}
	for _, c := range blocksB {
		assertHas(t, s, c, true)
	}
}

// publishTestDataset publishes a small dataset and returns its root and
// the CIDs of its shard files.
func publishTestDataset(t *testing.T, s *Store) (cid.Cid, []cid.Cid, [][]byte) {
	t.Helper()
	ctx := context.Background()
	root, m := publishDocs(t, s, "pages", DatasetOptions{}, testDocs("g", 20))
	var shards []cid.Cid
	var data [][]byte
	for _, sh := range m.Shards {
		nd, err := resolvePath(ctx, s.DAGService(), root, sh.Path)
		if err != nil {
			t.Fatal(err)
		}
		shards = append(shards, nd.Cid())
		data = append(data, readFile(t, s, root, sh.Path))
	}
	return root, shards, data
}

func TestRemoveFileSparesDatasets(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	root, shards, data := publishTestDataset(t, s)
	// A body that happens to equal a shard is the same file.
	dup := addBytes(t, s, data[0])
	if !dup.Equals(shards[0]) {
		t.Fatalf("re-adding shard bytes gave %s, want %s", dup, shards[0])
	}
	for _, c := range []cid.Cid{dup, root} {
		freed, err := s.RemoveFile(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if freed != 0 {
			t.Errorf("RemoveFile(%s) freed %d bytes of a dataset", c, freed)
		}
	}
	assertHas(t, s, root, true)
	for i, sh := range shards {
		assertHas(t, s, sh, true)
		m, err := s.Manifest(ctx, root)
		if err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, s, root, m.Shards[i].Path); !bytes.Equal(got, data[i]) {
			t.Errorf("shard %d changed after RemoveFile", i)
		}
	}
}

func TestLooseFiles(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	_, _, data := publishTestDataset(t, s)
	addBytes(t, s, data[0]) // a dataset's file is never loose
	big := addBytes(t, s, randomBytes(7, ChunkSize+100))
	small := addBytes(t, s, randomBytes(8, 3000))
	want := map[string]int64{
		big.String():   blockBytes(t, s, fileBlocks(t, s, big)),
		small.String(): 3000,
	}
	got, err := s.LooseFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("LooseFiles = %v, want roots %v", got, want)
	}
	for _, f := range got {
		n, ok := want[f.Root.String()]
		if !ok {
			t.Errorf("unexpected loose file %s", f.Root)
			continue
		}
		if f.Bytes != n {
			t.Errorf("loose file %s has %d bytes, want %d", f.Root, f.Bytes, n)
		}
	}

	// Once removed, a file is no longer listed.
	if _, err := s.RemoveFile(ctx, big); err != nil {
		t.Fatal(err)
	}
	got, err = s.LooseFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Root.Equals(small) {
		t.Errorf("after removal LooseFiles = %v, want only %s", got, small)
	}
}
