// Package logkey names the attribute keys that sward's logs share, so that
// one search (every line about a peer, a job or a URL) finds the lines of
// every package, and a key is never spelt two ways.
//
// Use the constants as slog keys: log.Warn("lease refused", logkey.Peer,
// id, logkey.Err, err).
package logkey

// Keys shared by the packages' logs.
const (
	// Err is the error that made the line.
	Err = "err"
	// Role names the process role: coordinator, node, curator or feed.
	Role = "role"
	// Peer is a libp2p peer ID.
	Peer = "peer"
	// Node is the peer ID of a scraper node.
	Node = "node"
	// Job is a crawl job's ID.
	Job = "job"
	// Lease is a lease ID.
	Lease = "lease"
	// URL is a page's URL.
	URL = "url"
	// Host is a host name (a politeness budget's key).
	Host = "host"
	// Path is a file or directory on disk.
	Path = "path"
	// CID is a content identifier (a capture, a file or a dataset version).
	CID = "cid"
	// Dataset is a dataset's name.
	Dataset = "dataset"
	// Addr is a network address (listen or remote).
	Addr = "addr"
	// Item is a curator review item's ID.
	Item = "item"
	// Count is how many things a line is about.
	Count = "count"
)
