package site

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// Site is the generated website: one HTTP server per host on loopback.
// Content is a pure function of the config and the host addresses, so two
// Sites with the same config and addresses serve byte-identical pages.
type Site struct {
	cfg   Config
	hosts []*hostPlan
	log   *slog.Logger

	mu      sync.Mutex
	addrs   []string // "127.0.0.10:8480", ...; ports are final after Start
	servers []*http.Server
	done    chan struct{} // closed by Close; stops the ctx watcher
	wg      sync.WaitGroup
	closed  bool

	graphMu sync.Mutex
	graph   map[ref][]ref // in-site links of each finite HTML page, filled lazily
}

// New lays out the site. It does not listen; call Start.
func New(cfg Config) (*Site, error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hosts, err := plan(cfg)
	if err != nil {
		return nil, fmt.Errorf("laying out the example site: %w", err)
	}
	s := &Site{cfg: cfg, hosts: hosts, log: slog.Default(), graph: make(map[ref][]ref)}
	s.addrs = make([]string, cfg.Hosts)
	for i := range s.addrs {
		s.addrs[i] = net.JoinHostPort(hostIP(i), strconv.Itoa(cfg.Port))
	}
	return s, nil
}

// hostIP is the loopback address of host i.
func hostIP(i int) string { return "127.0.0." + strconv.Itoa(10+i) }

// Config returns the config the site was built with, defaults applied.
func (s *Site) Config() Config { return s.cfg }

// Start binds every host and serves until Close is called or ctx ends. It
// returns once all hosts are listening; if any host cannot bind, none stays
// open. With Config.Port 0 the addresses (Hosts, Seeds, JobSpec, Reachable)
// are only final after Start.
func (s *Site) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.servers != nil || s.closed {
		return errors.New("example site: Start called twice or after Close")
	}
	var lc net.ListenConfig
	listeners := make([]net.Listener, 0, len(s.hosts))
	addrs := make([]string, len(s.hosts))
	for i := range s.hosts {
		ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(hostIP(i), strconv.Itoa(s.cfg.Port)))
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return fmt.Errorf("example site: listening for host %d on %s: %w (Linux routes all of 127.0.0.0/8 to loopback; elsewhere add the alias or use fewer hosts)", i, hostIP(i), err)
		}
		listeners = append(listeners, ln)
		addrs[i] = ln.Addr().String()
	}
	s.addrs = addrs
	s.done = make(chan struct{})
	for i, ln := range listeners {
		srv := &http.Server{
			Handler:           s.handler(i),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		}
		s.servers = append(s.servers, srv)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("example site: serving stopped", logkey.URL, "http://"+ln.Addr().String(), logkey.Err, err)
			}
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-ctx.Done():
			s.shutdown()
		case <-s.done:
		}
	}()
	s.log.Debug("example site listening", "hosts", len(addrs), logkey.URL, "http://"+addrs[0]+"/")
	return nil
}

// shutdown closes every server; safe to call more than once.
func (s *Site) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.done != nil {
		close(s.done)
	}
	for _, srv := range s.servers {
		srv.Close()
	}
}

// Close stops every host and waits for the servers to return. It is safe to
// call more than once and without Start.
func (s *Site) Close() error {
	s.shutdown()
	s.wg.Wait()
	return nil
}

// Hosts lists the host addresses, "127.0.0.10:8480", ..., in host order.
func (s *Site) Hosts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.addrs...)
}

// Seeds lists one home page URL per host.
func (s *Site) Seeds() []string {
	addrs := s.Hosts()
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = "http://" + a + "/"
	}
	return out
}

// Sitemaps lists the sitemap URL of every host (robots.txt names them too).
func (s *Site) Sitemaps() []string {
	addrs := s.Hosts()
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = "http://" + a + pathSitemap
	}
	return out
}

// JobSpec returns a job over the whole site: every home page as a seed, every
// sitemap, and exactly the site's hosts in scope, with the politeness the
// demo uses (one connection per host, 200 ms apart). name must be a valid
// job name (lowercase letters, digits, '.', '_', '-').
func (s *Site) JobSpec(name string, maxDepth, maxPages int) *schemas.JobSpec {
	return &schemas.JobSpec{
		Version:  schemas.JobSpecVersion,
		Name:     name,
		Dataset:  name,
		Seeds:    s.Seeds(),
		Sitemaps: s.Sitemaps(),
		Scope:    schemas.Scope{Domains: s.Hosts()},
		MaxDepth: maxDepth,
		MaxPages: maxPages,
		Politeness: schemas.Politeness{
			MinDelay:       schemas.Duration(200 * time.Millisecond),
			MaxConcurrency: 1,
		},
		TDMPolicy:        schemas.TDMSkip,
		VerifySampleRate: 0.05,
	}
}

// handler serves host i.
func (s *Site) handler(i int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		resp := s.respond(s.Hosts(), i, r.URL.Path)
		for k, v := range resp.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(resp.body)))
		w.WriteHeader(resp.status)
		if r.Method != http.MethodHead {
			if _, err := w.Write(resp.body); err != nil {
				s.log.Debug("example site: client went away", logkey.URL, r.URL.String(), logkey.Err, err)
			}
		}
	})
}

// respond renders path on host i for the given host addresses.
func (s *Site) respond(addrs []string, host int, path string) *response {
	p := s.hosts[host].lookup(path)
	if p == nil {
		return s.renderNotFound(addrs, host)
	}
	switch p.kind {
	case KindIndex:
		if p.path == pathHome {
			return s.renderHome(addrs, p)
		}
		return s.renderSection(addrs, p)
	case KindArticle, KindPII, KindDuplicate, KindOptOut:
		return s.renderArticle(addrs, p)
	case KindJunk:
		return s.renderJunk(addrs, p)
	case KindStatic:
		return s.renderStatic(addrs, p)
	case KindDisallowed, KindHidden:
		return s.renderPrivate(addrs, p)
	case KindTrap:
		return s.renderCalendar(addrs, p)
	case KindResource:
		return s.resource(p)
	case KindRobots:
		return s.robotsTxt(addrs, host)
	case KindSitemap:
		return s.sitemapXML(addrs, host)
	case KindRedirect:
		h := http.Header{}
		h.Set("Location", "http://"+addrs[host]+p.location)
		h.Set("Content-Type", "text/html; charset=utf-8")
		return &response{status: http.StatusMovedPermanently, header: h,
			body: []byte("<!DOCTYPE html>\n<title>Moved</title>\n<p>Moved <a href=\"" + p.location + "\">here</a>.</p>\n")}
	}
	return s.renderNotFound(addrs, host)
}
