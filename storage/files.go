package storage

import (
	"context"
	"fmt"
	"strings"

	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// OpenFile opens the file at a slash path below the directory root, for
// example "data/train-00000-of-00001.parquet". The reader also seeks.
func (s *Store) OpenFile(ctx context.Context, root cid.Cid, path string) (uio.DagReader, error) {
	return openPath(ctx, s.dag, root, path)
}

func openPath(ctx context.Context, dag ipld.DAGService, root cid.Cid, path string) (uio.DagReader, error) {
	nd, err := resolvePath(ctx, dag, root, path)
	if err != nil {
		return nil, err
	}
	r, err := uio.NewDagReader(ctx, nd, dag)
	if err != nil {
		return nil, fmt.Errorf("opening %s/%s: %w", root, path, err)
	}
	return r, nil
}

// resolvePath walks UnixFS directories from root along path.
func resolvePath(ctx context.Context, dag ipld.DAGService, root cid.Cid, path string) (ipld.Node, error) {
	nd, err := dag.Get(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", root, err)
	}
	for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
		if part == "" {
			continue
		}
		dir, err := uio.NewDirectoryFromNode(dag, nd)
		if err != nil {
			return nil, fmt.Errorf("resolving %s/%s: %s is not a directory: %w", root, path, part, err)
		}
		nd, err = dir.Find(ctx, part)
		if err != nil {
			return nil, fmt.Errorf("resolving %s/%s: %w", root, path, err)
		}
	}
	return nd, nil
}
