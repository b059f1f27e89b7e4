package pipeline

import "testing"

// BenchmarkWCXB measures, in one run over the WCXB development pages, the
// full pipeline and go-trafilatura alone without and with its fallback,
// each as documents per CPU-second.
func BenchmarkWCXB(b *testing.B) {
	cases := loadWCXB(b)
	b.Run("pipeline", func(b *testing.B) {
		caps := captures(cases)
		p := newTestPipeline(b, nil)
		cpu := cpuSeconds()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if i%len(cases) == 0 {
				p.dedup = NewDedup(p.cfg.DedupNGram, p.cfg.DedupBands, p.cfg.DedupRows)
			}
			p.Process(caps[i%len(caps)], nil)
		}
		reportRates(b, cpu)
	})
	for _, e := range []Extractor{ExtractorTrafilatura, ExtractorTrafilaturaFallback} {
		b.Run(string(e), func(b *testing.B) {
			cpu := cpuSeconds()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c := cases[i%len(cases)]
				ExtractWith(e, c.HTML, c.URL, DefaultExtractOptions())
			}
			reportRates(b, cpu)
		})
	}
}
