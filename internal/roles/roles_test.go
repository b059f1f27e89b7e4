package roles

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/swardnet/sward/feed"
	"github.com/swardnet/sward/internal/testutil"
	"github.com/swardnet/sward/node"
	"github.com/swardnet/sward/schemas"
)

// startCoordinator starts a coordinator role on loopback with its Serve
// running; the cleanup stops and closes it.
func startCoordinator(t *testing.T, cfg CoordinatorConfig) (*Coordinator, context.CancelFunc, func() error) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	c, err := StartCoordinator(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var serveErr error
	served := make(chan struct{})
	go func() {
		defer close(served)
		serveErr = c.Serve(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-served
		_ = c.Close()
	})
	wait := func() error {
		select {
		case <-served:
			return serveErr
		case <-time.After(4 * time.Second):
			return context.DeadlineExceeded
		}
	}
	return c, cancel, wait
}

// TestNodeDashboardRefusesNonLoopback: the node's dashboard is served by
// node.Dashboard.Serve, which refuses a listen address anyone on the LAN
// could reach (sward node used to serve its own, and took 0.0.0.0).
func TestNodeDashboardRefusesNonLoopback(t *testing.T) {
	coord, _, _ := startCoordinator(t, CoordinatorConfig{})
	for _, addr := range []string{"0.0.0.0:0", "[::]:0"} {
		t.Run(addr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			n, err := StartNode(ctx, NodeConfig{
				Node: node.Config{DataDir: t.TempDir()}, Join: []string{coord.Addr()},
				Coordinator: coord.Host.ID(), DashboardAddr: addr,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			err = n.Serve(ctx)
			if err == nil || !strings.Contains(err.Error(), "loopback") {
				t.Fatalf("Serve with dashboard on %s: %v, want a refusal naming loopback", addr, err)
			}
			if ctx.Err() != nil {
				t.Fatal("Serve did not fail at once")
			}
		})
	}
}

// TestNodeCloseSavesUsage: closing a node closes its Fetcher, which saves
// the month's usage (sward node never closed it: the bytes of the last
// seconds were not counted against the monthly cap).
func TestNodeCloseSavesUsage(t *testing.T) {
	coord, _, _ := startCoordinator(t, CoordinatorConfig{})
	page := strings.Repeat("<p>usage counts every byte</p>", 200)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>" + page + "</body></html>"))
	}))
	defer site.Close()
	dir := t.TempDir()
	ctx := context.Background()
	n, err := StartNode(ctx, NodeConfig{
		Node: node.Config{DataDir: dir, AllowPrivate: true}, Join: []string{coord.Addr()}, Coordinator: coord.Host.ID(),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first fetch saves the usage at once (nothing was saved yet);
	// the second is within the save interval, so only Close saves it.
	for i := range 2 {
		c := n.Fetcher.Fetch(ctx, schemas.LeaseItem{JobID: "j", URL: fmt.Sprintf("%s/%d", site.URL, i)}, schemas.HostBudget{})
		if c == nil || c.Status != http.StatusOK {
			t.Fatalf("fetch %d: %+v", i, c)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "usage.json"))
	if err != nil {
		t.Fatalf("usage not saved at close: %v", err)
	}
	var u struct {
		Bytes int64 `json:"bytes"`
	}
	if err := json.Unmarshal(data, &u); err != nil {
		t.Fatal(err)
	}
	if u.Bytes < 2*int64(len(page)) {
		t.Errorf("saved usage %d bytes, want at least both pages' %d: the last fetch's bytes were lost at close", u.Bytes, 2*len(page))
	}
}

// TestCoordinatorFeedStreamsEndAtShutdown: the feed of a coordinator
// (sward coordinator --feed) is served by the feed's own Serve: an open
// SSE stream ends when the coordinator stops, and Serve returns promptly
// (it used to be served without stream shutdown or timeouts).
func TestCoordinatorFeedStreamsEndAtShutdown(t *testing.T) {
	c, cancel, wait := startCoordinator(t, CoordinatorConfig{Feed: &feed.Config{Addr: "127.0.0.1:0"}})
	resp, err := http.Get("http://" + c.Feed.Addr + "/v1/feed")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("feed stream: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
		}
	}()
	start := time.Now()
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Serve after the stop, with a stream open: %v (want nil within 4s)", err)
	}
	select {
	case <-ended:
	case <-time.After(2 * time.Second):
		t.Fatal("the open feed stream did not end at shutdown")
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("shutdown took %v", d)
	}
}

