package storage

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/swardnet/sward/pipeline"
	"github.com/swardnet/sward/schemas"
)

// benchDocs makes web-like documents totalling about textBytes of text:
// words drawn from a Zipf-distributed vocabulary (natural language is
// Zipfian), sentences and paragraphs, plus realistic metadata.
func benchDocs(textBytes int) ([]schemas.Document, int64) {
	rnd := rand.New(rand.NewPCG(42, 1))
	vocab := make([]string, 20000)
	letters := "etaoinshrdlcumwfgypbvkjxqz"
	for i := range vocab {
		n := 2 + rnd.IntN(9)
		var b strings.Builder
		for j := 0; j < n; j++ {
			b.WriteByte(letters[min(int(rnd.ExpFloat64()*5), len(letters)-1)])
		}
		vocab[i] = b.String()
	}
	zipf := rand.NewZipf(rnd, 1.1, 1, uint64(len(vocab)-1))
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var docs []schemas.Document
	var total int64
	for i := 0; total < int64(textBytes); i++ {
		var b strings.Builder
		target := 500 + rnd.IntN(8000)
		for b.Len() < target {
			words := 6 + rnd.IntN(20)
			for w := 0; w < words; w++ {
				word := vocab[zipf.Uint64()]
				if w == 0 {
					word = strings.ToUpper(word[:1]) + word[1:]
				}
				b.WriteString(word)
				if w < words-1 {
					b.WriteByte(' ')
				}
			}
			if rnd.IntN(5) == 0 {
				b.WriteString(".\n\n")
			} else {
				b.WriteString(". ")
			}
		}
		host := fmt.Sprintf("site%d.example", rnd.IntN(300))
		title := vocab[zipf.Uint64()] + " " + vocab[zipf.Uint64()]
		// The pipeline stores the article twice: plain text and Markdown.
		markdown := "# " + title + "\n\n" + strings.ReplaceAll(b.String(), ". ", ".\n\n")
		d := schemas.Document{
			Text: b.String(), ID: fmt.Sprintf("%016x", rnd.Uint64()),
			URL:  fmt.Sprintf("https://%s/articles/%d/%s", host, i, vocab[rnd.IntN(len(vocab))]),
			Date: base.Add(time.Duration(i) * time.Second).Format(time.RFC3339), Language: []string{"en", "en", "en", "de", "fr"}[rnd.IntN(5)],
			LanguageScore: 0.7 + rnd.Float64()*0.3, TokenCount: int64(b.Len() / 4), Title: &title, Host: host,
			FetchedAt: base.Add(time.Duration(i) * time.Second), CaptureCID: fmt.Sprintf("bafkrei%052x", rnd.Uint64()),
			NodePeerID: fmt.Sprintf("12D3KooWnode%02d", rnd.IntN(8)), ContentSHA256: fmt.Sprintf("%064x", rnd.Uint64()),
			JobID: "bench-job", DupClusterSize: 1, Markdown: &markdown,
		}
		total += int64(len(d.Text))
		docs = append(docs, d)
	}
	return docs, total
}

// webDocs turns the real web pages that go-trafilatura ships as test files
// (about 1,000 pages from many sites and languages, in the module cache)
// into documents the way the pipeline does: main content extracted as
// plain text and as Markdown (both near-copies of the article), title,
// site name and description from the page. Extraction takes seconds, so
// the corpus is built once per process. It returns nil when the module's
// files are not on disk.
func webDocs(tb testing.TB) ([]schemas.Document, int64) {
	webOnce.Do(func() { webCorpus, webText = extractWebDocs(webFiles()) })
	if len(webCorpus) == 0 {
		tb.Logf("no go-trafilatura test pages in the module cache")
	}
	return webCorpus, webText
}

var (
	webOnce   sync.Once
	webCorpus []schemas.Document
	webText   int64
)

