package faults

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/network"
	"github.com/swardnet/sward/node"
)

// NodeConfig says how StartNode runs a scraper node.
type NodeConfig struct {
	// DataDir holds the node's identity and usage counters.
	DataDir string
	// IP is the loopback address the node listens on and fetches from.
	IP string
	// Coordinator is the coordinator's full multiaddr (with /p2p/). The
	// node keeps dialling it, so it may be down when the node starts.
	Coordinator string
	// HostDelay is the node's minimum gap between requests to one host.
	HostDelay time.Duration
	// BandwidthBytesPerSec caps the node's reads (0 = unlimited).
	BandwidthBytesPerSec int64
}

// Node is a running scraper node.
type Node struct {
	Host    *network.Host
	Fetcher *node.Fetcher
	cancel  context.CancelFunc
	done    chan struct{}
}

// StartNode starts a node that leases from cfg.Coordinator and gossips its
// captures, until Close. Its lease requests back off while the
// coordinator is unreachable and resume when it is back.
func StartNode(ctx context.Context, cfg NodeConfig) (*Node, error) {
	if cfg.DataDir == "" || cfg.IP == "" || cfg.Coordinator == "" {
		return nil, errors.New("faults: a node needs a data directory, an IP and a coordinator address")
	}
	ai, err := peer.AddrInfoFromString(cfg.Coordinator)
	if err != nil {
		return nil, fmt.Errorf("parsing coordinator address %q: %w", cfg.Coordinator, err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating node data directory: %w", err)
	}
	h, err := network.New(ctx, network.Config{
		ListenAddrs: []string{"/ip4/" + cfg.IP + "/tcp/0"},
		KeyFile:     cfg.DataDir + "/identity.key",
		Bootstrap:   []string{cfg.Coordinator},
	})
	if err != nil {
		return nil, fmt.Errorf("starting node host on %s: %w", cfg.IP, err)
	}
	ncfg := node.Config{DataDir: cfg.DataDir, AllowPrivate: true, LocalAddr: cfg.IP, BandwidthBytesPerSec: cfg.BandwidthBytesPerSec}
	ncfg.Default()
	if cfg.HostDelay > 0 {
		ncfg.MinHostDelay = cfg.HostDelay
	}
	fetcher, err := node.NewFetcher(ncfg)
	if err != nil {
		_ = h.Close()
		return nil, fmt.Errorf("starting node fetcher: %w", err)
	}
	svc, err := node.NewService(node.ServiceConfig{Coordinator: ai.ID, MaxBackoff: 2 * time.Second}, h, network.SignCapture, fetcher)
	if err != nil {
		_ = fetcher.Close()
		_ = h.Close()
		return nil, fmt.Errorf("starting node service: %w", err)
	}
	// Bodies over the gossip inline limit wait in the node's own block
	// store, served over bitswap, until the coordinator fetches them.
	bodies, err := node.OpenLargeBodies(ctx, h.Libp2p(), filepath.Join(cfg.DataDir, "store"), node.BlobConfig{})
	if err != nil {
		_ = fetcher.Close()
		_ = h.Close()
		return nil, err
	}
	svc.SetBlobs(bodies.Blobs)
	nctx, cancel := context.WithCancel(ctx)
	n := &Node{Host: h, Fetcher: fetcher, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		if err := svc.Serve(nctx); err != nil {
			slog.Error("faults: node stopped", "peer", h.ID().String(), "err", err)
		}
		_ = fetcher.Close()
		_ = bodies.Close()
	}()
	return n, nil
}

// Close stops the node and waits for it.
func (n *Node) Close() {
	n.cancel()
	_ = n.Host.Close()
	<-n.done
}
