package storage

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

func TestGatewayServesRawBlocksAndCAR(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, root := publishedStore(t, 50, DatasetOptions{})
	srv, err := ServeGateway(ctx, "127.0.0.1:0", s)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	get := func(path, accept string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s%s", srv.Addr, path), nil)
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
