// Package pipeline turns one capture into a clean, training- and RAG-ready
// Document, a reject with reason codes, or an item for human review.
//
// It is pure: no network, no disk. Stages are small functions, each tested
// on its own: Decode (charset to UTF-8), Extract (main content and metadata
// with go-trafilatura), Normalize (NFC, mojibake repair, whitespace, C4
// boilerplate lines), language ID (whatlanggo), quality rules (Gopher, C4,
// FineWeb, with FineWeb's thresholds as defaults), PII redaction, exact and
// MinHash-LSH near-duplicate detection, structured fields, and routing.
// Every decision carries a stable reason code such as
// "quality:gopher_stop_words" so filtering is auditable.
package pipeline
