//go:build unix

package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/swardnet/sward/examples/site"
	"github.com/swardnet/sward/internal/faults"
	"github.com/swardnet/sward/network"
	"github.com/swardnet/sward/schemas"
)

// benchCap is every benchmark node's bandwidth cap.
const benchCap = 256 << 10

// benchSite is the multi-host site of the network benchmark: enough pages
// that eight capped nodes stay busy for several seconds, and enough hosts
// that the per-host politeness (one fetch at a time, benchHostDelay apart)
// is not what limits eight nodes: with nine hosts at most nine fetches are
// in flight in the whole network, about one per node, and each then waits
// on its host's gap instead of using its bandwidth. No host is one of the
// site's small robots.txt Crawl-delay hosts: a node that leases a batch
// from such a host spends a second per URL on it, which measures
// politeness, not bandwidth.
var benchSite = site.Config{Hosts: 36, PagesPerHost: 60, NoSmallHosts: true}

// benchHostDelay is the benchmark job's gap between fetches to one host
// (the demo job's 200 ms would cap a host at five pages a second, far
// below what a 256 KiB/s node can read).
const benchHostDelay = 10 * time.Millisecond

// arrival is one capture as the coordinator ingested it.
type arrival struct {
	at      time.Time
	fetched time.Time
	bytes   int64
}

// crawlStats is one benchmark crawl's outcome.
type crawlStats struct {
	steady  float64 // body bytes/s between the first capture and the one that brought 90% of the bytes
	overall float64 // body bytes/s from submission to the last capture
	bytes   int64
	pages   int
	lat     []time.Duration // fetched -> ingested, per capture
	cpu     float64         // process CPU seconds per wall second during the crawl
}

// cpuSeconds is the user+system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// runCapped crawls benchSite with n nodes capped at benchCap each, an
// in-process coordinator and real libp2p hosts on loopback.
func runCapped(b *testing.B, n int, frontierSync string) crawlStats {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s, err := site.New(benchSite)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	spec := s.JobSpec("bench", 6, 100000)
	spec.VerifySampleRate = 0
	spec.Politeness = schemas.Politeness{MinDelay: schemas.Duration(benchHostDelay), MaxConcurrency: 1}

	dir := b.TempDir()
	var (
		mu   sync.Mutex
		arrs []arrival
	)
	ready := make(chan string, 1)
	cfg := faults.CoordinatorConfig{
		DataDir: filepath.Join(dir, "coordinator"), LeaseTTL: 10 * time.Second,
		HostDelay: benchHostDelay, Job: spec, Publish: true, FrontierSync: frontierSync,
		OnCapture: func(c *schemas.Capture) {
			now := time.Now()
			mu.Lock()
			arrs = append(arrs, arrival{at: now, fetched: c.FetchedAt, bytes: c.BodySize})
			mu.Unlock()
		},
		Ready: func(addr string) { ready <- addr },
	}
	start, cpu0 := time.Now(), cpuSeconds()
	ran := make(chan error, 1)
	go func() {
		_, err := faults.RunCoordinator(ctx, cfg)
		ran <- err
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-ran:
		b.Fatalf("coordinator stopped before it was ready: %v", err)
	}
	var nodes []*faults.Node
	defer func() {
		for _, nd := range nodes {
			nd.Close()
		}
	}()
	for i := range n {
		nd, err := faults.StartNode(ctx, faults.NodeConfig{
			DataDir: filepath.Join(dir, fmt.Sprintf("node%d", i+1)), IP: fmt.Sprintf("127.0.0.%d", i+2),
			Coordinator: addr, HostDelay: benchHostDelay, BandwidthBytesPerSec: benchCap,
		})
		if err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, nd)
	}
	if err := <-ran; err != nil {
		b.Fatalf("crawl: %v", err)
	}
	cpu := (cpuSeconds() - cpu0) / time.Since(start).Seconds()
	mu.Lock()
	defer mu.Unlock()
	hist := map[int]int64{}
	for _, a := range arrs {
		hist[int(a.at.Sub(start).Seconds())] += a.bytes
	}
	var sb strings.Builder
	for sec := 0; sec <= int(time.Since(start).Seconds()); sec++ {
		fmt.Fprintf(&sb, "%d:%dK ", sec, hist[sec]>>10)
	}
	b.Logf("body KiB per second: %s", sb.String())
	st := summarize(start, arrs)
	st.cpu = cpu
	return st
}