func extractWebDocs(files []string) ([]schemas.Document, int64) {
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var docs []schemas.Document
	var total int64
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		name := filepath.Base(f)
		parts := strings.SplitN(name, ".", 3)
		host := strings.Join(parts[:min(2, len(parts))], ".")
		slug := strings.TrimSuffix(name, ".html")
		u := "https://" + host + "/" + slug
		ex, err := pipeline.Extract(string(data), u, pipeline.DefaultExtractOptions())
		if err != nil {
			continue
		}
		text, markdown := pipeline.Normalize(ex.Text), pipeline.Normalize(ex.Markdown)
		if len(text) < 200 {
			continue
		}
		sum := sha256.Sum256([]byte(text))
		at := base.Add(time.Duration(i) * time.Second)
		lang, score := pipeline.DetectLanguage(text)
		d := schemas.Document{
			Text: text, ID: hex.EncodeToString(sum[:8]), URL: u,
			Date: at.Format(time.RFC3339), Language: lang,
			LanguageScore: score, TokenCount: int64(len(text) / 4), Host: host,
			FetchedAt: at, CaptureCID: "bafkrei" + hex.EncodeToString(sum[8:]),
			NodePeerID: fmt.Sprintf("12D3KooWnode%02d", i%8), ContentSHA256: hex.EncodeToString(sum[:]),
			JobID: "bench-job", DupClusterSize: 1, Markdown: &markdown,
			Title: optional(ex.Title), Author: optional(ex.Author), SiteName: optional(ex.SiteName),
			Description: optional(ex.Description), CanonicalURL: optional(ex.CanonicalURL), PublishedAt: ex.PublishedAt,
		}
		docs = append(docs, d)
		total += int64(len(text))
	}
	return docs, total
}

// webFiles lists the HTML test pages of go-trafilatura in the module
// cache, sorted; nil when they are not there.
func webFiles() []string {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return nil
	}
	root := filepath.Join(strings.TrimSpace(string(out)), "github.com", "markusmobius", "go-trafilatura@v1.12.2", "test-files")
	var files []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".html") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// gzipJSONL writes docs as gzip-compressed JSON lines (the usual
// alternative to Parquet for crawl output) and returns the compressed size.
func gzipJSONL(docs []schemas.Document) int64 {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	enc := json.NewEncoder(zw)
	for i := range docs {
		_ = enc.Encode(&docs[i])
	}
	_ = zw.Close()
	return int64(buf.Len())
}

// writeDocsTable writes docs as Publish does, the document table and the
// markdown table as Parquet shards imported into s, in 8 MB batches each
// sorted as Publish sorts them. It returns the shards of each.
func writeDocsTable(ctx context.Context, s *Store, docs []schemas.Document) (data, markdown []schemas.Shard, err error) {
	b := &versionBuilder{
		docs:     newTableWriter(ctx, schemas.DocumentSchema, dagSink(s.dag), 0, 0),
		markdown: newTableWriter(ctx, schemas.MarkdownSchema, dagSink(s.dag), 0, 0),
	}
	const batch = 8 << 20
	start, size, mdSize := 0, int64(0), int64(0)
	for i := range docs {
		size += docBytes(&docs[i])
		mdSize += markdownBytes(&docs[i])
		if size >= batch || i == len(docs)-1 {
			sortDocs(docs[start : i+1])
			if err := b.writeDocs(docs[start:i+1], size, mdSize); err != nil {
				return nil, nil, err
			}
			start, size, mdSize = i+1, 0, 0
		}
	}
	if data, err = b.docs.close(false); err != nil {
		return nil, nil, err
	}
	if markdown, err = b.markdown.close(false); err != nil {
		return nil, nil, err
	}
	return data, markdown, s.sync(ctx)
}

// BenchmarkWrite compares writing the same documents as zstd Parquet
// imported into the blockstore and as gzip JSONL; MB/s is text in.
//
//	go test -run '^$' -bench BenchmarkWrite -benchtime 3x -count 5 ./storage/
func BenchmarkWrite(b *testing.B) {
	b.Run("web", func(b *testing.B) {
		docs, text := webDocs(b)
		if len(docs) == 0 {
			b.Skip("no web pages")
		}
		benchWrite(b, docs, text)
	})
	b.Run("web_no_markdown", func(b *testing.B) {
		// The same pages without the Markdown copy, for comparison with
		// figures measured before documents carried markdown.
		docs, text := webDocs(b)
		if len(docs) == 0 {
			b.Skip("no web pages")
		}
		plain := slices.Clone(docs)
		for i := range plain {
			plain[i].Markdown = nil
		}
		benchWrite(b, plain, text)
	})
	b.Run("synthetic", func(b *testing.B) {
		docs, text := benchDocs(64 << 20)
		benchWrite(b, docs, text)
	})
}

