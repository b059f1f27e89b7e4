package node

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Cache lifetimes for per-site files. RFC 9309 section 2.4 caps robots.txt
// caching at 24 hours; an unreachable file is retried sooner.
const (
	siteTTL        = 24 * time.Hour
	siteErrorTTL   = 5 * time.Minute
	maxSiteEntries = 50000
	maxTDMRepBytes = 64 << 10
)

// siteInfo is what the fetcher knows about one origin: its robots.txt and
// its TDMRep file.
type siteInfo struct {
	robots *Robots
	// robotsNote explains a robots verdict that did not come from rules
	// ("robots.txt unreachable: http 503").
	robotsNote string
	// refused is set when the guard refused the origin's address.
	refused *SSRFError
	tdm     *tdmRep
}

type siteEntry struct {
	ready   chan struct{}
	info    siteInfo
	expires time.Time
}

// siteCache fetches each origin's files once (concurrent callers wait for
// the first) and keeps them until they expire.
type siteCache struct {
	mu sync.Mutex
	m  map[string]*siteEntry
}

func newSiteCache() *siteCache { return &siteCache{m: make(map[string]*siteEntry)} }

// get returns the origin's info, calling load at most once per expiry.
// A load that fails (its context ended, or the host is not due yet) is not
// cached.
func (c *siteCache) get(ctx context.Context, origin string, load func(context.Context) (siteInfo, time.Duration, error)) (siteInfo, error) {
	for {
		c.mu.Lock()
		e := c.m[origin]
		now := time.Now()
		if e != nil {
			select {
			case <-e.ready:
				if now.Before(e.expires) {
					c.mu.Unlock()
					return e.info, nil
				}
				delete(c.m, origin)
				e = nil
			default:
			}
		}
		if e == nil {
			if len(c.m) >= maxSiteEntries {
				c.evictLocked(now)
			}
			e = &siteEntry{ready: make(chan struct{})}
			c.m[origin] = e
			c.mu.Unlock()
			info, ttl, err := load(ctx)
			if err == nil && ctx.Err() != nil {
				err = context.Cause(ctx)
			}
			if err != nil {
				c.mu.Lock()
				delete(c.m, origin)
				c.mu.Unlock()
				close(e.ready)
				return siteInfo{}, err
			}
			e.info, e.expires = info, time.Now().Add(ttl)
			close(e.ready)
			return info, nil
		}
		c.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return siteInfo{}, context.Cause(ctx)
		}
	}
}

// peek returns the origin's cached, unexpired info without loading it.
func (c *siteCache) peek(origin string) (siteInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[origin]
	if e == nil {
		return siteInfo{}, false
	}
	select {
	case <-e.ready:
		if time.Now().Before(e.expires) {
			return e.info, true
		}
	default:
	}
	return siteInfo{}, false
}

func (c *siteCache) evictLocked(now time.Time) {
	for k, e := range c.m {
		select {
		case <-e.ready:
			if now.After(e.expires) || len(c.m) >= maxSiteEntries {
				delete(c.m, k)
			}
		default:
		}
		if len(c.m) < maxSiteEntries*9/10 {
			return
		}
	}
}

// tdmRep is a parsed /.well-known/tdmrep.json (W3C TDMRep): an ordered list
// of path patterns with their reservation.
type tdmRep struct {
	rules []tdmRule
}

type tdmRule struct {
	location string
	reserved bool
	policy   string
}

// parseTDMRep parses a tdmrep.json body; invalid files yield nil.
func parseTDMRep(body []byte) *tdmRep {
	var raw []struct {
		Location    string          `json:"location"`
		Reservation json.RawMessage `json:"tdm-reservation"`
		Policy      string          `json:"tdm-policy"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil
	}
	t := &tdmRep{}
	for _, r := range raw {
		if r.Location == "" {
			continue
		}
		loc := r.Location
		if !strings.HasPrefix(loc, "/") {
			loc = "/" + loc
		}
		res := strings.Trim(strings.TrimSpace(string(r.Reservation)), `"`)
		t.rules = append(t.rules, tdmRule{location: normalizeRobotsPath(loc), reserved: res == "1", policy: r.Policy})
	}
	return t
}

// match returns the first rule whose location pattern matches pathQuery.
func (t *tdmRep) match(pathQuery string) (tdmRule, bool) {
	if t == nil {
		return tdmRule{}, false
	}
	p := normalizeRobotsPath(pathQuery)
	for _, r := range t.rules {
		if robotsMatch(r.location, p) {
			return r, true
		}
	}
	return tdmRule{}, false
}

// siteFetch is one GET of a per-site file through the guarded client.
type siteFetch struct {
	status int
	body   []byte
	header http.Header
	err    error
}

// getSiteFile fetches origin+path with at most maxRedirects redirects and at
// most limit body bytes.
func getSiteFile(ctx context.Context, client *http.Client, ua, origin, path string, limit int64) siteFetch {
	req, err := http.NewRequestWithContext(withState(ctx, &reqState{limit: limit}), http.MethodGet, origin+path, nil)
	if err != nil {
		return siteFetch{err: err}
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept-Encoding", acceptEncoding)
	resp, err := client.Do(req)
	if err != nil {
		return siteFetch{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil && resp.StatusCode < 300 {
		return siteFetch{status: resp.StatusCode, err: err}
	}
	return siteFetch{status: resp.StatusCode, body: body, header: resp.Header}
}

// robotsFromFetch applies RFC 9309 section 2.3.1: 2xx parse, 3xx past the
// redirect limit and 4xx mean no restrictions, 5xx and network errors mean
// complete disallow (429 counts as unreachable, as the server is asking us
// to slow down).
func robotsFromFetch(sf siteFetch) (*Robots, string, time.Duration) {
	switch {
	case sf.err != nil:
		return RobotsDisallowAll(), "robots.txt unreachable: " + trimErr(sf.err), siteErrorTTL
	case sf.status >= 200 && sf.status < 300:
		return ParseRobots(sf.body), "", siteTTL
	case sf.status == http.StatusTooManyRequests:
		return RobotsDisallowAll(), "robots.txt unreachable: http 429", siteErrorTTL
	case sf.status >= 300 && sf.status < 500:
		return RobotsAllowAll(), "", siteTTL
	default:
		return RobotsDisallowAll(), "robots.txt unreachable: http " + strconv.Itoa(sf.status), siteErrorTTL
	}
}

// originOf returns scheme://host[:port] of u.
func originOf(u *url.URL) string {
	return u.Scheme + "://" + u.Host
}
