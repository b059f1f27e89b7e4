// Package feed is sward's real-time API for LLM applications: a BM25 search
// index (bleve) over freshly accepted documents, full documents with their
// provenance (content sha256, capture CID, node peer ID), live fetch through
// the network, change tracking across recrawls, a resumable Server-Sent
// Events feed, HMAC-signed webhooks, an Arrow IPC bulk export and an MCP
// server with the tools search, fetch and get_document.
//
// The coordinator calls [Feed.Add] as documents are accepted; the HTTP API
// ([Feed.Handler]) and the MCP server read from the same index. Live fetches
// go through a [LiveFetcher] so that a page is only ever fetched by a node
// under the network's politeness rules (robots.txt, TDM opt-outs, host
// budgets); the feed itself never fetches a page.
package feed
