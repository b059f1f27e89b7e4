package offline

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/ipfs/go-cid"

	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

// writeWgetWARC writes uncompressed WARC/1.0 response records the way wget
// does: the target URI in angle brackets.
func writeWgetWARC(t *testing.T, path string, pages []struct{ url, body string }) {
	t.Helper()
	var out bytes.Buffer
	for i, p := range pages {
		block := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s", len(p.body), p.body)
		fmt.Fprintf(&out, "WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-%012d>\r\n"+
			"WARC-Warcinfo-ID: <urn:uuid:00000000-0000-4000-8000-999999999999>\r\n"+
			"WARC-Target-URI: <%s>\r\nWARC-Date: 2026-01-02T03:04:%02dZ\r\nContent-Type: application/http;msgtype=response\r\n"+
			"Content-Length: %d\r\n\r\n%s\r\n\r\n", i, p.url, i%60, len(block), block)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readStrings reads one string column of every Parquet file matching glob.
func readStrings(t *testing.T, glob, col string) []string {
	t.Helper()
	paths, _ := filepath.Glob(glob)
	var out []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		pf, err := file.NewParquetReader(f)
		if err != nil {
			t.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1024}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		idx := tbl.Schema().FieldIndices(col)
		if len(idx) == 0 {
			t.Fatalf("%s has no column %q", p, col)
		}
		for _, ch := range tbl.Column(idx[0]).Data().Chunks() {
			s := ch.(*array.String)
			for i := 0; i < s.Len(); i++ {
				out = append(out, s.Value(i))
			}
		}
		tbl.Release()
		pf.Close()
	}
	return out
}

// TestPipelineRunWgetWARCCountsAgree: a wget WARC (target URIs in angle
// brackets), with a page repeated and a record without a target URI, loses
// no row: the summary, progress.json and the dataset agree, no ID
// is both a row and a reject, and every row names a capture record that
// the run's store holds.
func TestPipelineRunWgetWARCCountsAgree(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "wget.warc")
	real := realPages(t, 8)
	want := acceptedByFreshPipeline(t, real)
	var pages []struct{ url, body string }
	for _, c := range real {
		pages = append(pages, struct{ url, body string }{c.URL, string(c.HTML)})
	}
	pages = append(pages, struct{ url, body string }{real[0].URL, string(real[0].HTML)}, // fetched twice
		struct{ url, body string }{"", "<html><body><p>no target</p></body></html>"})
	writeWgetWARC(t, in, pages)
	out := filepath.Join(dir, "out")
	sum, err := Run(context.Background(), Config{In: in, Out: out, Workers: 2})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	ids := readStrings(t, filepath.Join(out, "data", "*.parquet"), "id")
	urls := readStrings(t, filepath.Join(out, "data", "*.parquet"), "url")
	ccs := readStrings(t, filepath.Join(out, "data", "*.parquet"), "capture_cid")
	rejIDs := readStrings(t, filepath.Join(out, "rejects", "*.parquet"), "id")
	if len(ids) != len(want) {
		t.Errorf("dataset has %d rows, want the %d accepted pages (urls %v)", len(ids), len(want), urls)
	}
	for _, u := range urls {
		if !want[u] {
			t.Errorf("row url %q is not an accepted page's", u)
		}
	}
	rows := map[string]bool{}
	for _, id := range ids {
		rows[id] = true
	}
	for _, id := range rejIDs {
		if rows[id] {
			t.Errorf("ID %s is both a row and a reject", id)
		}
	}
	var st State
	raw, _ := os.ReadFile(filepath.Join(out, ".pipeline", "progress.json"))
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	raw, _ = os.ReadFile(filepath.Join(out, "manifest.json"))
	m, err := schemas.ParseManifest(raw)
	if err != nil {
		t.Fatal(err)
	}
	n := func(i int) int64 {
		return [...]int64{0, sum.Captures, sum.Documents, sum.Rejected, int64(sum.Review), int64(sum.Repeats)}[i]
	}
	checks := []struct {
		name      string
		got, want int64
	}{
		{"records printed vs input", n(1), int64(len(pages))},
		{"progress done vs input", st.Done, int64(len(pages))},
		{"documents printed vs progress", n(2), int64(st.Counts["accept"])},
		{"documents printed vs manifest", n(2), m.Rows},
		{"documents vs rows", m.Rows, int64(len(ids))},
		{"rejected printed vs progress", n(3), int64(st.Counts["reject"])},
		{"rejected vs reject rows", m.Rejected, int64(len(rejIDs))},
		{"review printed vs progress", n(4), int64(st.Counts["review"])},
		{"repeats", n(5), 1},
		{"every record counted", int64(st.Counts["accept"] + st.Counts["reject"] + st.Counts["review"] + st.Counts["repeat"]), st.Done},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
	// Every reject keeps all its reasons (a JSON list, the first being
	// the reason column) and a detail of its own.
	reasons := readStrings(t, filepath.Join(out, "rejects", "*.parquet"), "reasons")
	reason := readStrings(t, filepath.Join(out, "rejects", "*.parquet"), "reason")
	details := readStrings(t, filepath.Join(out, "rejects", "*.parquet"), "detail")
	if len(reasons) == 0 {
		t.Error("the test input gave no reject to check")
	}
	for i := range reasons {
		var rs []string
		if err := json.Unmarshal([]byte(reasons[i]), &rs); err != nil || len(rs) == 0 || rs[0] != reason[i] {
			t.Errorf("reject %d: reasons %q (%v) do not start with its reason %q", i, reasons[i], err, reason[i])
		}
		if details[i] == "" || details[i] == reason[i] {
			t.Errorf("reject %d: detail %q only repeats the reason %q", i, details[i], reason[i])
		}
	}
	// Every row's ID is the one the coordinator gives the same page in a
	// job of the same name (schemas.DocumentID of the normalised URL):
	// here the dataset's name, as no job is given.
	for i, u := range urls {
		n, err := schemas.NormalizeURL(u)
		if err != nil {
			t.Fatalf("row %d url %q: %v", i, u, err)
		}
		if want := schemas.DocumentID(m.Dataset, n); ids[i] != want {
			t.Errorf("row %d (%s) has ID %s, want %s as a crawl of the same page gets", i, u, ids[i], want)
		}
	}
	// Every row names a capture record the run's store holds, of its URL.
	store, err := storage.Open(context.Background(), filepath.Join(out, ".pipeline", "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for i, s := range ccs {
		c, err := cid.Decode(s)
		if err != nil {
			t.Fatalf("row %d capture_cid %q: %v", i, s, err)
		}
		capt, err := store.ReadCapture(context.Background(), c)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if capt.URL != urls[i] {
			t.Errorf("row %d (%s) names the capture of %s", i, urls[i], capt.URL)
		}
	}
}

// TestPipelineRunBadWARCInput: an empty WARC and random bytes in a file
// not named .gz fail with a message that names the problem, and write no
// dataset.
func TestPipelineRunBadWARCInput(t *testing.T) {
	tests := []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"empty", "empty.warc", nil, "is empty"},
		{"random bytes", "junk.warc", []byte("\x8f\x01 random bytes, not a WARC at all"), "is not a WARC file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, tt.file)
			if err := os.WriteFile(in, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out")
			_, err := Run(context.Background(), Config{In: in, Out: out, Workers: 1})
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "gzip: invalid header") {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(out, "manifest.json")); err == nil {
				t.Error("a dataset was written for a bad input")
			}
		})
	}
}

