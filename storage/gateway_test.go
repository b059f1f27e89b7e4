package storage

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestGatewayServesRawBlocksAndCAR(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, root := publishedStore(t, 50, DatasetOptions{})
	addr := serveGateway(t, ctx, s)
	get := func(path, accept string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s%s", addr, path), nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	resp := get("/ipfs/"+root.String(), "application/vnd.ipld.car")
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("CAR request: %s %s", resp.Status, b)
	}
	dst, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	roots, err := dst.ImportCAR(ctx, resp.Body)
	resp.Body.Close()
	if err != nil || len(roots) != 1 || !roots[0].Equals(root) {
		t.Fatalf("importing gateway CAR: %v, %v", roots, err)
	}
	m, err := dst.Manifest(ctx, root)
	if err != nil || m.Rows != 50 {
		t.Fatalf("manifest from gateway CAR: %+v, %v", m, err)
	}

	leaf := firstLeaf(t, s, m.Shards[0].CID)
	resp = get("/ipfs/"+leaf.String(), "application/vnd.ipld.raw")
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("raw request: %s", resp.Status)
	}
	if got, _ := leaf.Prefix().Sum(data); !got.Equals(leaf) {
		t.Fatalf("raw block from gateway hashes to %s, want %s", got, leaf)
	}

	// Deserialised responses are off: this is a trustless gateway.
	resp = get("/ipfs/"+root.String()+"/manifest.json", "text/html")
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatalf("gateway served a deserialised file; want it refused")
	}
}

// serveGateway serves a gateway over s on a loopback port until the test
// ends, and returns its address.
func serveGateway(t *testing.T, ctx context.Context, s *Store) string {
	t.Helper()
	g, err := NewGateway(s)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("gateway Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func TestGatewayServerTimeouts(t *testing.T) {
	s, _ := publishedStore(t, 1, DatasetOptions{})
	g, err := NewGateway(s)
	if err != nil {
		t.Fatal(err)
	}
	srv := g.server()
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Errorf("gateway server timeouts: header %v, read %v, idle %v; want all set", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout)
	}
	// CAR responses can be any size: a write timeout would cut slow pulls.
	if srv.WriteTimeout != 0 {
		t.Errorf("gateway WriteTimeout = %v, want none", srv.WriteTimeout)
	}
}

func TestGatewayServeStopsOnCancel(t *testing.T) {
	s, root := publishedStore(t, 1, DatasetOptions{})
	g, err := NewGateway(s)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/ipfs/" + root.String() + "?format=car")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CAR request: %s", resp.Status)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gateway Serve did not return after its context was cancelled")
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/ipfs/" + root.String()); err == nil {
		t.Error("gateway still answers after Serve returned")
	}
}
