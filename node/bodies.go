package node

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/swardnet/sward/storage"
)

// LargeBodies is what a node needs to hand bodies over the gossip inline
// limit to the coordinator: its own block store, served over bitswap on
// the node's libp2p host, and the BlobStore that indexes the bodies and
// collects them after a TTL and beyond a size cap. Give Blobs to
// Service.SetBlobs (and Dashboard.ShowBodies); Close stops it all.
type LargeBodies struct {
	// Blobs stores and collects the bodies.
	Blobs *BlobStore

	store     *storage.Store
	server    *storage.Server
	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// OpenLargeBodies opens (creating it if needed) the block store in dir,
// serves it over bitswap on h and starts collecting, until Close.
func OpenLargeBodies(ctx context.Context, h host.Host, dir string, cfg BlobConfig) (*LargeBodies, error) {
	store, err := storage.OpenWithConfig(ctx, dir, storage.Config{Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("opening the store of large bodies: %w", err)
	}
	server, err := storage.Serve(ctx, h, store, storage.ServeConfig{})
	if err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("serving large bodies over bitswap: %w", err)
	}
	blobs, err := NewBlobStore(ctx, store, cfg)
	if err != nil {
		_ = server.Close()
		_ = store.Close()
		return nil, err
	}
	gcCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	b := &LargeBodies{Blobs: blobs, store: store, server: server, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		_ = blobs.Serve(gcCtx)
	}()
	return b, nil
}

// Close stops collecting, then serving, then closes the store. Later
// calls return the first call's result.
func (b *LargeBodies) Close() error {
	b.closeOnce.Do(func() {
		b.stop()
		<-b.done
		if err := errors.Join(b.server.Close(), b.store.Close()); err != nil {
			b.closeErr = fmt.Errorf("closing the store of large bodies: %w", err)
		}
	})
	return b.closeErr
}
