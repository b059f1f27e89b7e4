package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gocolly/colly/v2"

	"github.com/swardnet/sward/schemas"
)

// The fetcher-vs-colly benchmark runs each side in its own child process
// (this test binary, re-executed) so that CPU time and peak RSS belong to
// that side alone; the parent serves the site.
const (
	benchEnvMode  = "SWARD_BENCH_CHILD"
	benchEnvSites = "SWARD_BENCH_SITES"
	benchEnvPages = "SWARD_BENCH_PAGES"
	benchEnvConc  = "SWARD_BENCH_CONC"
)

// benchResult is what a child reports.
type benchResult struct {
	Mode    string  `json:"mode"`
	Pages   int     `json:"pages"`
	Errors  int     `json:"errors"`
	Seconds float64 `json:"seconds"`
	CPU     float64 `json:"cpu_seconds"`
	RSSMiB  float64 `json:"peak_rss_mib"`
	// PeakInFlight is measured by the parent's server.
	PeakInFlight int `json:"-"`
}

// benchSite serves one host of the benchmark site: an allow-most
// robots.txt and 15 KiB pages with links. inflight/peak count concurrent
// requests across all hosts.
func benchSite(latency time.Duration, inflight, peak *atomic.Int64) http.Handler {
	var page bytes.Buffer
	page.WriteString("<!doctype html><html><head><meta charset=utf-8><title>bench</title></head><body>")
	for i := range 20 {
		fmt.Fprintf(&page, `<p>%s <a href="/p/%d">link %d</a></p>`, strings.Repeat("lorem ipsum dolor sit amet ", 25), i, i)
	}
	page.WriteString("</body></html>")
	body := page.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		switch {
		case r.URL.Path == "/robots.txt":
			fmt.Fprint(w, "User-agent: *\nDisallow: /private/\n")
		case strings.HasPrefix(r.URL.Path, "/p/"):
			// Simulated network latency, so that fetches really overlap.
			time.Sleep(latency)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(body)
		default:
			http.NotFound(w, r)
		}
	})
}

