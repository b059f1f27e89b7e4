package curator

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// LoadOrCreateKey reads a libp2p private key (protobuf encoding, as
// crypto.MarshalPrivateKey writes it) from path, or creates an Ed25519 key
// there, readable only by its owner.
func LoadOrCreateKey(path string) (crypto.PrivKey, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		k, err := crypto.UnmarshalPrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("reading curator key %s: %w (move it away to create a new identity)", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading curator key %s: %w", path, err)
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("creating curator key: %w", err)
	}
	data, err = crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encoding curator key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating curator key directory: %w", err)
	}
	// Written to a temporary file, synced and renamed, so a crash never
	// leaves half a key behind.
	if err := renameio.WriteFile(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("writing curator key %s: %w", path, err)
	}
	return k, nil
}

// newNonce returns 16 random bytes in hex.
func newNonce() string {
	var b [16]byte
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// verify checks that sig over msg was made by the key behind peer ID signer.
// Only Ed25519 identities, whose peer ID embeds the public key, are
// accepted: a signer can then be checked without any key directory.
func verify(signer string, msg, sig []byte) error {
	id, err := peer.Decode(signer)
	if err != nil {
		return fmt.Errorf("%w: signer %q is not a peer id: %v", ErrForged, signer, err)
	}
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: no public key in peer id %s: %v", ErrForged, signer, err)
	}
	if pub.Type() != crypto.Ed25519 {
		return fmt.Errorf("%w: peer id %s is not an Ed25519 identity", ErrForged, signer)
	}
	ok, err := pub.Verify(msg, sig)
	if err != nil || !ok {
		return fmt.Errorf("%w: by %s", ErrForged, signer)
	}
	return nil
}
