package feed

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

// fakeFetcher is a LiveFetcher whose behaviour each test sets.
type fakeFetcher struct {
	fetch func(ctx context.Context, url string) (*schemas.Document, error)
}

func (f fakeFetcher) FetchURL(ctx context.Context, url string) (*schemas.Document, error) {
	return f.fetch(ctx, url)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// mkDoc builds a document with provenance derived from its text.
func mkDoc(id, rawURL, title, text string, fetched time.Time) schemas.Document {
	sum := sha256.Sum256([]byte(text))
	u, _ := url.Parse(rawURL)
	md := "# " + title + "\n\n" + text
	return schemas.Document{
		ID:            id,
		URL:           rawURL,
		Text:          text,
		Title:         &title,
		Markdown:      &md,
		Language:      "en",
		LanguageScore: 0.99,
		Date:          fetched.Format(time.RFC3339),
		Host:          u.Hostname(),
		FetchedAt:     fetched,
		CaptureCID:    "bafkrei" + id,
		NodePeerID:    "12D3KooWtest" + id,
		ContentSHA256: hex.EncodeToString(sum[:]),
		JobID:         "job-1",
	}
}

func newTestFeed(t testing.TB, cfg Config) *Feed {
	t.Helper()
	f, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

func newTestServer(t testing.TB, f *Feed) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(func() {
		f.cancelStreams()
		srv.Close()
	})
	return srv
}

func getJSON(t testing.TB, c *http.Client, u string, hdr http.Header, out any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: decoding: %v", u, err)
		}
	}
	return resp.StatusCode
}

func postJSON(t testing.TB, c *http.Client, u string, body any, out any) (int, map[string]string) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Post(u, "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e map[string]string
	if resp.StatusCode >= 300 {
		_ = json.Unmarshal(raw, &e)
		return resp.StatusCode, e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("POST %s: decoding %s: %v", u, raw, err)
		}
	}
	return resp.StatusCode, nil
}

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	ID, Event, Data string
}

// readSSE parses events from r and sends them on the returned channel,
// which is closed when r ends.
func readSSE(r io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 4<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Event != "" || ev.Data != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
			default:
				k, v, _ := strings.Cut(line, ":")
				v = strings.TrimPrefix(v, " ")
				switch k {
				case "id":
					ev.ID = v
				case "event":
					ev.Event = v
				case "data":
					ev.Data += v
				}
			}
		}
	}()
	return ch
}

// openFeed opens an SSE stream; cancel ends it.
func openFeed(t testing.TB, base, query, lastID string) (<-chan sseEvent, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/feed?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("opening feed: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("opening feed: status %d", resp.StatusCode)
	}
	ch := readSSE(resp.Body)
	return ch, func() {
		cancel()
		resp.Body.Close()
	}
}

// nextDoc waits for the next "document" event.
func nextDoc(t testing.TB, ch <-chan sseEvent) (sseEvent, Record) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("feed stream ended")
			}
			if ev.Event != "document" {
				continue
			}
			var r Record
			if err := json.Unmarshal([]byte(ev.Data), &r); err != nil {
				t.Fatalf("decoding event %s: %v", ev.ID, err)
			}
			return ev, r
		case <-timeout:
			t.Fatal("no feed event within 5s")
		}
	}
}

func mustAdd(t testing.TB, f *Feed, docs ...schemas.Document) {
	t.Helper()
	if err := f.Add(context.Background(), docs...); err != nil {
		t.Fatalf("Add: %v", err)
	}
}

// quietLogger drops logs below warnings, for benchmarks.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func t0Context() context.Context { return context.Background() }
