//go:build unix

package frontier

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchCandidates fills buf with candidates start..start+len(buf) of the
// benchmark stream: every tenth candidate from the third on (3 in 10) is an
// earlier URL offered again in another spelling (upper-case host, default
// port, tracking parameter, fragment), the rest are new URLs spread over
// 2,000 hosts.
func benchCandidates(buf []Candidate, start int) {
	for k := range buf {
		i := start + k
		if i%10 >= 7 {
			// A URL offered earlier (in this group of ten or before).
			n := (i/10)*7/2 + i%10 - 7
			buf[k] = Candidate{JobID: "bench", URL: fmt.Sprintf("HTTPS://WWW.Site%d.example:443/articles/%d/page-%d.html?utm_source=feed#top", n%2000, n/2000, n), Depth: 2}
			continue
		}
		n := (i/10)*7 + i%10
		buf[k] = Candidate{JobID: "bench", URL: fmt.Sprintf("https://www.site%d.example/articles/%d/page-%d.html", n%2000, n/2000, n), Depth: 1}
	}
}

// cpuSeconds is the user+system CPU time this process has used; it makes
// a throughput figure that does not depend on how busy a shared machine is.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// rssKiB reads a field (VmRSS, VmHWM) of /proc/self/status in KiB; 0 when
// unavailable.
func rssKiB(field string) int64 {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkFrontierAdd1M enqueues 1,000,000 candidate URLs (30% duplicates
// in other spellings) into a fresh frontier in batches of 10,000, and
// reports URLs enqueued+deduplicated per second, the peak Go heap, the
// process's RSS and the database size. Run it with -benchtime=1x.
func BenchmarkFrontierAdd1M(b *testing.B) {
	for _, mode := range []string{SyncFull, SyncNormal} {
		b.Run("sync="+mode, func(b *testing.B) { benchAdd(b, mode, 1_000_000, 10_000) })
	}
}

func benchAdd(b *testing.B, mode string, total, batch int) {
	ctx := context.Background()
	var (
		seconds  float64
		cpu      float64
		peakHeap uint64
		peakRSS  int64
		dbBytes  int64
	)
	buf := make([]Candidate, batch)
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		dir := b.TempDir()
		path := filepath.Join(dir, "frontier.db")
		f, err := Open(ctx, path, Config{Synchronous: mode, Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		putJob(b, f, "bench", 0)
		runtime.GC()
		b.StartTimer()
		start := time.Now()
		cpuStart := cpuSeconds()
		admitted := 0
		var ms runtime.MemStats
		for off := 0; off < total; off += batch {
			benchCandidates(buf, off)
			n, err := f.Add(ctx, buf)
			if err != nil {
				b.Fatal(err)
			}
			admitted += n
			if (off/batch)%10 == 0 {
				runtime.ReadMemStats(&ms)
				peakHeap = max(peakHeap, ms.HeapAlloc)
				peakRSS = max(peakRSS, rssKiB("VmRSS"))
			}
		}
		seconds += time.Since(start).Seconds()
		cpu += cpuSeconds() - cpuStart
		b.StopTimer()
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapAlloc)
		peakRSS = max(peakRSS, rssKiB("VmRSS"))
		if want := total / 10 * 7; admitted != want {
			b.Fatalf("admitted %d of %d candidates, want %d", admitted, total, want)
		}
		st, err := f.Stats(ctx, "bench")
		if err != nil || st.Queued != int64(admitted) {
			b.Fatalf("Stats = %+v, %v", st, err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		dbBytes = 0
		for _, suffix := range []string{"", "-wal"} {
			if fi, err := os.Stat(path + suffix); err == nil {
				dbBytes += fi.Size()
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total*b.N)/seconds, "urls/s")
	b.ReportMetric(float64(total*b.N)/cpu, "urls/cpu-s")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peakRSS)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(dbBytes)/(1<<20), "db-MiB")
}

// BenchmarkFrontierLeaseComplete measures lease+complete round trips of 100
// URLs over 1,000 hosts.
func BenchmarkFrontierLeaseComplete(b *testing.B) {
	ctx := context.Background()
	f, err := Open(ctx, filepath.Join(b.TempDir(), "frontier.db"), Config{DefaultHostPolicy: HostPolicy{MaxConcurrency: 1000}, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	putJob(b, f, "bench", 0)
	const urls = 200_000
	cands := make([]Candidate, 0, 10_000)
	for i := 0; i < urls; i++ {
		cands = append(cands, Candidate{JobID: "bench", URL: fmt.Sprintf("http://h%d.example/p%d", i%1000, i)})
		if len(cands) == cap(cands) {
			if _, err := f.Add(ctx, cands); err != nil {
				b.Fatal(err)
			}
			cands = cands[:0]
		}
	}
	now := time.Now()
	b.ResetTimer()
	cpuStart := cpuSeconds()
	leased := 0
	for i := 0; i < b.N; i++ {
		l, err := f.Lease(ctx, "n", 100, now, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if len(l.Items) == 0 {
			b.StopTimer()
			if _, err := f.ScheduleRecrawl(ctx, "bench", time.Nanosecond, time.Now().Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			continue
		}
		leased += len(l.Items)
		if err := f.Complete(ctx, l.ID, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(leased)/b.Elapsed().Seconds(), "urls/s")
	b.ReportMetric(float64(leased)/(cpuSeconds()-cpuStart), "urls/cpu-s")
}
