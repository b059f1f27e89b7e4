package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

// The amplification RSS benchmark runs a node's Fetcher, as configured by
// default (8 fetches in flight, 10 MiB bodies, the default memory budget),
// in a child process (this test binary, re-executed) so that its peak RSS
// is the node's alone; the parent serves the hostile pages on loopback.
const (
	rssEnvChild  = "SWARD_RSS_CHILD"
	rssEnvRounds = "SWARD_RSS_ROUNDS"
	rssEnvConc   = "SWARD_RSS_CONC"
	rssEnvBudget = "SWARD_RSS_BUDGET" // the node's --memory-budget (default 48MiB)
	// rssGoal is the bound on a node's peak RSS.
	rssGoal = 150 << 20
)

// rssResult is what a child reports.
type rssResult struct {
	Fetches      int   `json:"fetches"`
	Errors       int   `json:"errors"`
	PeakRSS      int64 `json:"peak_rss_bytes"`      // VmHWM
	MaxRSS       int64 `json:"maxrss_bytes"`        // getrusage ru_maxrss
	PeakReserved int64 `json:"peak_reserved_bytes"` // the memory budget's peak
	MaxOutlinks  int64 `json:"max_outlink_bytes"`   // largest capture's outlinks
}

// BenchmarkAmplificationRSS measures the peak RSS of a node fetching the
// amplification pages (a 124 KB page with a 20 KB <base href> and 5,000
// links, the same with a 200 KB base, and a 50,000-entry sitemap reached
// through a 20 KB redirect path), each fetched SWARD_RSS_ROUNDS times (20)
// by SWARD_RSS_CONC workers (32, more than the 8 fetches the node runs at
// once, so its queue is always full), holding every capture as the service
// does until it is published. It runs twice, with the default memory
// budget (48 MiB, raised to fit two fetches at the caps) and with --memory-budget 48MiB, and fails (b.Fatalf) if
// any run passes 150 MiB. Each iteration is one
// child process; the figures are medians.
func BenchmarkAmplificationRSS(b *testing.B) {
	srv := httptest.NewServer(amplifySite())
	defer srv.Close()
	for _, bc := range []struct {
		name, budget string
		enforce      bool
	}{{"budget=default", "", true}, {"budget=48MiB", "48MiB", true}} {
		b.Run(bc.name, func(b *testing.B) { benchAmplificationRSS(b, srv.URL, bc.budget, bc.enforce) })
	}
}

func benchAmplificationRSS(b *testing.B, base, budget string, enforce bool) {
	var runs []rssResult
	for range b.N {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestAmplificationRSSChild$", "-test.count", "1")
		cmd.Env = append(os.Environ(), rssEnvChild+"="+base)
		if budget != "" {
			cmd.Env = append(cmd.Env, rssEnvBudget+"="+budget)
		}
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if testing.Verbose() {
			cmd.Stderr = io.MultiWriter(&errOut, os.Stderr) // e.g. GODEBUG=gctrace=1
		}
		if err := cmd.Run(); err != nil {
			b.Fatalf("child: %v\n%s\n%s", err, out.String(), errOut.String())
		}
		var r rssResult
		found := false
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "RSS "); ok {
				if err := json.Unmarshal([]byte(rest), &r); err != nil {
					b.Fatal(err)
				}
				found = true
			}
		}
		if !found {
			b.Fatalf("child reported nothing:\n%s\n%s", out.String(), errOut.String())
		}
		if r.Errors > 0 {
			b.Fatalf("child: %d of %d fetches failed\n%s", r.Errors, r.Fetches, out.String())
		}
		if r.PeakRSS > rssGoal {
			if enforce {
				b.Fatalf("peak RSS %.1f MiB, over the 150 MiB goal", float64(r.PeakRSS)/(1<<20))
			}
			b.Logf("peak RSS %.1f MiB, over the 150 MiB goal", float64(r.PeakRSS)/(1<<20))
		}
		runs = append(runs, r)
	}
	med := func(f func(rssResult) int64) float64 {
		v := make([]int64, 0, len(runs))
		for _, r := range runs {
			v = append(v, f(r))
		}
		slices.Sort(v)
		return float64(v[len(v)/2])
	}
	b.ReportMetric(med(func(r rssResult) int64 { return r.PeakRSS })/(1<<20), "peak-rss-MiB")
	b.ReportMetric(med(func(r rssResult) int64 { return r.MaxRSS })/(1<<20), "maxrss-MiB")
	b.ReportMetric(med(func(r rssResult) int64 { return r.PeakReserved })/(1<<20), "peak-reserved-MiB")
	b.ReportMetric(med(func(r rssResult) int64 { return r.MaxOutlinks })/(1<<20), "max-outlinks-MiB")
	b.ReportMetric(med(func(r rssResult) int64 { return int64(r.Fetches) }), "fetches")
}

// TestAmplificationRSSChild is the node side of BenchmarkAmplificationRSS;
// it does nothing unless the benchmark started it.
func TestAmplificationRSSChild(t *testing.T) {
	base := os.Getenv(rssEnvChild)
	if base == "" {
		t.Skip("run by BenchmarkAmplificationRSS only")
	}
	rounds, conc := envInt(rssEnvRounds, 20), envInt(rssEnvConc, 32)
	cfg := Config{MinHostDelay: 1, DataDir: t.TempDir()}
	if v := os.Getenv(rssEnvBudget); v != "" {
		n, err := ParseBytes(v)
		if err != nil {
			t.Fatal(err)
		}
		cfg.MemoryBudgetBytes = n
	}
	cfg.allowedTestPrefixes = []string{"127.0.0.0/8"}
	f, err := NewFetcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if dir := os.Getenv("SWARD_BENCH_PROFILE_DIR"); dir != "" {
		stop := profileHeapPeak(filepath.Join(dir, "rss.heap"))
		defer stop()
	}
	urls := make(chan string, rounds*len(ampPaths))
	for range rounds {
		for _, p := range ampPaths {
			urls <- base + p
		}
	}
	close(urls)
	var (
		mu       sync.Mutex
		res      rssResult
		wg       sync.WaitGroup
		hostConc = schemas.HostBudget{MaxConcurrency: conc}
	)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range urls {
				c, release := f.FetchHeld(context.Background(), schemas.LeaseItem{JobID: "rss", URL: u}, hostConc)
				var n int64
				for _, l := range c.Outlinks {
					n += int64(len(l))
				}
				mu.Lock()
				res.Fetches++
				if c.Error != "" || len(c.Outlinks) == 0 {
					res.Errors++
					t.Logf("%s: %q, %d outlinks", u, c.Error, len(c.Outlinks))
				}
				res.MaxOutlinks = max(res.MaxOutlinks, n)
				mu.Unlock()
				release()
			}
		}()
	}
	wg.Wait()
	res.PeakReserved = f.MemoryStats().Peak
	res.PeakRSS = vmHWM(t)
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	res.MaxRSS = ru.Maxrss << 10
	out, _ := json.Marshal(res)
	fmt.Printf("RSS %s\n", out)
}

// vmHWM reads the process's peak resident set size from /proc/self/status.
func vmHWM(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// profileHeapPeak writes a heap profile to path each time the live heap
// reaches a new high (sampled every 100 ms), until stop is called.
func profileHeapPeak(path string) (stop func()) {
	done := make(chan struct{})
	go func() {
		var peak uint64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc <= peak {
				continue
			}
			peak = ms.HeapAlloc
			if f, err := os.Create(path); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
	}()
	return func() { close(done) }
}
