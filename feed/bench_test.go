package feed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

// The benchmarks share one feed with benchDocs documents, built once per
// `go test -bench` run (SWARD_FEED_BENCH_DOCS overrides the count).
var (
	benchOnce  sync.Once
	benchFeed  *Feed
	benchSrv   *httptest.Server
	benchVocab []string
	benchErr   error
)

const benchDocsDefault = 100_000

func benchDocs() int {
	if n, err := strconv.Atoi(os.Getenv("SWARD_FEED_BENCH_DOCS")); err == nil && n > 0 {
		return n
	}
	return benchDocsDefault
}

// vocabulary makes n pronounceable pseudo-words, deterministic.
func vocabulary(n int, r *rand.Rand) []string {
	cons, vows := "bcdfghjklmnprstvwz", "aeiou"
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		var sb strings.Builder
		for s := 0; s < 2+r.IntN(2); s++ {
			sb.WriteByte(cons[r.IntN(len(cons))])
			sb.WriteByte(vows[r.IntN(len(vows))])
		}
		if w := sb.String(); !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// synthDoc draws words with a Zipf distribution, as natural text has.
func synthDoc(i int, vocab []string, z *rand.Zipf, at time.Time) schemas.Document {
	words := func(n int) string {
		ws := make([]string, n)
		for j := range ws {
			ws[j] = vocab[z.Uint64()]
		}
		return strings.Join(ws, " ")
	}
	var text strings.Builder
	for p := 0; p < 3; p++ {
		text.WriteString(words(50))
		text.WriteString(".\n")
	}
	d := mkDoc(fmt.Sprintf("doc%06d", i), fmt.Sprintf("https://site%d.example.com/page/%d", i%500, i), words(6), text.String(), at)
	return d
}

func setupBench(b *testing.B) {
	benchOnce.Do(func() {
		r := rand.New(rand.NewPCG(1, 2))
		benchVocab = vocabulary(20000, r)
		z := rand.NewZipf(r, 1.1, 2, uint64(len(benchVocab)-1))
		f, err := New(context.Background(), Config{Retention: 100_000, RateLimit: RateLimit{PerSecond: 1e9, Burst: 1 << 30}, Logger: quietLogger()})
		if err != nil {
			benchErr = err
			return
		}
		n := benchDocs()
		start := time.Now()
		batch := make([]schemas.Document, 0, 1000)
		for i := 0; i < n; i++ {
			batch = append(batch, synthDoc(i, benchVocab, z, t0.Add(time.Duration(i)*time.Second)))
			if len(batch) == cap(batch) || i == n-1 {
				if _, err := f.add(context.Background(), batch, false); err != nil {
					benchErr = err
					return
				}
				batch = batch[:0]
			}
		}
		fmt.Fprintf(os.Stderr, "feed bench: indexed %d documents in %s (%.0f docs/s)\n", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
		benchFeed = f
		benchSrv = httptest.NewServer(f.Handler())
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkSearch measures GET /v1/search over loopback HTTP against the
// shared 100,000-document index with 1-3 word queries. Two query mixes:
// "content" draws words from Zipf ranks 100-5,000 of the synthetic
// vocabulary (in natural English the top 100 ranks are mostly the stop
// words the standard analyzer drops, so this is the realistic mix);
// "frequent" draws from ranks 10-2,010, a harsher mix in which about 3% of
// queries contain a word found in most documents. Run with -benchtime=2000x
// for a stable p99.
func BenchmarkSearch(b *testing.B) {
	setupBench(b)
	for _, mix := range []struct {
		name     string
		from, to int
	}{{"content", 100, 5000}, {"frequent", 10, 2010}} {
		b.Run(mix.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(3, 4))
			client := benchSrv.Client()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ws := make([]string, 1+r.IntN(3))
				for j := range ws {
					ws[j] = benchVocab[mix.from+r.IntN(mix.to-mix.from)]
				}
				u := benchSrv.URL + "/v1/search?k=10&q=" + strings.Join(ws, "+")
				start := time.Now()
				resp, err := client.Get(u)
				if err != nil {
					b.Fatal(err)
				}
				var res SearchResponse
				err = json.NewDecoder(resp.Body).Decode(&res)
				resp.Body.Close()
				lat = append(lat, time.Since(start))
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("search: %d %v", resp.StatusCode, err)
				}
			}
			b.StopTimer()
			b.ReportMetric(ms(percentile(lat, 0.5)), "p50-ms")
			b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
		})
	}
}

// BenchmarkDelivery measures the time from Feed.Add (acceptance) to the
// event arriving at an SSE client over loopback HTTP, with the 100,000
// document index behind it.
func BenchmarkDelivery(b *testing.B) {
	setupBench(b)
	ch, stop := openFeed(b, benchSrv.URL, "", "")
	defer stop()
	r := rand.New(rand.NewPCG(5, 6))
	z := rand.NewZipf(r, 1.1, 2, uint64(len(benchVocab)-1))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := synthDoc(10_000_000+i, benchVocab, z, time.Now().UTC())
		start := time.Now()
		if err := benchFeed.Add(context.Background(), d); err != nil {
			b.Fatal(err)
		}
		_, rec := nextDoc(b, ch)
		lat = append(lat, time.Since(start))
		if rec.ID != d.ID {
			b.Fatalf("got %s, want %s", rec.ID, d.ID)
		}
	}
	b.StopTimer()
	b.ReportMetric(ms(percentile(lat, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
}

// BenchmarkFetchOverhead compares, in the same run, a direct HTTP GET of a
// local page with POST /v1/fetch (max_age 0) of the same page through a
// LiveFetcher that does the same GET. The difference is the feed's
// overhead: request handling, indexing, change tracking and publishing.
func BenchmarkFetchOverhead(b *testing.B) {
	page := bytes.Repeat([]byte("A local page with some words in it for the fetch benchmark.\n"), 300)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(page)
	}))
	defer site.Close()
	f, err := New(context.Background(), Config{Fetcher: &getFetcher{client: site.Client()}, RateLimit: RateLimit{PerSecond: 1e9, Burst: 1 << 30}, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	srv := httptest.NewServer(f.Handler())
	defer srv.Close()
	body, _ := json.Marshal(map[string]any{"url": site.URL + "/page", "max_age": 0})
	direct := make([]time.Duration, 0, b.N)
	viaFeed := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		resp, err := site.Client().Get(site.URL + "/page")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		direct = append(direct, time.Since(start))

		start = time.Now()
		resp, err = srv.Client().Post(srv.URL+"/v1/fetch", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		var fr FetchResponse
		err = json.NewDecoder(resp.Body).Decode(&fr)
		resp.Body.Close()
		viaFeed = append(viaFeed, time.Since(start))
		if err != nil || fr.Cache != CacheMiss || len(fr.Content) != len(page) {
			b.Fatalf("fetch: %v cache %q len %d", err, fr.Cache, len(fr.Content))
		}
	}
	b.StopTimer()
	d50, f50 := percentile(direct, 0.5), percentile(viaFeed, 0.5)
	b.ReportMetric(ms(d50), "direct-p50-ms")
	b.ReportMetric(ms(f50), "fetch-p50-ms")
	b.ReportMetric(ms(f50-d50), "overhead-p50-ms")
	b.ReportMetric(ms(percentile(viaFeed, 0.99)-percentile(direct, 0.99)), "overhead-p99-ms")
}
