package network

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
)

// LoadOrCreateIdentity returns the Ed25519 private key stored at path,
// creating and saving a new one (mode 0600, parent directories 0700) when the
// file does not exist. The file holds the key in libp2p's protobuf encoding.
// A key file readable by group or others is refused, because the key is the
// peer's identity and signs everything it publishes. An empty path returns a
// fresh key that is not saved.
func LoadOrCreateIdentity(path string) (crypto.PrivKey, error) {
	if path == "" {
		return newIdentity()
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		return parseIdentity(path, data)
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, fmt.Errorf("reading identity %s: %w", path, err)
	}
	key, err := newIdentity()
	if err != nil {
		return nil, err
	}
	raw, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding new identity: %w", err)
	}
	if err := writeFileAtomic(path, raw); err != nil {
		return nil, fmt.Errorf("saving new identity: %w", err)
	}
	// Another process may have created the file at the same moment; the
	// link-based write never overwrites, so read back whichever key won.
	data, err = os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading identity %s: %w", path, err)
	}
	return parseIdentity(path, data)
}

func newIdentity() (crypto.PrivKey, error) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating Ed25519 identity: %w", err)
	}
	return key, nil
}

func parseIdentity(path string, data []byte) (crypto.PrivKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("checking identity %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("identity %s has mode %v: it must be private to its owner (run: chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	key, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("decoding identity %s (move it away to create a new one): %w", path, err)
	}
	if key.Type() != pb.KeyType_Ed25519 {
		return nil, fmt.Errorf("identity %s is a %v key; sward needs Ed25519 so that peer IDs embed their public key", path, key.Type())
	}
	return key, nil
}

// writeFileAtomic writes data to a temporary file in path's directory, syncs
// it, and links it into place only if path does not exist yet.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".identity-*")
	if err != nil {
		return fmt.Errorf("creating temporary file in %s: %w", dir, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("restricting %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("linking %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
