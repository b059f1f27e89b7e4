// Package site is the deterministic example website that sward's demo and
// tests crawl: a few dozen local newspapers, one per loopback address
// 127.0.0.(10+i), generated on request from (seed, host index, path).
//
// The site is built to exercise every stage of sward on one machine without
// touching the internet. Besides ordinary articles in English, German, French
// and Spanish it serves what a real crawl meets: navigation into paths that
// robots.txt disallows, Crawl-delay on small hosts, sitemaps, near-duplicate
// syndicated articles, e-mail addresses and phone numbers, junk pages (lorem
// ipsum, link farms, stubs), binary resources, an endless calendar trap, pages
// that reserve AI use (X-Robots-Tag: noai, a robots meta tag, tdm-reservation),
// a broken link and a redirect chain.
//
// Reachable is the test oracle: it walks the site's own link graph (the same
// links the HTML renderer writes) and lists every HTML page a correct crawler
// must capture. docs/site.md describes the page kinds and why each exists.
package site
