// Package httpserve runs an HTTP server until its context ends: the one
// serve-and-shut-down loop behind every HTTP surface's Serve (job API,
// feed, node dashboard, curator UI, storage gateway).
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// The timeouts every surface shares: a slow or silent client cannot hold
// a connection (or a goroutine) open for ever.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = time.Minute
	IdleTimeout       = 2 * time.Minute
	// ShutdownGrace is how long requests in flight get at shutdown.
	ShutdownGrace = 5 * time.Second
)

// NewServer returns a server for h with the shared timeouts and
// writeTimeout (0: none, for streams and downloads of any size).
func NewServer(h http.Handler, writeTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       IdleTimeout,
	}
}

// Serve runs srv on ln until ctx ends, then shuts it down: requests in
// flight get grace to finish, and connections still open after that are
// closed, so no handler is left writing after Serve returns. what names
// the surface in errors ("the job API").
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration, what string) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving %s on %s: %w", what, ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		if !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("shutting down %s on %s: %w", what, ln.Addr(), err)
		}
		// A request outlived the grace period (a long download, a
		// stream): cut it rather than leave it running.
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving %s on %s: %w", what, ln.Addr(), err)
	}
	return nil
}
