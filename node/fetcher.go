package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gocolly/colly/v2"
	"golang.org/x/time/rate"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/internal/retryafter"
	"github.com/swardnet/sward/schemas"
)

// allowedTypes is the content-type allowlist.
var allowedTypes = map[string]bool{"text/html": true, "application/xhtml+xml": true, "text/plain": true}

// Fetcher fetches leased URLs with colly under sward's guards and the
// operator's caps. It is safe for concurrent use; Close it to persist the
// monthly usage.
type Fetcher struct {
	cfg       Config
	guard     *ipGuard
	hours     ActiveHours
	blocklist []string
	log       *slog.Logger

	collector *colly.Collector
	site      *http.Client // robots.txt and tdmrep.json
	transport *guardedTransport
	meter     *Meter
	hosts     *hosts
	sites     *siteCache
	global    chan struct{}
	mem       *memBudget

	mu      sync.Mutex
	paused  bool
	changed chan struct{} // closed and replaced on pause/resume
}

// NewFetcher builds a fetcher from cfg (defaults are filled in).
func NewFetcher(cfg Config) (*Fetcher, error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hours, _ := ParseActiveHours(cfg.ActiveHours)
	guard, err := newIPGuard(cfg.AllowPrivate, cfg.allowedTestPrefixes)
	if err != nil {
		return nil, fmt.Errorf("node fetcher: %w", err)
	}
	meter, err := newMeter(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("node fetcher: %w", err)
	}
	var limiter *rate.Limiter
	if cfg.BandwidthBytesPerSec > 0 {
		burst := int(min(max(cfg.BandwidthBytesPerSec/4, 1024), 256<<10))
		limiter = rate.NewLimiter(rate.Limit(cfg.BandwidthBytesPerSec), burst)
	}
	f := &Fetcher{
		cfg:     cfg,
		guard:   guard,
		hours:   hours,
		log:     cfg.Logger.With("component", "fetcher"),
		meter:   meter,
		hosts:   newHosts(),
		sites:   newSiteCache(),
		global:  make(chan struct{}, cfg.MaxConcurrency),
		mem:     newMemBudget(cfg.MemoryBudgetBytes - siteReserve(cfg.MaxConcurrency)),
		changed: make(chan struct{}),
	}
	for _, d := range cfg.Blocklist {
		f.blocklist = append(f.blocklist, normDomain(d))
	}
	dialer := newGuardedDialer(guard, cfg.resolver, cfg.ConnectTimeout)
	dialer.dial = cfg.dialHook
	if cfg.LocalAddr != "" {
		dialer.dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(cfg.LocalAddr)}
	}
	f.transport = newGuardedTransport(cfg, dialer, limiter, meter.addBytes)

	// colly drives the page fetch. Its own robots handling (off by
	// default, no crawl-delay), its cookie jar, its shared per-glob limits
	// and its queue are all left unused: the fetcher does those per host.
	c := colly.NewCollector()
	c.UserAgent = cfg.UserAgent
	c.IgnoreRobotsTxt = true
	c.AllowURLRevisit = true
	c.ParseHTTPErrorResponse = true
	c.DetectCharset = false
	c.MaxBodySize = 0 // the transport caps (and detects truncation)
	c.CacheDir = ""
	c.Async = false
	c.WithTransport(f.transport)
	c.DisableCookies()
	c.SetRequestTimeout(cfg.TotalTimeout)
	c.SetRedirectHandler(f.checkRedirect)
	f.collector = c

	f.site = &http.Client{
		Transport: f.transport,
		Timeout:   cfg.TotalTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			// RFC 9309 section 2.3.1.2: follow at least five redirects;
			// past that the file counts as unavailable (a 3xx answer).
			if len(via) > 5 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	return f, nil
}

// Meter returns the fetcher's contribution meter.
func (f *Fetcher) Meter() *Meter { return f.meter }

// Config returns the effective configuration.
func (f *Fetcher) Config() Config { return f.cfg }

// Pause stops new fetches from starting; fetches in flight finish.
func (f *Fetcher) Pause() { f.setPaused(true) }

// Resume lets fetches start again.
func (f *Fetcher) Resume() { f.setPaused(false) }

