package offline

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzWARCSource: any bytes named .warc or .warc.gz are read without a
// panic, and reading ends at a clean end or at an *InputError that names
// a record after the captures read.
func FuzzWARCSource(f *testing.F) {
	data, _ := gzPerRecord(response(0), response(1))
	f.Add(data, true)
	f.Add(gz(response(0), response(1)), true)
	f.Add([]byte(response(0)+response(1)), false)
	f.Add([]byte(warcRec("revisit", "https://a.example/", "application/http;msgtype=response", "HTTP/1.1 200 OK\r\n\r\n")), false)
	f.Fuzz(func(t *testing.T, data []byte, gzipped bool) {
		name := "f.warc"
		if gzipped {
			name += ".gz"
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := Open(path)
		if err != nil {
			return // refused up front (empty, not a WARC)
		}
		defer src.Close()
		for n := int64(0); ; n++ {
			c, err := src.Next()
			if err == io.EOF {
				return
			}
			var ie *InputError
			if errors.As(err, &ie) {
				if ie.Record < 1 {
					t.Fatalf("break at record %d", ie.Record)
				}
				return
			}
			if err != nil {
				t.Fatalf("error that is not an *InputError: %v", err)
			}
			if c == nil {
				t.Fatal("nil capture without an error")
			}
		}
	})
}
