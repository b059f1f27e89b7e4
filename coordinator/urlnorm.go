package coordinator

import "github.com/swardnet/sward/schemas"

// ErrBadURL is wrapped by NormalizeURL errors: the URL is not an absolute
// http(s) URL the frontier can hold (schemas.ErrBadURL).
var ErrBadURL = schemas.ErrBadURL

// NormalizeURL returns the canonical spelling of an http(s) URL
// (schemas.NormalizeURL, which the offline pipeline shares so both paths
// give a page the same document ID).
func NormalizeURL(raw string) (string, error) { return schemas.NormalizeURL(raw) }

// URLKey is the frontier's seen-set key for a normalised URL
// (schemas.URLKey).
func URLKey(normalized string) [16]byte { return schemas.URLKey(normalized) }
