package storage

import (
	"os"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

func arrowTableReader(tbl arrow.Table) *array.TableReader {
	return array.NewTableReader(tbl, 1<<20)
}

func appendFile(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
}

func rawCIDOf(data []byte) cid.Cid {
	c, err := cid.V1Builder{Codec: cid.Raw, MhType: mh.SHA2_256}.Sum(data)
	if err != nil {
		panic(err)
	}
	return c
}
