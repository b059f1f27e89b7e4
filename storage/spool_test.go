package storage

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzScanSegment feeds arbitrary bytes to the spool recovery: it must
// never panic, must keep only whole, valid records, and must leave a file
// that scans cleanly a second time.
func FuzzScanSegment(f *testing.F) {
	f.Add([]byte(`{"doc":{"id":"a","text":"x"}}` + "\n" + `{"reject":{"id":"r","url":"u"}}` + "\n"))
	f.Add([]byte(`{"doc":{"id":"a"}}` + "\n" + `{"doc":{"id":"b","te`))
	f.Add([]byte("\n\n{}\n"))
	f.Add([]byte(`{"doc":{"id":"a"},"reject":{"id":"b"}}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "000000000001.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		w := &DatasetWriter{dir: dir}
		var first []string
		err := w.scanSegment(path, true, func(r *spoolRecord) error {
			if (r.Doc == nil) == (r.Reject == nil) {
				t.Fatalf("record with both or neither of doc and reject: %+v", r)
			}
			first = append(first, r.key())
			return nil
		})
		if err != nil {
			t.Fatalf("newest segment recovery failed: %v", err)
		}
		var second []string
		if err := w.scanSegment(path, false, func(r *spoolRecord) error {
			second = append(second, r.key())
			return nil
		}); err != nil {
			t.Fatalf("segment does not scan cleanly after recovery: %v", err)
		}
		if len(first) != len(second) {
			t.Fatalf("first scan kept %d records, second %d", len(first), len(second))
		}
	})
}
