package coordinator

import (
	"context"
	"fmt"
	"mime"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/schemas"
)

// Bounds on what one capture may add to the frontier. A node keeps at most
// 50,000 entries of a sitemap and caps each URL at 2 KiB, but a modified
// node can send anything its lease lets it deliver, so the coordinator
// enforces the bounds itself (issue #14 item 7: one sitemap index of 50,000
// child sitemaps, each of 50,000 entries, took a coordinator to 1.09 GiB).
const (
	// maxLinksPerCapture bounds the outlinks taken from one capture, page
	// or sitemap: the sitemaps.org protocol allows 50,000 entries per file.
	maxLinksPerCapture = 50000
	// maxChildSitemaps bounds the child sitemaps taken from one sitemap
	// index; each may list 50,000 pages of its own.
	maxChildSitemaps = 1000
	// maxLinkBytes drops outlinks longer than crawlers fetch (the node's
	// own cap after resolution).
	maxLinkBytes = 2048
	// addBatch is the most candidates offered to the frontier in one
	// transaction, so a capture's links are never all normalised in memory
	// at once, and a job that reaches max_pages stops the adding early.
	addBatch = 5000
)

// isSitemapCapture reports whether capt is a sitemap or sitemap index as
// nodes accept them: an XML body under a URL whose path ends in ".xml".
func isSitemapCapture(capt *schemas.Capture) bool {
	mt, _, _ := mime.ParseMediaType(capt.ContentType)
	if mt != "application/xml" && mt != "text/xml" {
		return false
	}
	u := capt.URL
	if capt.FinalURL != "" {
		u = capt.FinalURL
	}
	return isSitemapLink(u)
}

// isSitemapLink reports whether a link names a sitemap (its path ends in
// ".xml"), as the node decides when it fetches one.
func isSitemapLink(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && strings.EqualFold(path.Ext(u.Path), ".xml")
}

// outlinkCandidates returns the capture's outlinks that may enter the job's
// frontier at depth (the depth of the fetched URL plus one): none beyond the
// job's max_depth, so a child sitemap counts as a level like any page and
// its entries as the next; only links in scope and at most maxLinkBytes
// long; at most maxLinksPerCapture of them, of which, for a sitemap, at
// most maxChildSitemaps child sitemaps.
func outlinkCandidates(jobID string, spec *schemas.JobSpec, capt *schemas.Capture, depth int, now time.Time) []frontier.Candidate {
	if depth > spec.MaxDepth || len(capt.Outlinks) == 0 {
		return nil
	}
	sitemap := isSitemapCapture(capt)
	children := 0
	cands := make([]frontier.Candidate, 0, min(len(capt.Outlinks), maxLinksPerCapture))
	for _, l := range capt.Outlinks {
		if len(cands) == maxLinksPerCapture {
			break
		}
		if len(l) > maxLinkBytes || !spec.InScope(l) {
			continue
		}
		if sitemap && isSitemapLink(l) {
			if children == maxChildSitemaps {
				continue
			}
			children++
		}
		// Shallow pages first; among a sitemap's entries, the recently
		// modified ones.
		prio := frontier.Priority(depth, capt.OutlinkLastMod[l], now)
		cands = append(cands, frontier.Candidate{JobID: jobID, URL: l, Depth: depth, Priority: prio})
	}
	return cands
}

// addOutlinks adds the candidates to the frontier in batches of addBatch,
// never offering more than the job can still admit under its max_pages
// (0: no limit); it returns how many were new. The frontier enforces
// max_pages itself; the budget here keeps a job near its limit from
// normalising and offering thousands of links it would refuse.
func addOutlinks(ctx context.Context, f *frontier.Frontier, jobID string, maxPages int, cands []frontier.Candidate) (int, error) {
	added := 0
	for len(cands) > 0 {
		n := min(len(cands), addBatch)
		if maxPages > 0 {
			rec, err := f.GetJob(ctx, jobID)
			if err != nil {
				return added, err
			}
			left := int64(maxPages) - rec.Admitted
			if left <= 0 {
				return added, nil
			}
			n = int(min(int64(n), left))
		}
		k, err := f.Add(ctx, cands[:n])
		if err != nil {
			return added, err
		}
		added += k
		cands = cands[n:]
	}
	return added, nil
}

// followLinks adds the capture's in-scope outlinks to the frontier, within
// the bounds above; depth is the stored depth of the fetched URL.
func (c *Coordinator) followLinks(ctx context.Context, j *jobState, capt *schemas.Capture, depth int) error {
	cands := outlinkCandidates(j.id, j.spec, capt, depth+1, time.Now())
	if len(cands) == 0 {
		return nil
	}
	if _, err := addOutlinks(ctx, c.frontier, j.id, j.spec.MaxPages, cands); err != nil {
		return fmt.Errorf("adding outlinks of %s: %w", capt.URL, err)
	}
	return nil
}