// BenchmarkFetcherVsColly compares the guarded Fetcher with plain colly
// (robots.txt on, same concurrency, same connection pool) fetching the same
// pages from many loopback hosts (127.0.0.2, 127.0.0.3, ...). Each iteration
// runs both sides once, in child processes; the reported metrics are
// medians over iterations. Run it with
//
//	go test -run '^$' -bench FetcherVsColly -benchtime 5x ./node
func BenchmarkFetcherVsColly(b *testing.B) {
	hosts := envInt("SWARD_BENCH_HOSTS", 200)
	pages := envInt(benchEnvPages, 6000)
	conc := envInt(benchEnvConc, 200)
	latency := time.Duration(envInt("SWARD_BENCH_LATENCY_MS", 50)) * time.Millisecond
	var bases []string
	var inflight, peak atomic.Int64
	for i := range hosts {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", 2+i%250))
		if err != nil {
			b.Skipf("cannot listen on 127.0.0.%d (needs the whole 127/8 on lo): %v", 2+i%250, err)
		}
		srv := &http.Server{Handler: benchSite(latency, &inflight, &peak), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		b.Cleanup(func() { _ = srv.Close() })
		bases = append(bases, "http://"+ln.Addr().String())
	}
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	results := map[string][]benchResult{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Alternate the order so neither side always runs on a warmer
		// machine.
		order := []string{"fetcher", "colly", "colly-nolinks"}
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, mode := range order {
			args := []string{"-test.run=^TestBenchChild$", "-test.count=1"}
			if dir := os.Getenv("SWARD_BENCH_PROFILE_DIR"); dir != "" {
				args = append(args, "-test.cpuprofile="+filepath.Join(dir, mode+".cpu"), "-test.memprofile="+filepath.Join(dir, mode+".mem"), "-test.memprofilerate=65536")
			}
			peak.Store(0)
			cmd := exec.Command(exe, args...)
			cmd.Env = append(os.Environ(), benchEnvMode+"="+mode, benchEnvSites+"="+strings.Join(bases, ","),
				benchEnvPages+"="+strconv.Itoa(pages), benchEnvConc+"="+strconv.Itoa(conc))
			out, err := cmd.Output()
			if err != nil {
				b.Fatalf("%s child: %v\n%s", mode, err, out)
			}
			var r benchResult
			for _, line := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(line, "BENCH ") {
					err = json.Unmarshal([]byte(strings.TrimPrefix(line, "BENCH ")), &r)
				}
			}
			if err != nil || r.Mode != mode {
				b.Fatalf("%s child reported nothing usable: %v\n%s", mode, err, out)
			}
			if r.Errors > 0 {
				b.Errorf("%s: %d of %d fetches failed", mode, r.Errors, pages)
			}
			r.PeakInFlight = int(peak.Load())
			results[mode] = append(results[mode], r)
			b.Logf("round %d %-13s %6.0f pages/s  %5.3f ms CPU/page  peak RSS %5.1f MiB  peak in flight %d", i, mode,
				float64(r.Pages)/r.Seconds, r.CPU/float64(r.Pages)*1000, r.RSSMiB, r.PeakInFlight)
		}
	}
	b.StopTimer()
	med := func(mode string, f func(benchResult) float64) float64 {
		var v []float64
		for _, r := range results[mode] {
			v = append(v, f(r))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	rate := func(r benchResult) float64 { return float64(r.Pages) / r.Seconds }
	cpu := func(r benchResult) float64 { return r.CPU / float64(r.Pages) * 1000 }
	rss := func(r benchResult) float64 { return r.RSSMiB }
	fr, cr := med("fetcher", rate), med("colly", rate)
	b.ReportMetric(fr, "fetcher-pages/s")
	b.ReportMetric(cr, "colly-pages/s")
	b.ReportMetric(fr/cr, "ratio")
	b.ReportMetric(med("fetcher", cpu), "fetcher-cpu-ms/page")
	b.ReportMetric(med("colly", cpu), "colly-cpu-ms/page")
	b.ReportMetric(med("fetcher", rss), "fetcher-peak-rss-MiB")
	b.ReportMetric(med("fetcher", func(r benchResult) float64 { return float64(r.PeakInFlight) }), "fetcher-peak-inflight")
	b.ReportMetric(med("colly", rss), "colly-peak-rss-MiB")
	nr := med("colly-nolinks", rate)
	b.ReportMetric(nr, "colly-nolinks-pages/s")
	b.ReportMetric(fr/nr, "ratio-vs-nolinks")
	b.ReportMetric(med("colly-nolinks", cpu), "colly-nolinks-cpu-ms/page")
	b.ReportMetric(med("colly-nolinks", rss), "colly-nolinks-peak-rss-MiB")
}

// TestBenchChild is one side of BenchmarkFetcherVsColly; it does nothing
// unless the benchmark started it.
func TestBenchChild(t *testing.T) {
	mode := os.Getenv(benchEnvMode)
	if mode == "" {
		t.Skip("run by BenchmarkFetcherVsColly only")
	}
	bases := strings.Split(os.Getenv(benchEnvSites), ",")
	pages := envInt(benchEnvPages, 6000)
	conc := envInt(benchEnvConc, 200)
	// URLs round-robin over hosts, so concurrent fetches hit distinct hosts.
	urls := make(chan string, pages)
	for i := range pages {
		urls <- fmt.Sprintf("%s/p/%d", bases[i%len(bases)], i/len(bases))
	}
	close(urls)

	var fetchOne func(u string) bool
	switch mode {
	case "fetcher":
		// Bodies are 15 KiB: a 256 KiB cap and a memory budget that holds
		// every fetch at once keep the memory budget out of the throughput
		// figures (BenchmarkAmplificationRSS measures it).
		const maxBody = 256 << 10
		cfg := Config{MinHostDelay: time.Nanosecond, MaxConcurrency: conc, MaxBodyBytes: maxBody,
			MemoryBudgetBytes: siteReserve(conc) + int64(conc)*fetchReserve(maxBody)}
		cfg.allowedTestPrefixes = []string{"127.0.0.0/8"}
		f, err := NewFetcher(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fetchOne = func(u string) bool {
			c := f.Fetch(context.Background(), schemas.LeaseItem{URL: u}, schemas.HostBudget{MaxConcurrency: envInt("SWARD_BENCH_PER_HOST", 1)})
			return c.Error == "" && len(c.Outlinks) > 0
		}
	case "colly", "colly-nolinks":
		// "colly" extracts links as a crawler must (OnHTML builds a goquery
		// document); "colly-nolinks" only fetches, the floor of colly's cost.
		c := colly.NewCollector()
		c.IgnoreRobotsTxt = false
		c.AllowURLRevisit = true
		c.WithTransport(&http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 2, IdleConnTimeout: 60 * time.Second})
		var links atomic.Int64
		if mode == "colly" {
			c.OnHTML("a[href]", func(e *colly.HTMLElement) {
				if e.Request.AbsoluteURL(e.Attr("href")) != "" {
					links.Add(1)
				}
			})
		}
		fetchOne = func(u string) bool {
			before := links.Load()
			return c.Visit(u) == nil && (mode == "colly-nolinks" || links.Load() > before)
		}
	default:
		t.Fatalf("unknown mode %q", mode)
	}

	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range urls {
				if fetchOne(u) {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	out, _ := json.Marshal(benchResult{Mode: mode, Pages: int(ok.Load()), Errors: int(bad.Load()), Seconds: el, CPU: cpu, RSSMiB: float64(ru.Maxrss) / 1024})
	fmt.Printf("BENCH %s\n", out)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
