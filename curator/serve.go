package curator

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/swardnet/sward/internal/httpserve"
)

// HTTP timeouts of the curator UI: a slow or silent client cannot hold a
// connection (or a goroutine) open for ever.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	writeTimeout      = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 5 * time.Second
)

// server is the curator UI's HTTP server, with its timeouts.
func (c *Curator) server() *http.Server {
	return &http.Server{
		Handler:           c.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
	}
}

// Serve serves the curator UI (Handler) on ln until ctx ends, then shuts
// down gracefully, giving requests in flight a few seconds.
func (c *Curator) Serve(ctx context.Context, ln net.Listener) error {
	return httpserve.Serve(ctx, c.server(), ln, shutdownTimeout, "the curator UI")
}
