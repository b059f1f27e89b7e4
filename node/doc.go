// Package node is sward's scraper node: the part a home user runs to donate
// bandwidth. It fetches leased URLs with colly behind the guards a home
// network needs (robots.txt per RFC 9309, per-host politeness with adaptive
// backoff, an SSRF guard at dial time, size and time limits, a decompression
// limit, a content-type allowlist) and the operator's caps (bandwidth,
// monthly data, concurrency, active hours, blocklist, pause), records AI/TDM
// opt-out signals on every capture, meters the contribution and serves a
// loopback dashboard.
//
// The Fetcher returns unsigned captures; the service (service.go) leases
// work from a coordinator, signs captures and publishes them.
package node
