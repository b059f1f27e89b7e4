package curator

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/swardnet/sward/internal/httpserve"
)

// server is the curator UI's HTTP server: the shared timeouts, and two
// minutes to write an answer.
func (c *Curator) server() *http.Server { return httpserve.NewServer(c.Handler(), 2*time.Minute) }

// Serve serves the curator UI (Handler) on ln until ctx ends, then shuts
// down gracefully, giving requests in flight a few seconds.
func (c *Curator) Serve(ctx context.Context, ln net.Listener) error {
	return httpserve.Serve(ctx, c.server(), ln, httpserve.ShutdownGrace, "the curator UI")
}
