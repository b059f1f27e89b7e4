package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/swardnet/sward/schemas"
)

// VersionInfo is one entry of a dataset's version history.
type VersionInfo struct {
	Seq       int64     `json:"seq"`
	CID       string    `json:"cid"`
	Parent    string    `json:"parent,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Rows      int64     `json:"rows"`
	Shards    int       `json:"shards"`
	Bytes     int64     `json:"bytes"`
}

var datasetName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidateDatasetName checks a dataset name (the job spec's rules).
func ValidateDatasetName(name string) error {
	if !datasetName.MatchString(name) {
		return fmt.Errorf("dataset name %q must be 1-64 lowercase letters, digits, '.', '_' or '-'", name)
	}
	return nil
}

// Metadata keys, all under the store's /sward namespace.
func headKey(name string) ds.Key     { return ds.NewKey("/datasets/" + name + "/head") }
func consumedKey(name string) ds.Key { return ds.NewKey("/datasets/" + name + "/consumed") }
func versionsPrefix(name string) string {
	return "/datasets/" + name + "/versions/"
}
func versionKey(name string, seq int64) ds.Key {
	return ds.NewKey(fmt.Sprintf("%s%012d", versionsPrefix(name), seq))
}

// idKey marks a published document (kind "d") or reject (kind "r") id. The
// id is hashed so any string is a valid key.
func idKey(name, kind, id string) ds.Key {
	return hashedIDKey("/datasets/"+name+"/ids/", kind, id)
}

// hashedIDKey is prefix, kind and the first 128 bits of id's SHA-256 in
// hex: a valid key for any id.
func hashedIDKey(prefix, kind, id string) ds.Key {
	sum := sha256.Sum256([]byte(id))
	return ds.NewKey(prefix + kind + hex.EncodeToString(sum[:16]))
}

// Datasets lists the names of datasets that have a published version.
func (s *Store) Datasets(ctx context.Context) ([]string, error) {
	res, err := s.meta.Query(ctx, query.Query{Prefix: "/datasets/", KeysOnly: true})
	if err != nil {
		return nil, fmt.Errorf("listing datasets: %w", err)
	}
	defer res.Close()
	seen := map[string]bool{}
	for r := range res.Next() {
		if r.Error != nil {
			return nil, fmt.Errorf("listing datasets: %w", r.Error)
		}
		parts := strings.Split(strings.TrimPrefix(r.Key, "/datasets/"), "/")
		if len(parts) == 2 && parts[1] == "head" {
			seen[parts[0]] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// Head returns the CID of a dataset's newest published version, or an error
// wrapping ErrNotFound.
func (s *Store) Head(ctx context.Context, name string) (cid.Cid, error) {
	v, err := s.meta.Get(ctx, headKey(name))
	if errors.Is(err, ds.ErrNotFound) {
		return cid.Undef, fmt.Errorf("dataset %q has no published version: %w", name, ErrNotFound)
	}
	if err != nil {
		return cid.Undef, fmt.Errorf("reading head of dataset %q: %w", name, err)
	}
	c, err := cid.Decode(string(v))
	if err != nil {
		return cid.Undef, fmt.Errorf("head of dataset %q is not a CID: %w", name, err)
	}
	return c, nil
}

// Versions lists a dataset's published versions, oldest first.
func (s *Store) Versions(ctx context.Context, name string) ([]VersionInfo, error) {
	res, err := s.meta.Query(ctx, query.Query{Prefix: versionsPrefix(name)})
	if err != nil {
		return nil, fmt.Errorf("listing versions of %q: %w", name, err)
	}
	defer res.Close()
	var out []VersionInfo
	for r := range res.Next() {
		if r.Error != nil {
			return nil, fmt.Errorf("listing versions of %q: %w", name, r.Error)
		}
		var v VersionInfo
		if err := json.Unmarshal(r.Value, &v); err != nil {
			return nil, fmt.Errorf("version record %s: %w", r.Key, err)
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

func (s *Store) consumed(ctx context.Context, name string) (int64, error) {
	v, err := s.meta.Get(ctx, consumedKey(name))
	if errors.Is(err, ds.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading spool position of %q: %w", name, err)
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("spool position of %q is corrupt: %w", name, err)
	}
	return n, nil
}

// Has reports whether the store holds the block c.
func (s *Store) Has(ctx context.Context, c cid.Cid) (bool, error) {
	return s.bs.Has(ctx, c)
}

// Manifest reads manifest.json of the dataset version root from the store.
func (s *Store) Manifest(ctx context.Context, root cid.Cid) (*schemas.Manifest, error) {
	return readManifest(ctx, s.dag, root)
}

// readManifest resolves root/manifest.json through getter and parses it.
func readManifest(ctx context.Context, ng ipld.DAGService, root cid.Cid) (*schemas.Manifest, error) {
	data, err := readPath(ctx, ng, root, "manifest.json", 64<<20)
	if err != nil {
		return nil, err
	}
	m, err := schemas.ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("version %s: %w", root, err)
	}
	return m, nil
}

// readPath reads the file at name (one level below root) into memory.
func readPath(ctx context.Context, dserv ipld.DAGService, root cid.Cid, name string, limit int64) ([]byte, error) {
	nd, err := dserv.Get(ctx, root)
	if err != nil {
		if ipld.IsNotFound(err) {
			return nil, fmt.Errorf("CID %s is not in this store (pull it or import its CAR first): %w", root, ErrNotFound)
		}
		return nil, fmt.Errorf("reading %s: %w", root, err)
	}
	dir, err := uio.NewDirectoryFromNode(dserv, nd)
	if err != nil {
		return nil, fmt.Errorf("%s is not a dataset version (not a directory): %w", root, err)
	}
	child, err := dir.Find(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%s is not a dataset version (no %s): %w", root, name, err)
	}
	r, err := uio.NewDagReader(ctx, child, dserv)
	if err != nil {
		return nil, fmt.Errorf("reading %s/%s: %w", root, name, err)
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s/%s: %w", root, name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s/%s is larger than %d bytes", root, name, limit)
	}
	return data, nil
}

func jsonMarshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", v, err)
	}
	return b, nil
}
