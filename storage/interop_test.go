package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/swardnet/sward/schemas"
)

// requireE2E skips (or, with SWARD_REQUIRE_E2E=1, fails) when a tool is missing.
func requireE2E(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("SWARD_REQUIRE_E2E") == "1" {
		t.Fatalf("SWARD_REQUIRE_E2E=1 but %s", why)
	}
	t.Skip(why)
}

type interopResult struct {
	Rows         int64    `json:"rows"`
	Chunks       int64    `json:"chunks"`
	MarkdownRows int64    `json:"markdown_rows"`
	DataColumns  []string `json:"data_columns"`
	Sample       []struct {
		ID            string  `json:"id"`
		URL           string  `json:"url"`
		Text          string  `json:"text"`
		Language      string  `json:"language"`
		Title         *string `json:"title"`
		TokenCount    int64   `json:"token_count"`
		PublishedAtUS *int64  `json:"published_at_us"`
		Markdown      *string `json:"markdown"`
	} `json:"sample"`
}

// TestInteropDuckDBAndHyparquet pulls a dataset over bitswap and reads the
// shards with DuckDB and with hyparquet, two readers that share no code with
// arrow-go. Setup: (cd storage/testdata/interop && npm ci).
func TestInteropDuckDBAndHyparquet(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		requireE2E(t, "node is not installed")
	}
	interop, _ := filepath.Abs("testdata/interop")
	if _, err := os.Stat(filepath.Join(interop, "node_modules", "@duckdb", "node-api")); err != nil {
		requireE2E(t, "storage/testdata/interop/node_modules missing; run: (cd storage/testdata/interop && npm ci)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	docs := testDocs("interop", 2500)
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	root, m := publishDocs(t, s, "interop", DatasetOptions{RowGroupBytes: 128 << 10, ShardBytes: 160 << 10}, docs)
	if len(m.Shards) < 2 {
		t.Fatalf("want several shards for the readers to glob, got %d", len(m.Shards))
	}
	var chunkRows, markdownRows int64
	for _, sh := range m.Tables["chunks"] {
		chunkRows += sh.Rows
	}
	for _, sh := range m.Tables["markdown"] {
		markdownRows += sh.Rows
	}
	if markdownRows == 0 {
		t.Fatal("test documents have no markdown")
	}
	out := filepath.Join(t.TempDir(), "pulled")
	if _, err := Pull(ctx, newHost(t), []peer.AddrInfo{serveStore(t, s)}, root, out, nil); err != nil {
		t.Fatal(err)
	}

	sampleIdx := []int{0, 1, 2, 3, 999, 1500, 2499}
	var ids []string
	want := map[string]int{}
	for _, i := range sampleIdx {
		ids = append(ids, docs[i].ID)
		want[docs[i].ID] = i
	}
	sort.Strings(ids)
	for _, script := range []string{"duckdb.mjs", "hyparquet.mjs"} {
		t.Run(script, func(t *testing.T) {
			cmd := exec.CommandContext(ctx, node, filepath.Join(interop, script), out, strings.Join(ids, ","))
			cmd.Dir = interop
			cmd.Stderr = os.Stderr
			raw, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", script, err)
			}
			var res interopResult
			if err := json.Unmarshal(raw, &res); err != nil {
				t.Fatalf("%s printed %q: %v", script, raw, err)
			}
			if res.Rows != int64(len(docs)) || res.Chunks != chunkRows {
				t.Fatalf("%s: rows=%d chunks=%d, want %d and %d", script, res.Rows, res.Chunks, len(docs), chunkRows)
			}
			if res.MarkdownRows != markdownRows {
				t.Errorf("%s: markdown table has %d rows, want %d", script, res.MarkdownRows, markdownRows)
			}
			// The main table is read directly and holds the article once.
			if len(res.DataColumns) != len(schemas.DocumentSchema.Fields()) || slices.Contains(res.DataColumns, "markdown") || res.DataColumns[0] != "text" {
				t.Errorf("%s: data columns %v", script, res.DataColumns)
			}
			if len(res.Sample) != len(ids) {
				t.Fatalf("%s: sample has %d rows, want %d", script, len(res.Sample), len(ids))
			}
			for _, got := range res.Sample {
				d := docs[want[got.ID]]
				if got.URL != d.URL || got.Text != d.Text || got.Language != d.Language || got.TokenCount != d.TokenCount {
					t.Errorf("%s: row %s differs from what was written", script, got.ID)
				}
				if (got.Markdown == nil) != (d.Markdown == nil) || (d.Markdown != nil && *got.Markdown != *d.Markdown) {
					t.Errorf("%s: row %s markdown (joined on id) = %v, want %v", script, got.ID, got.Markdown, d.Markdown)
				}
				if (got.Title == nil) != (d.Title == nil) || (d.Title != nil && *got.Title != *d.Title) {
					t.Errorf("%s: row %s title = %v, want %v", script, got.ID, got.Title, d.Title)
				}
				switch {
				case d.PublishedAt == nil && got.PublishedAtUS != nil:
					t.Errorf("%s: row %s published_at should be null", script, got.ID)
				case d.PublishedAt != nil && (got.PublishedAtUS == nil || *got.PublishedAtUS != d.PublishedAt.UnixMicro()):
					t.Errorf("%s: row %s published_at = %v, want %d", script, got.ID, got.PublishedAtUS, d.PublishedAt.UnixMicro())
				}
			}
		})
	}
}

