package node

import (
	"bytes"
	"encoding/xml"
	"net/url"
	"path"
	"strings"
)

// sitemapTypes are the XML media types accepted for sitemap URLs only (a
// URL whose path ends in ".xml"); every other XML document is refused by
// the content-type allowlist as before.
var sitemapTypes = map[string]bool{"application/xml": true, "text/xml": true}

// maxSitemapLinks bounds the URLs kept from one sitemap (the sitemaps.org
// protocol allows 50,000 per file).
const maxSitemapLinks = 50000

// isSitemapURL reports whether u names a sitemap or sitemap index.
func isSitemapURL(u *url.URL) bool {
	return u != nil && strings.EqualFold(path.Ext(u.Path), ".xml")
}

// decodeCTOf is the content type to decode a body by: the header when
// there was one, else the sniffed type.
func decodeCTOf(raw, sniffed string) string {
	if raw != "" {
		return raw
	}
	return sniffed
}

// sitemapLinks returns the absolute http(s) URLs in a sitemap's or sitemap
// index's <loc> elements, deduplicated, in document order. Malformed XML
// ends the scan with the links read so far: a sitemap is a hint, never a
// reason to fail a capture.
func sitemapLinks(body []byte, base *url.URL) []string {
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = false
	var (
		out   []string
		seen  = map[string]bool{}
		inLoc bool
		text  strings.Builder
	)
	for len(out) < maxSitemapLinks {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "loc" {
				inLoc = true
				text.Reset()
			}
		case xml.CharData:
			if inLoc && text.Len() < 4096 {
				text.Write(t)
			}
		case xml.EndElement:
			if t.Name.Local != "loc" || !inLoc {
				continue
			}
			inLoc = false
			ref, err := url.Parse(strings.TrimSpace(text.String()))
			if err != nil {
				continue
			}
			abs := base.ResolveReference(ref)
			if abs.Scheme != "http" && abs.Scheme != "https" {
				continue
			}
			abs.Fragment = ""
			if s := abs.String(); !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}
