package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	h "github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dsns "github.com/ipfs/go-datastore/namespace"
	pebbleds "github.com/ipfs/go-ds-pebble"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
)

// ChunkSize is the UnixFS chunk size: 1 MiB, as `ipfs add --chunker=size-1048576`.
const ChunkSize = 1 << 20

// MaxBlockSize is the largest block sward stores or accepts (the bitswap limit).
const MaxBlockSize = 2 << 20

// cidBuilder makes CIDv1 dag-pb sha2-256 nodes, as kubo does with --cid-version=1.
var cidBuilder = cid.V1Builder{Codec: cid.DagProtobuf, MhType: mh.SHA2_256}

// Store is a local content-addressed store: blocks in pebble under
// dir/blocks, dataset metadata (heads, version history, published document
// ids) in the same pebble database under /sward, and spools under
// dir/datasets.
type Store struct {
	log   *slog.Logger
	dir   string
	pds   *pebbleds.Datastore
	meta  ds.Batching
	bs    blockstore.Blockstore
	bsvc  blockservice.BlockService
	dag   ipld.DAGService
	mu    sync.Mutex
	open  map[string]*DatasetWriter
	close sync.Once

	// heads is closed (and replaced) whenever a dataset head changes, so
	// a serving node can announce new versions at once.
	headsMu sync.Mutex
	heads   chan struct{}
}

// headsChanged returns a channel closed at the next change of any
// dataset's head.
func (s *Store) headsChanged() <-chan struct{} {
	s.headsMu.Lock()
	defer s.headsMu.Unlock()
	if s.heads == nil {
		s.heads = make(chan struct{})
	}
	return s.heads
}

// signalHeads wakes whoever waits on headsChanged.
func (s *Store) signalHeads() {
	s.headsMu.Lock()
	defer s.headsMu.Unlock()
	if s.heads != nil {
		close(s.heads)
		s.heads = nil
	}
}

// Open opens (creating when needed) the store rooted at dir, with the
// default Config.
func Open(ctx context.Context, dir string) (*Store, error) {
	return OpenWithConfig(ctx, dir, Config{})
}

// OpenWithConfig is Open with a Config (its unset fields defaulted).
func OpenWithConfig(ctx context.Context, dir string, cfg Config) (*Store, error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "datasets"), 0o755); err != nil {
		return nil, fmt.Errorf("creating store directory %s: %w", dir, err)
	}
	pds, err := pebbleds.NewDatastore(filepath.Join(dir, "blocks"))
	if err != nil {
		return nil, fmt.Errorf("opening block database in %s (is another sward using it?): %w", dir, err)
	}
	bs := blockstore.NewBlockstore(pds)
	bsvc := blockservice.New(bs, nil)
	s := &Store{
		log:  cfg.Logger,
		dir:  dir,
		pds:  pds,
		meta: dsns.Wrap(pds, ds.NewKey("/sward")),
		bs:   bs,
		bsvc: bsvc,
		dag:  merkledag.NewDAGService(bsvc),
		open: make(map[string]*DatasetWriter),
	}
	return s, nil
}

// Dir is the directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// Close flushes and closes the store. Open dataset writers must not be used
// afterwards.
func (s *Store) Close() error {
	var err error
	s.close.Do(func() {
		s.mu.Lock()
		for _, w := range s.open {
			w.closeSpool()
		}
		s.open = map[string]*DatasetWriter{}
		s.mu.Unlock()
		if e := s.bsvc.Close(); e != nil {
			err = e
		}
		if e := s.pds.Close(); e != nil {
			err = fmt.Errorf("closing block database: %w", e)
		}
	})
	return err
}

// Blockstore is the store's block store (blocks are not re-hashed on read;
// wrap it in blockstore.ValidatingBlockstore to check them).
func (s *Store) Blockstore() blockstore.Blockstore { return s.bs }

// DAGService is an offline DAG service over the store's blocks.
func (s *Store) DAGService() ipld.DAGService { return s.dag }

// sync makes every write so far durable.
func (s *Store) sync(ctx context.Context) error {
	if err := s.pds.Sync(ctx, ds.NewKey("/")); err != nil {
		return fmt.Errorf("syncing block database: %w", err)
	}
	return nil
}

// AddFile imports r as a UnixFS file: CIDv1, raw leaves, 1 MiB chunks,
// balanced layout with 174 links per node. The CID equals that of
// `ipfs add --cid-version=1 --raw-leaves --chunker=size-1048576`.
// The blocks are written but not synced.
func (s *Store) AddFile(ctx context.Context, r io.Reader) (cid.Cid, error) {
	return addFile(ctx, s.dag, r)
}

func addFile(ctx context.Context, dag ipld.DAGService, r io.Reader) (cid.Cid, error) {
	batch := ipld.NewBatch(ctx, dag, ipld.MaxSizeBatchOption(32<<20))
	bdag := batchDAG{DAGService: dag, b: batch}
	params := h.DagBuilderParams{
		Maxlinks:   h.DefaultLinksPerBlock,
		RawLeaves:  true,
		CidBuilder: cidBuilder,
		Dagserv:    bdag,
	}
	db, err := params.New(chunker.NewSizeSplitter(ctxReader{ctx, r}, ChunkSize))
	if err != nil {
		return cid.Undef, fmt.Errorf("importing file: %w", err)
	}
	nd, err := balanced.Layout(db)
	if err != nil {
		return cid.Undef, fmt.Errorf("importing file: %w", err)
	}
	if err := batch.Commit(); err != nil {
		return cid.Undef, fmt.Errorf("importing file: writing blocks: %w", err)
	}
	return nd.Cid(), nil
}

// batchDAG buffers Add calls of an import into large datastore batches.
type batchDAG struct {
	ipld.DAGService
	b *ipld.Batch
}

func (d batchDAG) Add(ctx context.Context, n ipld.Node) error { return d.b.Add(ctx, n) }

func (d batchDAG) AddMany(ctx context.Context, ns []ipld.Node) error { return d.b.AddMany(ctx, ns) }

// ctxReader stops a long import when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ErrNotFound is returned for a CID or dataset the store does not hold.
var ErrNotFound = errors.New("not found")
