package node

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestDashboard(t *testing.T) {
	srv := bytesSite(t, 1000, nil, nil)
	f := newTestFetcher(t, func(c *Config) { c.MonthlyCapBytes = 1 << 30; c.ActiveHours = "00:00-24:00" })
	if c := fetch(t, f, srv.URL+"/p"); c.Error != "" {
		t.Fatal(c.Error)
	}
	fetch(t, f, "http://10.0.0.1/")
	f.Meter().SetLedger(Ledger{VerifiedPages: 7, VerifiedBytes: 7000, Reputation: 0.93, Points: 12.5, VerifiedShare: 0.25})
	d := NewDashboard(f, "12D3KooWtest")
	dash := httptest.NewServer(d.Handler())
	defer dash.Close()
	ctx := context.Background()

	s, err := GetStatus(ctx, dash.URL)
	if err != nil {
		t.Fatal(err)
	}
	if s.Peer != "12D3KooWtest" || s.State != GateOpen || s.Pages != 1 || s.Errors != 1 || s.ErrorReasons["ssrf"] != 1 ||
		s.MonthBytes < 1000 || s.MonthlyCap != 1<<30 || s.Ledger.Points != 12.5 || len(s.History) != chartMinutes {
		t.Errorf("status: %+v", s)
	}
	var last Point
	for _, p := range s.History {
		last.Pages += p.Pages
	}
	if last.Pages != 1 {
		t.Errorf("history pages %d, want 1", last.Pages)
	}

	if s.Bodies != nil {
		t.Errorf("bodies shown without a body store: %+v", s.Bodies)
	}
	// With a body store, the kept bodies are shown in the status and the
	// page.
	env := newBlobEnv(t, BlobConfig{})
	env.add(bytes.Repeat([]byte("large body "), 200_000))
	d.ShowBodies(env.blobs)
	if s, err = GetStatus(ctx, dash.URL); err != nil || s.Bodies == nil || s.Bodies.Count != 1 || s.Bodies.Bytes != 2_200_000 {
		t.Errorf("status with a body store: %+v %v", s.Bodies, err)
	}
	if resp, err := http.Get(dash.URL + "/"); err != nil {
		t.Fatal(err)
	} else {
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(page), "1 bodies for the coordinator") {
			t.Errorf("page does not show the kept bodies")
		}
	}
	var text strings.Builder
	if err := s.WriteText(&text); err != nil || !strings.Contains(text.String(), "1 large bodies kept") {
		t.Errorf("status text does not show the kept bodies (%v):\n%s", err, text.String())
	}

	// Pause and resume through the API, as the page's buttons do.
	if s, err = Control(ctx, dash.URL, "pause"); err != nil || !s.Paused || s.State != GatePaused || !f.Paused() {
		t.Fatalf("pause: %+v %v", s, err)
	}
	if s, err = Control(ctx, dash.URL, "resume"); err != nil || s.Paused || f.Paused() {
		t.Fatalf("resume: %+v %v", s, err)
	}
	// A cross-site form post (no control header) is refused.
	resp, err := http.Post(dash.URL+"/api/pause", "application/x-www-form-urlencoded", strings.NewReader("x=1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || f.Paused() {
		t.Errorf("form post: status %d paused %v", resp.StatusCode, f.Paused())
	}
	// A rebinding page (foreign Host header) is refused.
	req, _ := http.NewRequest(http.MethodGet, dash.URL+"/api/status", nil)
	req.Host = "attacker.example"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Host: status %d", resp.StatusCode)
	}

	// The page is self-contained and carries the numbers and the chart.
	resp, err = http.Get(dash.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"12D3KooWtest", "<svg", "25.0%", "12.5", "0.93", "Pause", "Resume"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"src=\"http", "href=\"http", "@import"} {
		if bytes.Contains(page, []byte(bad)) {
			t.Errorf("page loads an external asset (%q)", bad)
		}
	}
	// The chart is well-formed SVG.
	resp, err = http.Get(dash.URL + "/chart.svg")
	if err != nil {
		t.Fatal(err)
	}
	svg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := xml.Unmarshal(svg, new(struct{ XMLName xml.Name })); err != nil || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("chart not SVG: %v", err)
	}

	var out bytes.Buffer
	if err := s.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"12D3KooWtest", "1 fetched, 1 errors", "reputation 0.93", "ssrf=1", "of 1.0 GiB cap"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text status lacks %q:\n%s", want, out.String())
		}
	}
}

func TestDashboardServeRefusesNonLoopback(t *testing.T) {
	f := newTestFetcher(t, nil)
	d := NewDashboard(f, "p")
	if err := d.Serve(context.Background(), "0.0.0.0:7777"); err == nil || !strings.Contains(err.Error(), "not loopback") {
		t.Errorf("Serve on 0.0.0.0: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- d.Serve(ctx, "127.0.0.1:0") }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop")
	}
}

func TestDashboardServerTimeouts(t *testing.T) {
	srv := NewDashboard(newTestFetcher(t, nil), "p").server()
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Errorf("dashboard server timeouts: header %v, read %v, write %v, idle %v; want all set",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
}

// The dashboard answers only loopback peers with loopback Host names, and
// its buttons refuse cross-site requests.
func TestDashboardRefusesRemoteAndCrossSite(t *testing.T) {
	f := newTestFetcher(t, nil)
	h := NewDashboard(f, "peer").Handler()
	do := func(method, remote, host string, hdr map[string]string) int {
		r := httptest.NewRequest(method, "http://"+host+"/api/pause", nil)
		if method == "GET" {
			r = httptest.NewRequest(method, "http://"+host+"/api/status", nil)
		}
		r.RemoteAddr, r.Host = remote, host
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	ctl := map[string]string{controlHeader: "1"}
	cases := []struct {
		name, method, remote, host string
		hdr                        map[string]string
		want                       int
	}{
		{"loopback status", "GET", "127.0.0.1:5000", "127.0.0.1:7777", nil, 200},
		{"LAN peer with a loopback Host", "GET", "192.168.1.20:5000", "127.0.0.1:7777", nil, 403},
		{"rebinding Host", "GET", "127.0.0.1:5000", "evil.example:7777", nil, 403},
		{"pause without header", "POST", "127.0.0.1:5000", "127.0.0.1:7777", nil, 403},
		{"pause from the page", "POST", "127.0.0.1:5000", "127.0.0.1:7777", map[string]string{controlHeader: "1", "Origin": "http://127.0.0.1:7777", "Sec-Fetch-Site": "same-origin"}, 200},
		{"pause cross-site", "POST", "127.0.0.1:5000", "127.0.0.1:7777", map[string]string{controlHeader: "1", "Sec-Fetch-Site": "cross-site"}, 403},
		{"pause other origin", "POST", "127.0.0.1:5000", "127.0.0.1:7777", map[string]string{controlHeader: "1", "Origin": "http://evil.example"}, 403},
		{"pause from the CLI", "POST", "127.0.0.1:5000", "127.0.0.1:7777", ctl, 200},
	}
	for _, tc := range cases {
		if got := do(tc.method, tc.remote, tc.host, tc.hdr); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	d := NewDashboard(f, "peer")
	for _, addr := range []string{"0.0.0.0:7777", "192.168.1.2:7777", "[::]:7777", "example.org:7777"} {
		if err := d.Serve(context.Background(), addr); err == nil || !strings.Contains(err.Error(), "not loopback") {
			t.Errorf("Serve(%s) = %v, want a not-loopback error", addr, err)
		}
	}
}
