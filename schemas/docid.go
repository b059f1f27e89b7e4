package schemas

import (
	"encoding/hex"
	"strings"
)

// DocumentID names the document a page becomes in a dataset: the hex of
// the first 128 bits of SHA-256 over scope, a zero byte and the page's
// normalised final URL (NormalizeURL). The coordinator passes the job ID as
// scope, the offline pipeline the job name (or the dataset name without a
// job), so a page keeps its ID across re-fetches and across both paths,
// and a citation of it stays valid in every later version.
//
// A capture without a usable URL (a WARC record whose target URI is blank
// or not http(s)) has no page identity; pass its source's unique record key
// (for example "warc:" + WARC-Record-ID, or "record:" + its index) as
// normalizedURL through BlankURLKey, so such rows never collide.
func DocumentID(scope, normalizedURL string) string {
	k := URLKey(scope + "\x00" + normalizedURL)
	return hex.EncodeToString(k[:])
}

// BlankURLKey is the stand-in for a normalised URL that DocumentID takes
// when a capture has no usable URL: recordKey must be unique within its
// input. The "blank:" prefix cannot start a normalised http(s) URL, so a
// blank-URL ID never equals a page's.
func BlankURLKey(recordKey string) string {
	return "blank:" + strings.TrimSpace(recordKey)
}

// PageDocumentID is DocumentID for a raw URL: it normalises rawURL and, if
// that fails, falls back to BlankURLKey(recordKey). ok is false when the
// fallback was used.
func PageDocumentID(scope, rawURL, recordKey string) (id, normalized string, ok bool) {
	if n, err := NormalizeURL(rawURL); err == nil {
		return DocumentID(scope, n), n, true
	}
	return DocumentID(scope, BlankURLKey(recordKey)), "", false
}
