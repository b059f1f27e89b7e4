package offline

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
	"github.com/ipfs/go-cid"

	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// exportVersion copies a published version's files (manifest, dataset
// card, Parquet shards of every table) from the store into dir, and its
// CID into dir/CID.
func exportVersion(ctx context.Context, s *storage.Store, c cid.Cid, m *schemas.Manifest, dir string) error {
	paths := []string{"manifest.json", "README.md"}
	for _, sh := range m.Shards {
		paths = append(paths, sh.Path)
	}
	for _, shards := range m.Tables {
		for _, sh := range shards {
			paths = append(paths, sh.Path)
		}
	}
	for _, p := range paths {
		r, err := s.OpenFile(ctx, c, p)
		if err != nil {
			if p == "README.md" {
				continue
			}
			return fmt.Errorf("exporting %s: %w", p, err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			r.Close()
			return err
		}
		f, err := os.Create(dst)
		if err != nil {
			r.Close()
			return fmt.Errorf("exporting %s: %w", p, err)
		}
		_, err = io.Copy(f, r)
		r.Close()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("exporting %s: %w", p, err)
		}
	}
	// The CID file says which version dir holds; renameio writes it whole
	// or not at all, so a crash never leaves a truncated CID behind.
	if err := renameio.WriteFile(filepath.Join(dir, "CID"), []byte(c.String()+"\n"), 0o644); err != nil {
		return fmt.Errorf("exporting %s: recording its CID: %w", c, err)
	}
	return nil
}
