package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/swardnet/sward/schemas"
)

// pullStateDir is where an interrupted pull keeps its verified blocks.
const pullStateDir = ".sward-pull"

// RootFile is written by `sward dataset pull` into the output directory; it
// holds the root CID so `sward dataset verify DIR` needs no argument. Like
// every entry whose name starts with ".sward", it is not part of the
// dataset and is skipped when hashing.
const RootFile = ".sward-root"

// CorruptError says which file of a pulled dataset does not match.
type CorruptError struct {
	Path string
	Got  string
	Want string
}

func (e *CorruptError) Error() string {
	if e.Want == "" {
		return fmt.Sprintf("%s: CID %s is not part of the dataset; remove it or re-run `sward dataset pull`", e.Path, e.Got)
	}
	return fmt.Sprintf("%s is corrupt: its CID is %s but the manifest says %s; re-run `sward dataset pull` to fetch it again", e.Path, e.Got, e.Want)
}

// ErrMismatch is wrapped by VerifyDir when the directory does not hash to
// the expected root.
var ErrMismatch = errors.New("directory does not match its CID")

// VerifyDir re-imports every file under dir exactly as Publish did and
// checks that the directory hashes to root. When it does not, the error
// names the first file whose CID differs from the manifest's.
func VerifyDir(ctx context.Context, dir string, root cid.Cid) error {
	got, fileCIDs, err := HashDir(ctx, dir)
	if err != nil {
		return err
	}
	if got.Equals(root) {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err == nil {
		if m, perr := schemas.ParseManifest(data); perr == nil {
			want := map[string]string{}
			for _, sh := range m.Shards {
				want[sh.Path] = sh.CID
			}
			for _, t := range m.Tables {
				for _, sh := range t {
					want[sh.Path] = sh.CID
				}
			}
			for p, w := range want {
				if g, ok := fileCIDs[p]; !ok {
					return fmt.Errorf("%s: %s is missing; re-run `sward dataset pull`: %w", dir, p, ErrMismatch)
				} else if g.String() != w {
					return fmt.Errorf("%w: %w", &CorruptError{Path: p, Got: g.String(), Want: w}, ErrMismatch)
				}
			}
		}
	}
	return fmt.Errorf("%s hashes to %s, not %s (manifest.json or README.md changed, or files were added); re-run `sward dataset pull`: %w", dir, got, root, ErrMismatch)
}

// HashDir computes the UnixFS CID of dir (and of each file in it) without
// storing any block. Entries named .sward-pull are skipped.
func HashDir(ctx context.Context, dir string) (cid.Cid, map[string]cid.Cid, error) {
	dag := newHashDAG()
	files := map[string]ipld.Node{}
	cids := map[string]cid.Cid{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir && strings.HasPrefix(d.Name(), ".sward") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		c, err := addFile(ctx, dag, f)
		if err != nil {
			return fmt.Errorf("hashing %s: %w", rel, err)
		}
		nd, err := dag.Get(ctx, c)
		if err != nil {
			return fmt.Errorf("hashing %s: %w", rel, err)
		}
		files[rel], cids[rel] = nd, c
		return nil
	})
	if err != nil {
		return cid.Undef, nil, fmt.Errorf("verifying %s: %w", dir, err)
	}
	if len(files) == 0 {
		return cid.Undef, nil, fmt.Errorf("verifying %s: no files (is this the --out directory of a pull?)", dir)
	}
	root, err := buildTree(ctx, dag, files)
	if err != nil {
		return cid.Undef, nil, err
	}
	return root, cids, nil
}

// hashDAG is a DAG service that keeps only dag-pb nodes (small: links) and
// the last raw leaf, which is all that building a directory needs. It lets
// verification hash gigabytes without storing them.
type hashDAG struct {
	mu      sync.Mutex
	nodes   map[cid.Cid]ipld.Node
	lastRaw ipld.Node
}

func newHashDAG() *hashDAG { return &hashDAG{nodes: map[cid.Cid]ipld.Node{}} }

func (d *hashDAG) Add(_ context.Context, n ipld.Node) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n.Cid().Prefix().Codec == cid.Raw {
		d.lastRaw = n
		return nil
	}
	d.nodes[n.Cid()] = n
	return nil
}

func (d *hashDAG) AddMany(ctx context.Context, ns []ipld.Node) error {
	for _, n := range ns {
		if err := d.Add(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (d *hashDAG) Get(_ context.Context, c cid.Cid) (ipld.Node, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n, ok := d.nodes[c]; ok {
		return n, nil
	}
	if d.lastRaw != nil && d.lastRaw.Cid().Equals(c) {
		return d.lastRaw, nil
	}
	return nil, ipld.ErrNotFound{Cid: c}
}

func (d *hashDAG) GetMany(ctx context.Context, cs []cid.Cid) <-chan *ipld.NodeOption {
	out := make(chan *ipld.NodeOption, len(cs))
	for _, c := range cs {
		n, err := d.Get(ctx, c)
		out <- &ipld.NodeOption{Node: n, Err: err}
	}
	close(out)
	return out
}

func (d *hashDAG) Remove(context.Context, cid.Cid) error       { return nil }
func (d *hashDAG) RemoveMany(context.Context, []cid.Cid) error { return nil }