// summarize turns arrivals into throughput and latency figures.
func summarize(start time.Time, arrs []arrival) crawlStats {
	var st crawlStats
	if len(arrs) == 0 {
		return st
	}
	slices.SortFunc(arrs, func(a, b arrival) int { return a.at.Compare(b.at) })
	for _, a := range arrs {
		st.bytes += a.bytes
		if lat := a.at.Sub(a.fetched); lat >= 0 {
			st.lat = append(st.lat, lat)
		}
	}
	st.pages = len(arrs)
	last := arrs[len(arrs)-1].at
	if d := last.Sub(start).Seconds(); d > 0 {
		st.overall = float64(st.bytes) / d
	}
	// Steady state: from the first capture to the one that brought 90% of
	// the bytes, leaving out start-up (dial, first lease) and the crawl's
	// tail, where too few URLs are left to keep every node busy.
	var sum int64
	for _, a := range arrs {
		sum += a.bytes
		if sum*10 >= st.bytes*9 {
			if d := a.at.Sub(arrs[0].at).Seconds(); d > 0 {
				st.steady = float64(sum-arrs[0].bytes) / d
			}
			break
		}
	}
	return st
}

// quantile returns the q-quantile of ds (nearest rank); ds is sorted.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(q*float64(len(ds)-1) + 0.5)
	return ds[min(i, len(ds)-1)]
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// quietBench silences the cluster's info logs for the benchmark's run.
func quietBench(b *testing.B) {
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.Cleanup(func() { slog.SetDefault(prev) })
}

// BenchmarkNetworkThroughput crawls the multi-host example site with 1, 2,
// 4 and 8 nodes, each capped at 256 KiB/s, and reports the aggregate body
// throughput (steady state and overall), its ratio to N x cap, and the
// latency from a node finishing a fetch to the coordinator ingesting the
// capture (sign, gossip, validate, queue), and the CPU cores the whole
// process (site, coordinator, nodes) kept busy. Every iteration is a whole crawl;
// run it with -benchtime=1x -count=N and take medians (see
// BENCHMARKS-network.md), or with -benchtime=3x for in-benchmark medians.
func BenchmarkNetworkThroughput(b *testing.B) {
	benchThroughput(b, []int{1, 2, 4, 8}, "")
}

// BenchmarkNetworkThroughputSyncNormal is BenchmarkNetworkThroughput for
// 4 and 8 nodes with the frontier's SQLite in synchronous=NORMAL mode
// (no fsync per transaction; the storage spool still syncs every add): it
// shows how much of the coordinator's ingest time the frontier's fsyncs
// take.
func BenchmarkNetworkThroughputSyncNormal(b *testing.B) {
	benchThroughput(b, []int{4, 8}, "NORMAL")
}

func benchThroughput(b *testing.B, counts []int, frontierSync string) {
	for _, n := range counts {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			quietBench(b)
			var steady, overall, p50, p99, cpu []float64
			var pages int
			for range b.N {
				st := runCapped(b, n, frontierSync)
				if st.pages == 0 {
					b.Fatal("the crawl captured nothing")
				}
				slices.Sort(st.lat)
				steady = append(steady, st.steady)
				overall = append(overall, st.overall)
				p50 = append(p50, float64(quantile(st.lat, 0.5).Microseconds())/1000)
				p99 = append(p99, float64(quantile(st.lat, 0.99).Microseconds())/1000)
				pages = st.pages
				cpu = append(cpu, st.cpu)
			}
			capTotal := float64(n * benchCap)
			b.ReportMetric(median(steady)/1024, "steady-KiB/s")
			b.ReportMetric(median(steady)/capTotal, "steady/cap")
			b.ReportMetric(median(overall)/1024, "overall-KiB/s")
			b.ReportMetric(median(overall)/capTotal, "overall/cap")
			b.ReportMetric(median(p50), "ingest-p50-ms")
			b.ReportMetric(median(p99), "ingest-p99-ms")
			b.ReportMetric(float64(pages), "pages")
			b.ReportMetric(median(cpu), "cpu-cores")
		})
	}
}

