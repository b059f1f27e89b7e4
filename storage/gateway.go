package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/gateway"
	"github.com/swardnet/sward/internal/httpserve"
)

// Gateway is a trustless IPFS HTTP gateway over a store: /ipfs/<cid>
// answers raw blocks (?format=raw) and CAR files (?format=car). It serves
// no deserialised responses, so clients verify what they get. Blocks are
// re-hashed before they are sent, as with bitswap.
type Gateway struct {
	handler http.Handler
}

// NewGateway returns a gateway over s's blocks; Serve runs it.
func NewGateway(s *Store) (*Gateway, error) {
	if s == nil {
		return nil, errors.New("starting gateway: nil store")
	}
	backend, err := gateway.NewBlocksBackend(blockservice.New(&blockstore.ValidatingBlockstore{Blockstore: s.bs}, nil))
	if err != nil {
		return nil, fmt.Errorf("starting gateway: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ipfs/", gateway.NewHandler(gateway.Config{DeserializedResponses: false}, backend))
	return &Gateway{handler: mux}, nil
}

// server is the http.Server Serve runs: the shared read and idle
// timeouts (a slow or silent client cannot hold a connection open while
// it sends its request or between requests) and no write timeout: a CAR
// response is a whole dataset version, of any size, and a slow but steady
// puller must be able to finish it.
func (g *Gateway) server() *http.Server { return httpserve.NewServer(g.handler, 0) }

// Serve serves the gateway on ln (for example a listener on
// 127.0.0.1:8090) until ctx ends, then shuts down gracefully: requests in
// flight get a few seconds to finish, and transfers still running after
// that are cut.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	return httpserve.Serve(ctx, g.server(), ln, httpserve.ShutdownGrace, "the gateway")
}
