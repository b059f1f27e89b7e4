// Package roles builds each sward role once: a coordinator, a scraper
// node, a curator and a feed. Each Start function opens what the role owns
// (libp2p host, frontier, block store, pipeline, announcer, bitswap
// server, large-body store, HTTP surfaces) and checks what can fail early
// (data directory, listen addresses); Serve runs every part under one
// errgroup until ctx ends or one part fails; Close releases everything in
// the reverse order of Start and may be called once Serve has returned
// (or instead of Serve, when Start's caller gives up).
//
// cmd/sward, internal/cluster and internal/faults only call this package,
// so a role is wired the same way in the CLI, in `sward up` and in the
// end-to-end and fault-injection tests. Every HTTP surface is served by its
// own package's Serve (coordinator.API, feed.Feed, node.Dashboard,
// curator.Curator, storage.Gateway) with timeouts and graceful shutdown.
package roles
