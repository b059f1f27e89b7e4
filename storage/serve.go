package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ipfs/boxo/bitswap/client"
	"github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/bitswap/server"
	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/ipld/merkledag"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/routing"
)

// Server serves a store's blocks over bitswap on a libp2p host, and fetches
// blocks it lacks from the host's peers (FetchFile).
type Server struct {
	net     interface{ Stop() }
	srv     *server.Server
	cl      *client.Client
	store   *Store
	routing routing.ContentRouting
}

// ServeOption configures Serve.
type ServeOption func(*Server)

// WithRouting makes the server announce provider records (for example in
// the DHT) for the versions it is asked to Provide and for every head.
func WithRouting(r routing.ContentRouting) ServeOption {
	return func(s *Server) { s.routing = r }
}

// Serve starts a bitswap server for s on h. Blocks are re-hashed before they
// are sent, so a block corrupted on this disk is never served (peers fetch
// it from another provider instead). Close stops it.
func Serve(ctx context.Context, h host.Host, s *Store, opts ...ServeOption) (*Server, error) {
	if h == nil || s == nil {
		return nil, errors.New("serving datasets: nil host or store")
	}
	n := bsnet.NewFromIpfsHost(h)
	srv := server.New(ctx, n, &blockstore.ValidatingBlockstore{Blockstore: s.bs},
		server.MaxOutstandingBytesPerPeer(16<<20), server.MaxQueuedWantlistEntriesPerPeer(4096))
	// The client shares the host's bitswap network with the server; it
	// asks connected peers and stores what it gets (hash-checked) in s.
	cl := client.New(ctx, n, nil, s.bs)
	n.Start(srv, cl)
	out := &Server{net: n, srv: srv, cl: cl, store: s}
	for _, o := range opts {
		o(out)
	}
	if out.routing != nil {
		names, err := s.Datasets(ctx)
		if err == nil {
			for _, name := range names {
				if head, err := s.Head(ctx, name); err == nil {
					if err := out.Provide(ctx, head); err != nil {
						slog.Warn("announcing dataset", "dataset", name, "cid", head.String(), "err", err)
					}
				}
			}
		}
	}
	return out, nil
}

// Provide announces root to the content routing, when one was given.
func (s *Server) Provide(ctx context.Context, root cid.Cid) error {
	if s.routing == nil {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.routing.Provide(pctx, root, true); err != nil {
		return fmt.Errorf("announcing %s: %w", root, err)
	}
	return nil
}

// Close stops serving.
func (s *Server) Close() error {
	s.net.Stop()
	s.srv.Close()
	s.cl.Close()
	return nil
}

// FetchFile returns the bytes of the UnixFS file named by root, fetching
// missing blocks from connected peers over bitswap (each block is checked
// against its CID). A file larger than max is an error. The coordinator uses
// it for capture bodies too large to travel inline in gossip.
func (s *Server) FetchFile(ctx context.Context, root cid.Cid, max int64) ([]byte, error) {
	dag := merkledag.NewDAGService(blockservice.New(s.store.bs, s.cl))
	nd, err := dag.Get(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", root, err)
	}
	r, err := uio.NewDagReader(ctx, nd, dag)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", root, err)
	}
	if int64(r.Size()) > max {
		return nil, fmt.Errorf("file %s is %d bytes, over the %d limit", root, r.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", root, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("file %s is over the %d limit", root, max)
	}
	return b, nil
}

// ServeGateway serves the store as a trustless IPFS HTTP gateway on addr
// (for example 127.0.0.1:8090): /ipfs/<cid> answers raw blocks
// (?format=raw) and CAR files (?format=car); no deserialised responses, so
// clients verify what they get. Shutdown the returned server to stop it; it
// also stops when ctx ends.
func ServeGateway(ctx context.Context, addr string, s *Store) (*http.Server, error) {
	if addr == "" {
		addr = "127.0.0.1:8090"
	}
	backend, err := gateway.NewBlocksBackend(blockservice.New(&blockstore.ValidatingBlockstore{Blockstore: s.bs}, nil))
	if err != nil {
		return nil, fmt.Errorf("starting gateway: %w", err)
	}
	handler := gateway.NewHandler(gateway.Config{DeserializedResponses: false}, backend)
	mux := http.NewServeMux()
	mux.Handle("/ipfs/", handler)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gateway listening on %s: %w", addr, err)
	}
	srv := &http.Server{Addr: ln.Addr().String(), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("gateway stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return srv, nil
}