// BenchmarkGossipLatency measures capture delivery on bare network hosts:
// N publishers, each bootstrapped to one subscriber (the coordinator's
// role), publish signed captures with a 16 KiB inline body at 16 per second
// each (256 KiB/s, a capped node's pace); the latency is from the start of
// PublishCapture to the subscriber's channel, including signature checks.
func BenchmarkGossipLatency(b *testing.B) {
	const (
		perPublisher = 64
		interval     = time.Second / 16
	)
	body := []byte(strings.Repeat("<p>sward benchmark body</p>\n", 16<<10/28))
	for _, n := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("publishers=%d", n), func(b *testing.B) {
			quietBench(b)
			var p50, p99 []float64
			for range b.N {
				lat := gossipRound(b, n, perPublisher, interval, body)
				slices.Sort(lat)
				p50 = append(p50, float64(quantile(lat, 0.5).Microseconds())/1000)
				p99 = append(p99, float64(quantile(lat, 0.99).Microseconds())/1000)
			}
			b.ReportMetric(median(p50), "p50-ms")
			b.ReportMetric(median(p99), "p99-ms")
		})
	}
}

// gossipRound runs one round of BenchmarkGossipLatency and returns every
// message's latency; it fails unless every message arrives.
func gossipRound(b *testing.B, n, perPublisher int, interval time.Duration, body []byte) []time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sub, err := network.New(ctx, network.Config{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	in, err := sub.SubscribeCaptures(ctx)
	if err != nil {
		b.Fatal(err)
	}
	pubs := make([]*network.Host, n)
	for i := range pubs {
		h, err := network.New(ctx, network.Config{
			ListenAddrs: []string{fmt.Sprintf("/ip4/127.0.0.%d/tcp/0", i+2)},
			Bootstrap:   []string{sub.Addrs()[0]}, Logger: quiet,
		})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		pubs[i] = h
	}
	// Publishers only join the topic, so the subscriber does not list them;
	// each publisher waits until it sees the subscriber.
	for _, h := range pubs {
		if err := h.WaitTopicPeers(ctx, schemas.TopicCaptures, 1); err != nil {
			b.Fatal(err)
		}
	}

	var (
		mu   sync.Mutex
		sent = map[string]time.Time{}
	)
	total := n * perPublisher
	lat := make([]time.Duration, 0, total)
	got := make(chan struct{})
	go func() {
		defer close(got)
		for c := range in {
			now := time.Now()
			mu.Lock()
			if t0, ok := sent[c.URL]; ok {
				lat = append(lat, now.Sub(t0))
			}
			n := len(lat)
			mu.Unlock()
			if n == total {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for i, h := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for k := range perPublisher {
				<-tick.C
				c := &schemas.Capture{
					Version: schemas.CaptureVersion, URL: fmt.Sprintf("http://127.0.0.10/p%d/%d", i, k), JobID: "bench", Status: 200,
					ContentType: "text/html", Body: body, BodySize: int64(len(body)),
					BodySHA256: schemas.SHA256Hex(body), FetchedAt: time.Now().UTC(),
				}
				if err := network.SignCapture(h.Key(), c); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				sent[c.URL] = time.Now()
				mu.Unlock()
				if err := h.PublishCapture(ctx, c); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		b.Fatalf("only %d of %d captures arrived", len(lat), total)
	}
	return lat
}