func benchWrite(b *testing.B, docs []schemas.Document, text int64) {
	docs = slices.Clone(docs) // writeDocsTable sorts its batches in place
	gz := gzipJSONL(docs)
	plain := slices.Clone(docs)
	for i := range plain {
		plain[i].Markdown = nil
	}
	gzPlain := gzipJSONL(plain)
	b.Run("parquet+import", func(b *testing.B) {
		ctx := context.Background()
		b.SetBytes(text)
		var data, md int64
		var cpu float64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			s, err := Open(ctx, b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			b.StartTimer()
			cpu0 := cpuSeconds()
			d, m, err := writeDocsTable(ctx, s, docs)
			if err != nil {
				b.Fatal(err)
			}
			cpu += cpuSeconds() - cpu0
			b.StopTimer()
			data, md = shardBytes(d), shardBytes(m)
			s.Close()
			b.StartTimer()
		}
		// All tables against gzip JSONL of every field; the document
		// table (what training downloads) against gzip JSONL without
		// markdown, the same columns.
		b.ReportMetric(float64(data+md)/float64(gz), "size/gzip_jsonl")
		b.ReportMetric(float64(data)/float64(gzPlain), "data/gzip_jsonl_nomd")
		b.ReportMetric(float64(data)/float64(text), "data/text")
		b.ReportMetric(float64(text)*float64(b.N)/cpu/1e6, "MB/cpu-s")
	})
	b.Run("gzip_jsonl", func(b *testing.B) {
		b.SetBytes(text)
		for i := 0; i < b.N; i++ {
			gzipJSONL(docs)
		}
		b.ReportMetric(float64(gz)/float64(text), "size/text")
	})
}

// webCaptures are the go-trafilatura test pages as the captures a node
// would send, for running them through the pipeline.
func webCaptures() []*schemas.Capture {
	at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var caps []*schemas.Capture
	for _, f := range webFiles() {
		body, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		slug := strings.TrimSuffix(filepath.Base(f), ".html")
		parts := strings.SplitN(slug, ".", 3)
		u := "https://" + strings.Join(parts[:min(2, len(parts))], ".") + "/" + slug
		caps = append(caps, &schemas.Capture{
			Version: schemas.CaptureVersion, JobID: "bench-job", URL: u, Status: 200,
			ContentType: "text/html; charset=utf-8", Body: body, BodySize: int64(len(body)),
			BodySHA256: schemas.SHA256Hex(body), BodyCID: "bafybench", FetchedAt: at,
			NodePeerID: "12D3KooWbench",
		})
	}
	return caps
}

