package pipeline

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	trafilatura "github.com/markusmobius/go-trafilatura"

	"github.com/swardnet/sward/schemas"
)

// cpuSeconds is the process's user+system CPU time. Throughput per
// CPU-second is the per-core figure, and it holds up on a shared machine
// where wall time does not.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// reportRates adds docs/s (wall) and docs/cpu-s metrics.
func reportRates(b *testing.B, cpuStart float64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
	if cpu := cpuSeconds() - cpuStart; cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu, "docs/cpu-s")
	}
}

// BenchmarkBaselineTrafilatura is the reference: go-trafilatura alone,
// with its readability/distiller fallback, over the test pages.
func BenchmarkBaselineTrafilatura(b *testing.B) {
	cases := loadExtractionSet(b)
	b.ResetTimer()
	cpu0 := cpuSeconds()
	n := 0
	for i := 0; i < b.N; i++ {
		c := cases[i%len(cases)]
		res, err := trafilatura.Extract(bytes.NewReader(c.HTML), trafilatura.Options{EnableFallback: true, ExcludeComments: true})
		if err == nil && res.ContentText != "" {
			n++
		}
	}
	reportRates(b, cpu0)
	if n == 0 {
		b.Fatal("baseline extracted nothing")
	}
}

// BenchmarkPipeline runs the full pipeline (decode to route) over the
// test pages. Dedup state is reset each pass so the pages are not just
// rejected as duplicates after the first pass.
func BenchmarkPipeline(b *testing.B) {
	cases := loadExtractionSet(b)
	caps := captures(cases)
	p := newTestPipeline(b, nil)
	b.ResetTimer()
	cpu0 := cpuSeconds()
	accepted := 0
	for i := 0; i < b.N; i++ {
		if i%len(cases) == 0 {
			p.dedup = NewDedup(p.cfg.DedupNGram, p.cfg.DedupBands, p.cfg.DedupRows)
		}
		if r := p.Process(caps[i%len(caps)], nil); r.Decision != Reject {
			accepted++
		}
	}
	reportRates(b, cpu0)
	if b.N >= len(cases) && accepted == 0 {
		b.Fatal("pipeline accepted nothing")
	}
}

// BenchmarkPipelineParallel is BenchmarkPipeline on all GOMAXPROCS cores.
func BenchmarkPipelineParallel(b *testing.B) {
	caps := captures(loadExtractionSet(b))
	p := newTestPipeline(b, func(c *Config) { c.ExactDedup, c.NearDedup = false, false })
	var next atomic.Int64
	b.ResetTimer()
	cpu0 := cpuSeconds()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Process(caps[int(next.Add(1))%len(caps)], nil)
		}
	})
	reportRates(b, cpu0)
}

// syntheticDocs makes n documents of about 400 words drawn from a small
// vocabulary, with every tenth a light edit of an earlier one.
func syntheticDocs(n int) []string {
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := make([]string, 5000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("w%x", rng.Uint32()%1000000)
	}
	docs := make([]string, n)
	for i := range docs {
		if i >= 10 && i%10 == 0 {
			words := strings.Fields(docs[rng.IntN(i)])
			words[rng.IntN(len(words))] = "edited"
			docs[i] = strings.Join(words, " ")
			continue
		}
		var sb strings.Builder
		for j := 0; j < 400; j++ {
			sb.WriteString(vocab[rng.IntN(len(vocab))])
			sb.WriteByte(' ')
		}
		docs[i] = sb.String()
	}
	return docs
}

// BenchmarkNearDedup100k signs and inserts 100,000 documents into the
// MinHash LSH index on all cores; one op is the whole batch.
func BenchmarkNearDedup100k(b *testing.B) {
	docs := syntheticDocs(100000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := NewDedup(5, 14, 8)
		var next atomic.Int64
		var dups atomic.Int64
		start := time.Now()
		cpu0 := cpuSeconds()
		done := make(chan struct{})
		workers := 2
		for w := 0; w < workers; w++ {
			go func() {
				defer func() { done <- struct{}{} }()
				for {
					j := int(next.Add(1)) - 1
					if j >= len(docs) {
						return
					}
					if r := d.Add(d.Key(docs[j]), true, true); r.Near {
						dups.Add(1)
					}
				}
			}()
		}
		for w := 0; w < workers; w++ {
			<-done
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/100k")
		b.ReportMetric(cpuSeconds()-cpu0, "cpu-s/100k")
		b.ReportMetric(float64(dups.Load()), "dups")
	}
}

func captures(cases []EvalCase) []*schemas.Capture {
	out := make([]*schemas.Capture, len(cases))
	for i, c := range cases {
		out[i] = capture(c.URL, string(c.HTML))
	}
	return out
}
