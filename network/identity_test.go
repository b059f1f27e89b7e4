package network

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestIdentityPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "identity.key")

	cfg := testConfig()
	cfg.KeyFile = path
	h1, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	id1 := h1.ID()
	if err := h1.Close(); err != nil {
		t.Fatalf("closing first host: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("identity file not written: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("identity file mode %v, want 0600", st.Mode().Perm())
	}

	h2 := newTestHost(t, cfg)
	if h2.ID() != id1 {
		t.Fatalf("peer ID changed across restart: %s then %s", id1, h2.ID())
	}
	want, err := peer.IDFromPrivateKey(h2.Key())
	if err != nil || want != id1 {
		t.Fatalf("Key() does not match ID(): %v %s", err, want)
	}

	eph := newTestHost(t, testConfig())
	if eph.ID() == id1 {
		t.Fatal("ephemeral host reused the persisted identity")
	}
}

func TestLoadOrCreateIdentityRefusesBadFiles(t *testing.T) {
	secp, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secpRaw, err := crypto.MarshalPrivateKey(secp)
	if err != nil {
		t.Fatal(err)
	}
	ed, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edRaw, err := crypto.MarshalPrivateKey(ed)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    []byte
		mode    os.FileMode
		wantErr bool
	}{
		{"valid ed25519", edRaw, 0o600, false},
		{"world readable", edRaw, 0o644, true},
		{"group readable", edRaw, 0o640, true},
		{"garbage", []byte("not a key"), 0o600, true},
		{"empty", nil, 0o600, true},
		{"secp256k1 key", secpRaw, 0o600, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(path, tt.data, tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			key, err := LoadOrCreateIdentity(path)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("loaded %s, want an error", tt.name)
				}
				return
			}
			if err != nil {
				t.Fatalf("loading: %v", err)
			}
			if !key.Equals(ed) {
				t.Fatal("loaded key differs from the stored one")
			}
		})
	}
}