// Paused reports whether the operator paused the node.
func (f *Fetcher) Paused() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.paused
}

func (f *Fetcher) setPaused(p bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.paused == p {
		return
	}
	f.paused = p
	close(f.changed)
	f.changed = make(chan struct{})
	f.log.Info("fetcher pause changed", "paused", p)
}

// Close persists the monthly usage. Fetches still running keep counting,
// so call it after they stop.
func (f *Fetcher) Close() error {
	f.transport.base.CloseIdleConnections()
	return f.meter.maybeSave(0)
}

// Gate states reported on the dashboard.
const (
	GateOpen        = "running"
	GatePaused      = "paused"
	GateOutsideHour = "outside-active-hours"
	GateMonthlyCap  = "monthly-cap-reached"
)

// gate returns why fetching may not start now, the time it may (zero when
// only an operator action can reopen it), and a channel closed on
// pause/resume.
func (f *Fetcher) gate(now time.Time) (state string, until time.Time, changed <-chan struct{}) {
	f.mu.Lock()
	paused, ch := f.paused, f.changed
	f.mu.Unlock()
	switch {
	case paused:
		return GatePaused, time.Time{}, ch
	case f.cfg.MonthlyCapBytes > 0 && f.meter.monthBytes() >= f.cfg.MonthlyCapBytes:
		y, m, _ := now.UTC().Date()
		return GateMonthlyCap, time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC), ch
	case !f.hours.Contains(now):
		return GateOutsideHour, f.hours.Next(now), ch
	}
	return GateOpen, time.Time{}, ch
}

// State reports whether the fetcher is running, paused, outside its active
// hours or over its monthly cap.
func (f *Fetcher) State() string {
	s, _, _ := f.gate(time.Now())
	return s
}