// TestOneStreamWgetWARCKeepsURLs: a wget WARC gzipped as one stream keeps
// every page's target URI (gowarc blanks wget's "<https://...>"; the URI
// is read from the decompressed stream's record header instead).
func TestOneStreamWgetWARCKeepsURLs(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "wget.warc")
	var pages []struct{ url, body string }
	var want []string
	for i := range 30 {
		u := fmt.Sprintf("https://127.0.0.1:9/page/%d?q=<x>", i)
		if i%3 == 0 {
			u = fmt.Sprintf("https://127.0.0.1:9/page/%d", i)
		}
		pages = append(pages, struct{ url, body string }{u, fmt.Sprintf("<html><body><p>page %d %s</p></body></html>", i, strings.Repeat("word ", i*50))})
		want = append(want, strings.Trim(u, "<>"))
	}
	writeWgetWARC(t, plain, pages)
	raw, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	for _, tc := range []struct{ name, path string }{{"plain", plain}, {"gzipped as one stream", filepath.Join(dir, "wget.warc.gz")}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.path != plain {
				if err := os.WriteFile(tc.path, gz.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			src, err := openWARC(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			var got []string
			for {
				c, err := src.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, c.URL)
			}
			if !slices.Equal(got, want) {
				t.Errorf("URLs read\n%v\nwant\n%v", got, want)
			}
		})
	}
}