// TestRolesLogThroughTheirLogger: the libp2p host a role starts logs
// through the role's Logger (it used to log to slog.Default whatever the
// role was given).
func TestRolesLogThroughTheirLogger(t *testing.T) {
	var coordLogs, nodeLogs testutil.SyncBuffer
	coord, _, _ := startCoordinator(t, CoordinatorConfig{Logger: slog.New(slog.NewTextHandler(&coordLogs, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := StartNode(ctx, NodeConfig{
		Node: node.Config{DataDir: t.TempDir()}, Join: []string{coord.Addr()}, Coordinator: coord.Host.ID(),
		Logger: slog.New(slog.NewTextHandler(&nodeLogs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for role, logs := range map[string]*testutil.SyncBuffer{"coordinator": &coordLogs, "node": &nodeLogs} {
		if !strings.Contains(logs.String(), "network host started") {
			t.Errorf("the %s's Logger got no line from its network host:\n%s", role, logs.String())
		}
	}
}

// TestCoordinatorCloseReleasesEverything: a coordinator that was started,
// served and closed leaves no goroutine behind: the bitswap server, the
// jobs topic and the announcer stop with it (the cluster never closed its
// bitswap server or jobs topic).
func TestCoordinatorCloseReleasesEverything(t *testing.T) {
	// Warm up what starts once per process (loggers, DNS, pools).
	func() {
		ctx, cancel := context.WithCancel(context.Background())
		c, err := StartCoordinator(ctx, CoordinatorConfig{DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		_ = c.Close()
	}()
	time.Sleep(500 * time.Millisecond)
	base, _ := liveGoroutines()
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		c, err := StartCoordinator(ctx, CoordinatorConfig{DataDir: t.TempDir(), APIAddr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Serve(ctx) }()
		time.Sleep(200 * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Serve: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	// A timeout shows the goroutines that were still there.
	var (
		n      int
		stacks string
	)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%d goroutines after three coordinators were closed, %d before:\n%s", n, base, stacks)
		}
	})
	testutil.Eventually(t, 10*time.Second, fmt.Sprintf("at most %d goroutines (%d before the coordinators, 2 to spare)", base+2, base), func() bool {
		n, stacks = liveGoroutines()
		return n <= base+2
	})
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"coordinator without data dir", CoordinatorConfig{}.Validate(), "data directory"},
		{"coordinator bad sync", CoordinatorConfig{DataDir: "x", FrontierSync: "OFF"}.Validate(), "FULL or NORMAL"},
		{"node without data dir", NodeConfig{Join: []string{"x"}}.Validate(), "data directory"},
		{"node without a way in", NodeConfig{Node: node.Config{DataDir: "x"}}.Validate(), "--join"},
		{"curator remote UI", CuratorConfig{Dir: "x", Addr: "0.0.0.0:7790"}.Validate(), "loopback"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, tc.err, tc.want)
		}
	}
	if err := (CuratorConfig{Dir: "x", Addr: "127.0.0.1:7790"}).Validate(); err != nil {
		t.Errorf("loopback curator UI refused: %v", err)
	}
}

// leakedByLibraries are goroutines third-party code starts and never
// stops: golang-lru's expirable LRU (used inside libp2p) runs a cleaner
// for the life of the process. They are not counted.
var leakedByLibraries = []string{"golang-lru/v2/expirable.NewLRU"}

// liveGoroutines counts the goroutines, less leakedByLibraries, and
// returns their stacks.
func liveGoroutines() (int, string) {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var keep []string
next:
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, l := range leakedByLibraries {
			if strings.Contains(g, l) {
				continue next
			}
		}
		keep = append(keep, g)
	}
	return len(keep), strings.Join(keep, "\n\n")
}
