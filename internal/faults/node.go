package faults

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/internal/roles"
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
	role    *roles.Node
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
	r, err := roles.StartNode(ctx, roles.NodeConfig{
		Node: node.Config{
			DataDir: cfg.DataDir, AllowPrivate: true, LocalAddr: cfg.IP,
			BandwidthBytesPerSec: cfg.BandwidthBytesPerSec, MinHostDelay: cfg.HostDelay,
		},
		Listen:      []string{"/ip4/" + cfg.IP + "/tcp/0"},
		Join:        []string{cfg.Coordinator},
		Coordinator: ai.ID,
		Service:     node.ServiceConfig{MaxBackoff: 2 * time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("starting node on %s: %w", cfg.IP, err)
	}
	nctx, cancel := context.WithCancel(ctx)
	n := &Node{Host: r.Host, Fetcher: r.Fetcher, role: r, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		if err := r.Serve(nctx); err != nil {
			slog.Error("faults: node stopped", logkey.Peer, r.Host.ID().String(), logkey.Err, err)
		}
	}()
	return n, nil
}

// Close stops the node, waits for it and releases its stores.
func (n *Node) Close() {
	n.cancel()
	_ = n.Host.Close()
	<-n.done
	_ = n.role.Close()
}
