package storage

import (
	"bytes"
	"context"
	"math/rand"
	"testing"
	"time"
)

// TestFetchFileFromPeer: a large capture body added on a node's store is
// fetched by the coordinator's Server over bitswap, block by block.
func TestFetchFileFromPeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodeStore, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer nodeStore.Close()
	body := make([]byte, 3<<20+123) // several 1 MiB chunks
	rand.New(rand.NewSource(1)).Read(body)
	root, err := nodeStore.AddFile(ctx, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	nodeInfo := serveStore(t, nodeStore)

	coordStore, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer coordStore.Close()
	h := newHost(t)
	srv, err := Serve(ctx, h, coordStore, ServeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := h.Connect(ctx, nodeInfo); err != nil {
		t.Fatal(err)
	}
	got, err := srv.FetchFile(ctx, root, 8<<20)
	if err != nil {
		t.Fatalf("FetchFile: %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("fetched %d bytes that differ from the %d added", len(got), len(body))
	}
	if _, err := srv.FetchFile(ctx, root, 1<<20); err == nil {
		t.Error("a file over the limit was returned")
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	missing := rawCIDOf([]byte("a block no peer has"))
	if _, err := srv.FetchFile(short, missing, 8<<20); err == nil {
		t.Error("a CID no peer holds was fetched")
	}
}