// cpuSeconds is the process's user+system CPU time: a per-core measure
// that holds up on a shared machine where wall time does not.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// BenchmarkStorageVsPipeline measures, in one run and on the same pages,
// the pipeline's text rate per core (pipeline.Pipeline.Process on one
// goroutine, the call pipeline's BenchmarkPipeline makes, with fresh dedup
// state per pass) and storage's rate per core for the documents the
// pipeline accepted, on the whole path a coordinator takes: Add (spooled,
// fsync'd, in calls of 100) then Publish (documents, markdown and chunks
// tables, manifest, card, blockstore sync). Both are MB of document text per
// CPU-second; storage/pipeline is how many pipeline cores one storage core
// keeps up with (the goal is at least 10). The sizes compare the same
// documents with gzip JSONL.
//
//	go test -run '^$' -bench BenchmarkStorageVsPipeline -benchtime 2x -count 5 ./storage/
func BenchmarkStorageVsPipeline(b *testing.B) {
	caps := webCaptures()
	if len(caps) == 0 {
		b.Skip("no go-trafilatura test pages in the module cache")
	}
	ctx := context.Background()
	var pipeCPU, storeCPU float64
	var pipeText, storeText, data, md, gz, gzPlain int64
	for i := 0; i < b.N; i++ {
		p, err := pipeline.New(pipeline.DefaultConfig())
		if err != nil {
			b.Fatal(err)
		}
		var docs []schemas.Document
		runtime.GC()
		cpu0 := cpuSeconds()
		for _, c := range caps {
			res := p.Process(c, nil)
			if res.Doc != nil {
				pipeText += int64(len(res.Doc.Text))
				if res.Decision != pipeline.Reject {
					docs = append(docs, *res.Doc)
				}
			}
		}
		pipeCPU += cpuSeconds() - cpu0
		if len(docs) == 0 {
			b.Fatal("the pipeline accepted no page")
		}

		b.StopTimer()
		s, err := Open(ctx, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.StartTimer()
		cpu0 = cpuSeconds()
		w, err := s.OpenDataset(ctx, "bench", DatasetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < len(docs); j += 100 {
			if err := w.Add(ctx, docs[j:min(j+100, len(docs))]...); err != nil {
				b.Fatal(err)
			}
		}
		_, man, err := w.Publish(ctx, VersionMeta{})
		if err != nil {
			b.Fatal(err)
		}
		storeCPU += cpuSeconds() - cpu0
		b.StopTimer()
		s.Close()
		for _, doc := range docs {
			storeText += int64(len(doc.Text))
		}
		data, md = shardBytes(man.Shards), shardBytes(man.Tables[markdownDir])
		gz = gzipJSONL(docs)
		for i := range docs {
			docs[i].Markdown = nil
		}
		gzPlain = gzipJSONL(docs)
		b.StartTimer()
	}
	b.Logf("pipeline: %d text bytes in %.2f cpu-s; storage: %d text bytes in %.2f cpu-s", pipeText, pipeCPU, storeText, storeCPU)
	pipeRate := float64(pipeText) / pipeCPU / 1e6
	storeRate := float64(storeText) / storeCPU / 1e6
	b.ReportMetric(pipeRate, "pipeline_MB/cpu-s")
	b.ReportMetric(storeRate, "storage_MB/cpu-s")
	b.ReportMetric(storeRate/pipeRate, "storage/pipeline")
	b.ReportMetric(float64(data+md)/float64(gz), "size/gzip_jsonl")
	b.ReportMetric(float64(data)/float64(gzPlain), "data/gzip_jsonl_nomd")
}

// BenchmarkPublish measures the whole path from the durable spool: Add
// (fsync'd) then Publish with the documents, chunks and rejects tables.
//
//	go test -run '^$' -bench BenchmarkPublish -benchtime 3x -count 5 ./storage/
func BenchmarkPublish(b *testing.B) {
	docs, text := benchDocs(32 << 20)
	ctx := context.Background()
	b.SetBytes(text)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s, err := Open(ctx, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		w, err := s.OpenDataset(ctx, "bench", DatasetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for j := 0; j < len(docs); j += 500 {
			if err := w.Add(ctx, docs[j:min(j+500, len(docs))]...); err != nil {
				b.Fatal(err)
			}
		}
		if _, _, err := w.Publish(ctx, VersionMeta{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

// BenchmarkPullLoopback pulls a published dataset over bitswap between two
// libp2p hosts on 127.0.0.1; MB/s is shard bytes.
//
//	go test -run '^$' -bench BenchmarkPullLoopback -benchtime 3x -count 5 ./storage/
func BenchmarkPullLoopback(b *testing.B) {
	ctx := context.Background()
	docs, _ := benchDocs(96 << 20)
	s, err := Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w, err := s.OpenDataset(ctx, "bench", DatasetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Add(ctx, docs...); err != nil {
		b.Fatal(err)
	}
	root, m, err := w.Publish(ctx, VersionMeta{})
	if err != nil {
		b.Fatal(err)
	}
	total := shardBytes(allShards(m))
	from := serveStore(b, s)
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := newHost(b)
		out := filepath.Join(b.TempDir(), "out")
		if _, err := Pull(ctx, h, []peer.AddrInfo{from}, root, out, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		h.Close()
		b.StartTimer()
	}
}
