// Package importgraph holds only a test: the import rules of
// docs/ARCHITECTURE.md, checked against what `go list` reports.
package importgraph
