package coordinator

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/schemas"
)

// BenchmarkIngest measures Ingest of leased captures through the real
// pipeline, with the frontier in its production durability mode (SyncFull)
// and the default verification sample rate, by two concurrent ingest
// workers as Serve runs them. It reports captures per second; the per
// capture state the coordinator keeps durable (ledger credit, the node's
// contribution, sampled checks) is part of what it measures.
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	f, err := frontier.Open(ctx, filepath.Join(dir, "frontier.db"), frontier.Config{DefaultHostPolicy: frontier.HostPolicy{MaxConcurrency: 1000}, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	c, _, _ := newCoordinatorOn(b, dir, f, time.Hour)
	c.log = quietLogger()
	const hosts = 50
	seeds := make([]string, b.N)
	for i := range seeds {
		seeds[i] = fmt.Sprintf("http://127.0.0.%d:9/report/%d", 1+i%hosts, i)
	}
	domains := make([]string, hosts)
	for i := range domains {
		domains[i] = fmt.Sprintf("127.0.0.%d:9", 1+i)
	}
	spec := &schemas.JobSpec{Version: schemas.JobSpecVersion, Name: "bench", Dataset: "bench", Seeds: seeds,
		Scope: schemas.Scope{Domains: domains}, MaxDepth: 0, VerifySampleRate: 0.05, TDMPolicy: schemas.TDMSkip}
	if _, err := c.Submit(ctx, spec); err != nil {
		b.Fatal(err)
	}
	// Nodes lease every URL first; each capture then comes from its holder.
	nodes := []peer.ID{testPeer(b), testPeer(b), testPeer(b), testPeer(b)}
	var capts []*schemas.Capture
	now := time.Now()
	for len(capts) < b.N {
		before := len(capts)
		for _, n := range nodes {
			l, err := f.Lease(ctx, n.String(), 1000, now, time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			if l == nil {
				continue
			}
			for _, it := range l.Items {
				capts = append(capts, htmlCapture("bench", it.URL, n.String(), article(len(capts), "ad", "now")))
			}
		}
		if len(capts) == before {
			b.Fatalf("only %d of %d URLs leased", len(capts), b.N)
		}
	}
	b.ResetTimer()
	cpuStart := cpuSeconds()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(capts) {
					return
				}
				if err := c.Ingest(ctx, capts[i]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	if p, err := c.Progress(ctx, "bench"); err != nil || p.Done != int64(b.N) {
		b.Fatalf("progress %+v (%v), want %d done", p, err, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "captures/s")
	b.ReportMetric(float64(b.N)/(cpuSeconds()-cpuStart), "captures/cpu-s")
}