// waitOpen blocks until fetching may start or ctx ends.
func (f *Fetcher) waitOpen(ctx context.Context) error {
	for {
		state, until, changed := f.gate(time.Now())
		if state == GateOpen {
			return nil
		}
		var timer <-chan time.Time
		var t *time.Timer
		if !until.IsZero() {
			t = time.NewTimer(time.Until(until) + 50*time.Millisecond)
			timer = t.C
		}
		var err error
		select {
		case <-ctx.Done():
			err = context.Cause(ctx)
		case <-changed:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
		if err != nil {
			return err
		}
	}
}

// blocked reports whether host is on the blocklist (or under a listed
// domain).
func (f *Fetcher) blocked(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, d := range f.blocklist {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// checkURL vets a URL before any request: scheme, length, host,
// credentials, blocklist, and literal addresses the guard would refuse
// anyway.
func (f *Fetcher) checkURL(u *url.URL) error {
	if n := len(u.String()); n > MaxURLBytes {
		return failf(ReasonBadURL, "URL of %d bytes is longer than %d", n, MaxURLBytes)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return failf(ReasonScheme, "%q is not http or https", u.Scheme)
	}
	if u.Hostname() == "" {
		return failf(ReasonBadURL, "no host")
	}
	if u.User != nil {
		return failf(ReasonBadURL, "URL carries credentials; sward never sends them")
	}
	if err := checkPort(u.Port()); err != nil {
		return failf(ReasonPort, "%s", err.Error())
	}
	if f.blocked(u.Hostname()) {
		return failf(ReasonBlocklist, "%s is on the operator's blocklist", u.Hostname())
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		if err := f.guard.check(ip); err != nil {
			return err
		}
	}
	return nil
}

// Fetch fetches one leased URL under every guard and cap and returns an
// unsigned capture; it never returns nil. On failure Capture.Error holds a
// reason code and detail ("robots: disallowed by /private/"). It blocks
// while the node is paused, outside its active hours or over its monthly
// cap, and while the node's memory budget is full, until ctx ends. The
// capture no longer counts against the memory budget once Fetch returns;
// a caller that keeps captures a while uses FetchHeld.
func (f *Fetcher) Fetch(ctx context.Context, item schemas.LeaseItem, budget schemas.HostBudget) *schemas.Capture {
	c, release := f.FetchHeld(ctx, item, budget)
	release()
	return c
}

// FetchHeld is Fetch for a caller that keeps the capture (to sign and
// publish it): the bytes the capture holds (body, outlinks, lastmod
// entries) stay counted against the node's memory budget until release is
// called. release may be called more than once.
func (f *Fetcher) FetchHeld(ctx context.Context, item schemas.LeaseItem, budget schemas.HostBudget) (*schemas.Capture, func()) {
	var hold *memHold
	c := f.fetchCapture(ctx, item, budget, &hold)
	return c, hold.release
}

// MemoryStats reports the node-wide memory budget: what is reserved now,
// the peak, and how many fetches wait for memory.
func (f *Fetcher) MemoryStats() MemoryStats {
	return MemoryStats{
		Budget:   f.cfg.MemoryBudgetBytes,
		Reserved: f.mem.stat.Load(),
		Peak:     f.mem.peak.Load(),
		Waiting:  f.mem.waiting.Load(),
	}
}

func (f *Fetcher) fetchCapture(ctx context.Context, item schemas.LeaseItem, budget schemas.HostBudget, hold **memHold) *schemas.Capture {
	c := &schemas.Capture{Version: schemas.CaptureVersion, JobID: item.JobID, URL: item.URL, Depth: item.Depth}
	id := f.meter.begin(item.URL, item.JobID)
	defer func() {
		f.meter.end(id)
		if c.FetchedAt.IsZero() {
			c.FetchedAt = time.Now().UTC()
		}
		f.meter.done(c.Error)
		if err := f.meter.maybeSave(5 * time.Second); err != nil {
			f.log.Warn("saving monthly usage", logkey.Err, err)
		}
		if c.Error != "" {
			f.log.Debug("fetch failed", logkey.Job, item.JobID, logkey.URL, item.URL, logkey.Err, c.Error)
		}
	}()
	if err := f.fetch(ctx, id, c, item, budget, hold); err != nil {
		c.Error = classifyErr(ctx, err, &f.cfg).Error()
	}
	return c
}

func (f *Fetcher) fetch(ctx context.Context, id uint64, c *schemas.Capture, item schemas.LeaseItem, budget schemas.HostBudget, hold **memHold) error {
	u, err := url.Parse(item.URL)
	if err != nil {
		return failf(ReasonBadURL, "%v", err)
	}
	u.Fragment, u.RawFragment = "", ""
	if err := f.checkURL(u); err != nil {
		return err
	}
	f.meter.setPhase(id, "waiting")
	if err := f.waitOpen(ctx); err != nil {
		return err
	}

	h := f.hosts.get(u.Host)
	defer f.hosts.put(h)
	f.meter.setPhase(id, "host-slot")
	if err := h.acquire(ctx, budget.MaxConcurrency); err != nil {
		return err
	}
	delay := max(time.Duration(budget.MinDelay), f.cfg.MinHostDelay)
	defer func() { h.release(delay) }()

	f.meter.setPhase(id, "robots")
	info, err := f.siteInfo(ctx, u, h, delay, true)
	if err != nil {
		return err
	}
	if info.refused != nil {
		return info.refused
	}
	if ok, rule := info.robots.Allowed(RobotsToken, u.RequestURI()); !ok {
		if info.robotsNote != "" {
			return failf(ReasonRobots, "%s", info.robotsNote)
		}
		return failf(ReasonRobots, "disallowed by %s", strings.TrimPrefix(rule, "disallow: "))
	}
	delay = max(delay, info.robots.CrawlDelay(RobotsToken))

	var res *attempt
	for try := 0; ; try++ {
		f.meter.setPhase(id, "polite-wait")
		if err := h.pace(ctx, delay, f.cfg.MaxRetryWait); err != nil {
			return err
		}
		res = f.attemptOnce(ctx, id, u)
		if res.status == http.StatusTooManyRequests || res.status == http.StatusServiceUnavailable {
			wait := h.overloaded(retryAfter(res.header.Get("Retry-After")))
			if try < f.cfg.MaxRetries && wait <= f.cfg.MaxRetryWait {
				f.log.Debug("host overloaded; backing off", logkey.URL, item.URL, "status", res.status, "wait", wait)
				res.hold.release()
				continue // pace waits out the backoff
			}
			break
		}
		if fe := asFetchError(ctx, res.err, &f.cfg); fe != nil && fe.transient && try < f.cfg.MaxRetries {
			res.hold.release()
			f.meter.setPhase(id, "retry-wait")
			if err := sleepCtx(ctx, retryDelay(try)); err != nil {
				return err
			}
			continue
		}
		if res.status > 0 && res.status < 500 {
			h.healthy()
		}
		break
	}
	err = f.fill(c, u, res, info)
	// From here on only what the capture holds stays reserved.
	res.hold.shrink(captureBytes(c))
	*hold = res.hold
	return err
}

// captureBytes is what a capture holds against the memory budget: its
// body, its outlinks and their lastmod entries.
func captureBytes(c *schemas.Capture) int64 {
	n := int64(len(c.Body)) + int64(len(c.OutlinkLastMod))*lastModEntryBytes
	for _, l := range c.Outlinks {
		n += int64(len(l))
	}
	return n
}

// cutUTF8 cuts a decoded body to at most limit bytes, at a character
// boundary: transcoding can make a body longer than the bytes read (a
// windows-1252 letter becomes two or three UTF-8 bytes), and the body cap
// holds for what the capture keeps. It reports whether it cut.
func cutUTF8(b []byte, limit int64) ([]byte, bool) {
	if int64(len(b)) <= limit {
		return b, false
	}
	n := int(limit)
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return b[:n], true
}

// asFetchError classifies err, or returns nil for nil.
func asFetchError(ctx context.Context, err error, cfg *Config) *fetchError {
	if err == nil {
		return nil
	}
	return classifyErr(ctx, err, cfg)
}

// siteInfo returns (fetching if needed, under the host's pacing) the
// origin's robots.txt and TDMRep file. takeGlobal is false when the caller
// already holds a global slot (a redirect check inside a request), so a
// node with one slot cannot deadlock on itself.
func (f *Fetcher) siteInfo(ctx context.Context, u *url.URL, h *hostState, delay time.Duration, takeGlobal bool) (siteInfo, error) {
	origin := originOf(u)
	get := func(ctx context.Context, path string, limit int64) siteFetch {
		if takeGlobal {
			if !f.acquireGlobal(ctx) {
				return siteFetch{err: context.Cause(ctx)}
			}
			defer f.releaseGlobal()
		}
		return getSiteFile(ctx, f.site, f.cfg.UserAgent, origin, path, limit)
	}
	return f.sites.get(ctx, origin, func(ctx context.Context) (siteInfo, time.Duration, error) {
		var info siteInfo
		var ttl time.Duration
		if err := h.pace(ctx, delay, f.cfg.MaxRetryWait); err != nil {
			return siteInfo{}, 0, err
		}
		rf := get(ctx, "/robots.txt", MaxRobotsBytes)
		info.robots, info.robotsNote, ttl = robotsFromFetch(rf)
		if se, ok := asSSRF(rf.err); ok {
			info.refused = se
		}
		if ok, _ := info.robots.Allowed(RobotsToken, "/.well-known/tdmrep.json"); ok && rf.err == nil {
			if err := h.pace(ctx, max(delay, info.robots.CrawlDelay(RobotsToken)), f.cfg.MaxRetryWait); err == nil {
				tf := get(ctx, "/.well-known/tdmrep.json", maxTDMRepBytes)
				if tf.err == nil && tf.status >= 200 && tf.status < 300 {
					info.tdm = parseTDMRep(tf.body)
				}
			}
		}
		return info, ttl, nil
	})
}

func (f *Fetcher) acquireGlobal(ctx context.Context) bool {
	select {
	case f.global <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (f *Fetcher) releaseGlobal() { <-f.global }

// attempt is the outcome of one request (after redirects).
type attempt struct {
	st       *reqState
	status   int
	header   http.Header
	body     []byte
	finalURL string
	err      error
	// hold is the attempt's share of the memory budget (nil when none was
	// reserved).
	hold *memHold
}

// attemptOnce runs one colly request for u. It first reserves the
// request's worst case from the memory budget (waiting while the budget is
// full), then a global slot; the transport lowers the reservation to an
// uncompressed body's Content-Length.
func (f *Fetcher) attemptOnce(ctx context.Context, id uint64, u *url.URL) *attempt {
	st := &reqState{limit: f.cfg.MaxBodyBytes}
	f.meter.setPhase(id, "memory-wait")
	hold, err := f.mem.reserve(ctx, pageReserve(f.cfg.MaxBodyBytes, u))
	if err != nil {
		return &attempt{st: st, err: err}
	}
	st.mem, st.links = hold, linkAllowance(u)
	st.covered.Store(f.cfg.MaxBodyBytes)
	f.meter.setPhase(id, "fetching")
	if !f.acquireGlobal(ctx) {
		hold.release()
		return &attempt{st: st, err: context.Cause(ctx)}
	}
	defer f.releaseGlobal()
	actx, cancel := context.WithTimeout(ctx, f.cfg.TotalTimeout)
	defer cancel()

	cc := f.collector.Clone()
	cc.Context = withState(actx, st)
	res := &attempt{st: st, hold: hold}
	cc.OnResponseHeaders(func(r *colly.Response) {
		res.finalURL = r.Request.URL.String()
		if r.StatusCode < 200 || r.StatusCode > 299 {
			// No body is needed for a failure; abort before reading it.
			st.setFail(statusErr(r.StatusCode))
			r.Request.Abort()
			return
		}
		ct := r.Headers.Get("Content-Type")
		if ct != "" && !allowedTypes[ct] && !(sitemapTypes[ct] && isSitemapURL(r.Request.URL)) {
			st.setFail(failf(ReasonContentType, "%s", ct))
			r.Request.Abort()
		}
	})
	cc.OnResponse(func(r *colly.Response) {
		res.body = r.Body
		res.finalURL = r.Request.URL.String()
	})
	hdr := http.Header{}
	hdr.Set("User-Agent", f.cfg.UserAgent)
	hdr.Set("Accept", "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1")
	hdr.Set("Accept-Encoding", acceptEncoding)
	err = cc.Request(http.MethodGet, u.String(), nil, nil, hdr)

	st.mu.Lock()
	res.status, res.header = st.status, st.header
	st.mu.Unlock()
	if fail := st.failure(); fail != nil {
		res.err = fail
	} else if err != nil {
		res.err = err
	}
	return res
}

func statusErr(code int) *fetchError {
	fe := failf(ReasonHTTP, "%d", code)
	fe.transient = code == http.StatusBadGateway || code == http.StatusGatewayTimeout
	if code >= 300 && code < 400 {
		fe = failf(ReasonRedirect, "http %d not followed", code)
	}
	return fe
}

// checkRedirect is colly's redirect policy: at most 10 hops, no loops, only
// http(s), nothing blocklisted or forbidden by robots.txt. The dial-time
// guard still vets the address each hop resolves to.
func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return failf(ReasonRedirect, "more than 10 redirects (last to %s)", req.URL)
	}
	next := req.URL.String()
	for _, v := range via {
		if v.URL.String() == next {
			return failf(ReasonRedirect, "loop back to %s", next)
		}
	}
	if err := f.checkURL(req.URL); err != nil {
		return err
	}
	req.Header.Del("Authorization")
	req.Header.Del("Cookie")
	// A redirect to another origin must respect that origin's robots.txt.
	if originOf(req.URL) != originOf(via[len(via)-1].URL) {
		h := f.hosts.get(req.URL.Host)
		info, err := f.siteInfo(req.Context(), req.URL, h, f.cfg.MinHostDelay, false)
		f.hosts.put(h)
		if err != nil {
			return err
		}
		if info.refused != nil {
			return info.refused
		}
		if ok, rule := info.robots.Allowed(RobotsToken, req.URL.RequestURI()); !ok {
			if info.robotsNote != "" {
				return failf(ReasonRobots, "redirect target: %s", info.robotsNote)
			}
			return failf(ReasonRobots, "redirect target %s disallowed by %s", req.URL.Host, strings.TrimPrefix(rule, "disallow: "))
		}
	}
	if st := stateFrom(req.Context()); st != nil {
		st.mu.Lock()
		st.redirects = append(st.redirects, next)
		st.mu.Unlock()
	}
	return nil
}

// retryAfter parses a Retry-After header (seconds or an HTTP date; see
// internal/retryafter); an invalid or missing one waits 0.
func retryAfter(v string) time.Duration {
	d, _ := retryafter.Parse(v, time.Now())
	return d
}

// finalSiteInfo returns the site info of the page's final origin: info
// itself when the page was not redirected to another origin, otherwise
// what the redirect check cached for the target origin (it reads the
// target's robots.txt before following). It reports false when nothing is
// cached.
func (f *Fetcher) finalSiteInfo(u, final *url.URL, info siteInfo) (siteInfo, bool) {
	if originOf(final) == originOf(u) {
		return info, true
	}
	return f.sites.peek(originOf(final))
}

// fill turns an attempt into the capture's fields.
func (f *Fetcher) fill(c *schemas.Capture, u *url.URL, res *attempt, info siteInfo) error {
	c.FetchedAt = time.Now().UTC()
	c.Status = res.status
	res.st.mu.Lock()
	redirected := len(res.st.redirects) > 0
	res.st.mu.Unlock()
	if redirected && res.finalURL != "" {
		c.FinalURL = res.finalURL
	}
	if res.header != nil {
		c.Headers = make(map[string]string)
		for _, k := range schemas.KeptHeaders {
			if vs := res.header.Values(k); len(vs) > 0 {
				c.Headers[k] = strings.Join(vs, ", ")
			}
		}
		if len(c.Headers) == 0 {
			c.Headers = nil
		}
	}
	rawCT := ""
	if res.header != nil {
		rawCT = res.header.Get("Content-Type")
	}
	mt, _, perr := mime.ParseMediaType(rawCT)
	if perr != nil {
		mt = ""
	}
	c.ContentType = mt
	if res.err != nil {
		return res.err
	}
	if res.status == 0 {
		return errors.New("no response")
	}
	if mt == "" {
		mt, _, _ = mime.ParseMediaType(http.DetectContentType(res.body))
		if !allowedTypes[mt] {
			return failf(ReasonContentType, "%s (sniffed; no Content-Type header)", mt)
		}
		c.ContentType = mt
	}
	final := u
	if c.FinalURL != "" {
		if fu, err := url.Parse(c.FinalURL); err == nil {
			final = fu
		}
	}
	if sitemapTypes[mt] {
		if !isSitemapURL(final) {
			return failf(ReasonContentType, "%s", mt)
		}
		body, cs := decodeBody(res.body, decodeCTOf(rawCT, mt))
		body, cut := cutUTF8(body, f.cfg.MaxBodyBytes)
		c.Body, c.Charset = body, cs
		c.BodySize = int64(len(body))
		c.BodySHA256 = schemas.SHA256Hex(body)
		c.Truncated = res.st.truncated.Load() || cut
		c.Outlinks, c.OutlinkLastMod = sitemapLinks(body, final, linkAllowance(u))
		return nil
	}
	isHTML := mt != "text/plain"
	decodeCT := rawCT
	if decodeCT == "" {
		decodeCT = mt
	}
	body, cs := decodeBody(res.body, decodeCT)
	body, cut := cutUTF8(body, f.cfg.MaxBodyBytes)
	c.Body = body
	c.Charset = cs
	c.BodySize = int64(len(body))
	c.BodySHA256 = schemas.SHA256Hex(body)
	c.Truncated = res.st.truncated.Load() || cut
	var meta pageMeta
	if isHTML {
		meta = parseHTML(body, final)
		c.Outlinks = meta.outlinks
	}
	o := &c.OptOut
	o.NoAI, o.NoIndex, o.TDMReserved, o.TDMPolicy, o.ContentUsage = optOutSignals(res.header, meta, info.tdm, final.RequestURI())
	// Content-Usage rules in robots.txt add to the header and meta tag; a
	// reader honours the most restrictive preference of the lot.
	if fi, ok := f.finalSiteInfo(u, final, info); ok && fi.robots != nil {
		if ru := fi.robots.ContentUsage(RobotsToken, final.RequestURI()); ru != "" {
			if o.ContentUsage != "" {
				o.ContentUsage += ", "
			}
			o.ContentUsage += ru
		}
	}
	if noFollow(res.header, meta) {
		// The page asked crawlers not to follow its links.
		c.Outlinks = nil
	}
	return nil
}
