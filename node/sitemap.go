package node

import (
	"bytes"
	"encoding/xml"
	"net/url"
	"path"
	"strings"
	"time"
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
// index's <loc> elements, deduplicated, in document order, and the
// <lastmod> of those whose entry states a valid one. Malformed XML ends the
// scan with the links read so far: a sitemap is a hint, never a reason to
// fail a capture. The URLs kept and their lastmod entries (counted as
// lastModEntryBytes each) take at most limit bytes.
func sitemapLinks(body []byte, base *url.URL, limit int64) ([]string, map[string]time.Time) {
	lb := newLinkBase(base)
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = false
	var (
		out     []string
		lastmod map[string]time.Time
		seen    = map[string]bool{}
		field   string // "loc" or "lastmod" while inside one
		text    strings.Builder
		tooLong bool // the current field outgrew MaxURLBytes
		// The current <url> or <sitemap> entry: its link (once its <loc>
		// ended) and its lastmod (which may come first).
		entryLink string
		entryMod  time.Time
		total     int64 // bytes of out and lastmod
	)
	note := func() {
		if entryLink == "" || entryMod.IsZero() || total+lastModEntryBytes > limit {
			return
		}
		if lastmod == nil {
			lastmod = map[string]time.Time{}
		}
		lastmod[entryLink] = entryMod
		total += lastModEntryBytes
	}
	for len(out) < maxSitemapLinks && total < limit {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "url", "sitemap":
				entryLink, entryMod = "", time.Time{}
			case "loc", "lastmod":
				field = t.Name.Local
				text.Reset()
				tooLong = false
			}
		case xml.CharData:
			if field != "" && !tooLong {
				if text.Len()+len(t) > MaxURLBytes {
					// Dropped, never cut: a cut URL is another URL.
					tooLong = true
					text.Reset()
				} else {
					text.Write(t)
				}
			}
		case xml.EndElement:
			if t.Name.Local != field {
				continue
			}
			field = ""
			if tooLong {
				continue
			}
			if t.Name.Local == "lastmod" {
				if m, ok := parseLastMod(text.String()); ok {
					entryMod = m
					note()
				}
				continue
			}
			ref, err := url.Parse(strings.TrimSpace(text.String()))
			if err != nil {
				continue
			}
			s := lb.resolve(ref)
			if s == "" || total+int64(len(s)) > limit {
				continue
			}
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
				total += int64(len(s))
				entryLink = s
				note()
			}
		}
	}
	return out, lastmod
}

// lastModLayouts are the W3C Datetime forms sitemaps use for <lastmod>.
var lastModLayouts = []string{
	time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05", "2006-01-02",
	"2006-01", "2006",
}

// parseLastMod reads a <lastmod> value; it reports false for anything
// that is not a W3C Datetime.
func parseLastMod(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	for _, layout := range lastModLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
