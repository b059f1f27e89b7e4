package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// rawCID is the CIDv1 of a raw block, derived by hand from its SHA-256.
func rawCID(t *testing.T, data []byte) cid.Cid {
	t.Helper()
	sum := sha256.Sum256(data)
	m, err := mh.Encode(sum[:], mh.SHA2_256)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, m)
}

// pbField appends a protobuf length-delimited field.
func pbField(b []byte, field int, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(field<<3|2))
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func pbVarint(b []byte, field int, v uint64) []byte {
	b = binary.AppendUvarint(b, uint64(field<<3))
	return binary.AppendUvarint(b, v)
}

// fileRootCID hand-encodes the dag-pb root a balanced UnixFS import with raw
// leaves produces for a file of up to 174 chunks, and returns its CIDv1.
func fileRootCID(t *testing.T, data []byte) cid.Cid {
	t.Helper()
	var node, unixfs []byte
	unixfs = pbVarint(unixfs, 1, 2) // Type: File
	unixfs = pbVarint(unixfs, 3, uint64(len(data)))
	for off := 0; off < len(data); off += ChunkSize {
		chunk := data[off:min(off+ChunkSize, len(data))]
		var link []byte
		link = pbField(link, 1, rawCID(t, chunk).Bytes())
		link = pbField(link, 2, nil) // empty name
		link = pbVarint(link, 3, uint64(len(chunk)))
		node = pbField(node, 2, link)
		unixfs = pbVarint(unixfs, 4, uint64(len(chunk)))
	}
	node = pbField(node, 1, unixfs)
	sum := sha256.Sum256(node)
	m, err := mh.Encode(sum[:], mh.SHA2_256)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.DagProtobuf, m)
}

func TestAddFileCIDsMatchKubo(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rnd := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	hello := []byte("hello world")
	tests := []struct {
		name string
		data []byte
		want func(t *testing.T, data []byte) cid.Cid
	}{
		// Published value of `echo -n "hello world" | ipfs add --cid-version=1`.
		{"hello world, published", hello, func(*testing.T, []byte) cid.Cid {
			return cid.MustParse("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e")
		}},
		{"one byte", []byte{7}, rawCID},
		{"exactly one chunk", random(ChunkSize), rawCID},
		{"one chunk and a byte", random(ChunkSize + 1), fileRootCID},
		{"three and a half chunks", random(3*ChunkSize + ChunkSize/2), fileRootCID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.AddFile(ctx, bytes.NewReader(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.want(t, tc.data); !got.Equals(want) {
				t.Fatalf("AddFile CID = %s, want %s", got, want)
			}
			if ok, _ := s.Has(ctx, got); !ok {
				t.Fatalf("root block %s not stored", got)
			}
		})
	}
}