// unixfsResult is what testdata/interop/unixfs.mjs prints.
type unixfsResult struct {
	Root  string            `json:"root"`
	Files map[string]string `json:"files"`
	CAR   *struct {
		Roots     []string `json:"roots"`
		Blocks    int      `json:"blocks"`
		BadHashes int      `json:"badHashes"`
		Missing   int      `json:"missing"`
	} `json:"car"`
}

// runUnixFSImporter runs unixfs.mjs on dir (and car, when not empty).
func runUnixFSImporter(ctx context.Context, t *testing.T, dir, car string) unixfsResult {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		requireE2E(t, "node is not installed")
	}
	interop, _ := filepath.Abs("testdata/interop")
	if _, err := os.Stat(filepath.Join(interop, "node_modules", "ipfs-unixfs-importer")); err != nil {
		requireE2E(t, "storage/testdata/interop/node_modules missing; run: (cd storage/testdata/interop && npm ci)")
	}
	args := []string{filepath.Join(interop, "unixfs.mjs"), dir}
	if car != "" {
		args = append(args, car)
	}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = interop
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("unixfs.mjs: %v", err)
	}
	var res unixfsResult
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("unixfs.mjs printed %q: %v", raw, err)
	}
	return res
}

// TestInteropIPFSImporterAndCAR checks that a version's CID is what IPFS's
// own importer computes for the pulled directory (so `ipfs add -r
// --cid-version=1 --raw-leaves --chunker=size-1048576` of it names the same
// version), and that an exported CAR is complete and every block in it
// hashes to its CID, using the JavaScript UnixFS importer and @ipld/car.
func TestInteropIPFSImporterAndCAR(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	docs, _ := benchDocs(5 << 20) // Zipf text: compresses about as real text does
	root, m := publishDocs(t, s, "ipfs", DatasetOptions{RowGroupBytes: 1 << 20, ShardBytes: 3 << 20}, docs)
	multiBlock := false
	for _, sh := range allShards(m) {
		multiBlock = multiBlock || sh.Bytes > ChunkSize
	}
	if !multiBlock {
		t.Fatal("want a shard of more than one 1 MiB block")
	}
	out := filepath.Join(t.TempDir(), "pulled")
	if _, err := Pull(ctx, newHost(t), []peer.AddrInfo{serveStore(t, s)}, root, out, nil); err != nil {
		t.Fatal(err)
	}
	// `sward dataset pull` leaves this marker; `ipfs add -r` skips dot files.
	if err := os.WriteFile(filepath.Join(out, RootFile), []byte(root.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	car := filepath.Join(t.TempDir(), "v.car")
	f, err := os.Create(car)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ExportCAR(ctx, root, f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	res := runUnixFSImporter(ctx, t, out, car)
	if res.Root != root.String() {
		t.Errorf("IPFS importer names the pulled directory %s, sward named the version %s", res.Root, root)
	}
	for _, sh := range allShards(m) {
		if got := res.Files[sh.Path]; got != sh.CID {
			t.Errorf("%s: IPFS importer CID %s, manifest %s", sh.Path, got, sh.CID)
		}
	}
	if res.CAR == nil {
		t.Fatal("no CAR report")
	}
	if len(res.CAR.Roots) != 1 || res.CAR.Roots[0] != root.String() {
		t.Errorf("CAR roots %v, want [%s]", res.CAR.Roots, root)
	}
	if res.CAR.Blocks == 0 || res.CAR.BadHashes != 0 || res.CAR.Missing != 0 {
		t.Errorf("CAR: %d blocks, %d do not match their CID, %d of the import's blocks missing", res.CAR.Blocks, res.CAR.BadHashes, res.CAR.Missing)
	}
}

// TestInteropIPFSImporterDeepFile checks the layout of a file of more than
// 174 chunks, where kubo's balanced DAG grows a second level of links. The
// blocks go to a DAG service that keeps nothing: only the CIDs matter here.
func TestInteropIPFSImporterDeepFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	// 176 leaves (174 + 2 under the root), each distinct: one random
	// chunk stamped with its index.
	data := make([]byte, 175*ChunkSize+1)
	_, _ = rand.NewChaCha8([32]byte{5}).Read(data[:ChunkSize])
	for off := ChunkSize; off < len(data); off += ChunkSize {
		if n := copy(data[off:], data[:ChunkSize]); n >= 8 {
			binary.BigEndian.PutUint64(data[off:], uint64(off))
		}
	}
	c, err := addFile(ctx, discardDAG{}, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "deep.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	res := runUnixFSImporter(ctx, t, dir, "")
	if got := res.Files["deep.bin"]; got != c.String() {
		t.Fatalf("IPFS importer CID %s, sward %s", got, c)
	}
}

// discardDAG accepts nodes and keeps none.
type discardDAG struct{}

func (discardDAG) Get(context.Context, cid.Cid) (ipld.Node, error) { return nil, ipld.ErrNotFound{} }
func (discardDAG) GetMany(context.Context, []cid.Cid) <-chan *ipld.NodeOption {
	ch := make(chan *ipld.NodeOption)
	close(ch)
	return ch
}
func (discardDAG) Add(context.Context, ipld.Node) error        { return nil }
func (discardDAG) AddMany(context.Context, []ipld.Node) error  { return nil }
func (discardDAG) Remove(context.Context, cid.Cid) error       { return nil }
func (discardDAG) RemoveMany(context.Context, []cid.Cid) error { return nil }
