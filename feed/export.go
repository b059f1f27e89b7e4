package feed

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

// ArrowStreamType is the media type of an Arrow IPC stream.
const ArrowStreamType = "application/vnd.apache.arrow.stream"

// exportBatch is the number of documents in one exported record batch.
const exportBatch = 1000

// Export writes the documents fetched at or after since (all when zero),
// oldest first, to w as an Arrow IPC stream in
// schemas.DocumentMarkdownSchema (the document table's columns, then
// markdown: an app that serves pages gets both in one stream). It returns
// the number of documents written.
func (f *Feed) Export(ctx context.Context, w io.Writer, since time.Time) (int, error) {
	mem := memory.NewGoAllocator()
	iw := ipc.NewWriter(w, ipc.WithSchema(schemas.DocumentMarkdownSchema), ipc.WithAllocator(mem))
	n := 0
	err := f.idx.scan(ctx, filterQuery("", "", since, nil), exportBatch, func(recs []*Record) error {
		docs := make([]schemas.Document, len(recs))
		for i, r := range recs {
			docs[i] = r.Document
		}
		rec := schemas.DocumentsWithMarkdownToRecord(mem, docs)
		defer rec.Release()
		if err := iw.Write(rec); err != nil {
			return fmt.Errorf("writing arrow record batch: %w", err)
		}
		n += len(docs)
		return nil
	})
	if err != nil {
		_ = iw.Close()
		return n, fmt.Errorf("exporting documents: %w", err)
	}
	if err := iw.Close(); err != nil {
		return n, fmt.Errorf("closing arrow stream: %w", err)
	}
	return n, nil
}

func (f *Feed) handleExport(w http.ResponseWriter, r *http.Request) {
	since, err := parseTime("since", r.URL.Query().Get("since"))
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", ArrowStreamType)
	w.Header().Set("Content-Disposition", `attachment; filename="sward-documents.arrows"`)
	n, err := f.Export(r.Context(), w, since)
	if err != nil {
		// The status is already sent; a stream without its end marker
		// tells the reader it is incomplete.
		f.log.Error("export failed", logkey.Err, err, "documents", n)
		return
	}
	f.log.Debug("export", "documents", n, "since", since)
}
