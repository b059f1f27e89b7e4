package node

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// Every IPv6 form that embeds an IPv4 address is judged by that address;
// deprecated and special ranges and cloud metadata endpoints are refused.
func TestGuardClassifyEmbeddedAndSpecial(t *testing.T) {
	strict, _ := newIPGuard(false, nil)
	tests := []struct {
		ip   string
		want string // "" = allowed
	}{
		// IPv4-compatible (deprecated ::/96), judged by the address inside.
		{"::169.254.169.254", "cloud-metadata"},
		{"::a9fe:a9fe", "cloud-metadata"},
		{"::10.0.0.1", "private"},
		{"::192.168.1.1", "private"},
		{"::127.0.0.1", "loopback"},
		{"::8.8.8.8", "ipv4-compatible (deprecated)"},
		// IPv4-mapped: allowed only when the IPv4 address is.
		{"::ffff:169.254.169.254", "cloud-metadata"},
		{"::ffff:a9fe:a9fe", "cloud-metadata"},
		{"::ffff:192.168.1.1", "private"},
		{"::ffff:8.8.8.8", ""},
		// IPv4-translated (SIIT).
		{"::ffff:0:10.0.0.1", "private"},
		{"::ffff:0:169.254.169.254", "cloud-metadata"},
		{"::ffff:0:8.8.8.8", "ipv4-translated"},
		// 6to4.
		{"2002:a9fe:a9fe::1", "cloud-metadata"},
		{"2002:c0a8:101::1", "private"},
		{"2002:0808:0808::1", ""},
		// Teredo: server at bits 32-63, client obfuscated in the last 32.
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "documentation"}, // RFC 4380's example: client 192.0.2.45
		{"2001:0:808:808:8000:63bf:f7f7:f7f7", "teredo"},          // public server and client: refused anyway
		{"2001:0:a00:1::1", "private"},                            // server 10.0.0.1
		{"2001:0:808:808:0:0:5601:5656", "link-local"},            // client ^56.01.56.56 = 169.254.169.169
		// NAT64.
		{"64:ff9b::a9fe:a9fe", "cloud-metadata"},
		{"64:ff9b::10.0.0.1", "private"},
		{"64:ff9b::8.8.8.8", ""},
		{"64:ff9b:1:808:8:800::", "nat64-local"}, // 8.8.8.8 split around the u octet
		{"64:ff9b:1:a00:1:0::", "private"},       // 10.0.0.1 split around the u octet
		// Deprecated and special IPv6 ranges.
		{"fec0::1", "site-local"},
		{"feff::1", "site-local"},
		{"100::1", "discard"},
		{"2001:db8::1", "documentation"},
		{"3fff::1", "documentation"},
		{"2001:10::1", "deprecated"},
		{"2001:2::1", "benchmarking"},
		{"3ffe::1", "deprecated"},
		{"4000::1", "reserved"},
		{"::2", "unspecified"}, // embeds 0.0.0.2
		{"fe80::1%eth0", "link-local"},
		// Cloud metadata and host endpoints.
		{"168.63.129.16", "cloud-metadata"},
		{"100.100.100.200", "cloud-metadata"},
		{"169.254.170.2", "cloud-metadata"},
		{"fd00:ec2::254", "cloud-metadata"},
		// Special IPv4 ranges.
		{"192.0.2.1", "documentation"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"192.88.99.1", "deprecated"},
		{"255.255.255.255", "reserved"},
		// Ordinary public addresses still pass.
		{"93.184.216.34", ""},
		{"2606:2800:220:1:248:1893:25c8:1946", ""},
	}
	for _, tc := range tests {
		ip := netip.MustParseAddr(tc.ip)
		if got := strict.classify(ip); got != tc.want {
			t.Errorf("classify(%s) = %q, want %q", tc.ip, got, tc.want)
		}
	}
	// The test-only loopback exception never admits an embedded form.
	testAllowed, _ := newIPGuard(false, []string{"127.0.0.0/8"})
	for _, s := range []string{"::127.0.0.1", "::ffff:0:127.0.0.1", "64:ff9b:1:7f00:0:100::"} {
		if c := testAllowed.classify(netip.MustParseAddr(s)); c == "" {
			t.Errorf("test guard allowed %s", s)
		}
	}
}

// recordingDial returns a dial hook that records every target and really
// connects only to loopback (anything else is a test failure and is never
// dialled), and the function that returns the targets seen.
func recordingDial(t testing.TB) (func(ctx context.Context, network, addr string) (net.Conn, error), func() []string) {
	var mu sync.Mutex
	var seen []string
	hook := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		seen = append(seen, addr)
		mu.Unlock()
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || !ap.Addr().Unmap().IsLoopback() || !ap.Addr().Is4() {
			t.Errorf("guard let through a dial to %s", addr)
			return nil, fmt.Errorf("test: refusing to dial %s", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return hook, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// A name whose AAAA record is ::a9fe:a9fe (IPv4-compatible 169.254.169.254)
// is refused at dial time, first hop or after any 301-308 redirect; so are
// literal embedded forms in redirects.
func TestGuardRefusesEmbeddedMetadataAtDialAndRedirect(t *testing.T) {
	hook, dialled := recordingDial(t)
	f := newTestFetcher(t, func(c *Config) {
		r := c.resolver.(fakeResolver)
		r["aaaa-metadata.test"] = []netip.Addr{netip.MustParseAddr("::a9fe:a9fe")}
		r["azure.test"] = []netip.Addr{netip.MustParseAddr("168.63.129.16")}
		r["teredo.test"] = []netip.Addr{netip.MustParseAddr("2001:0:a00:1::1")}
		c.dialHook = hook
	})
	c := fetch(t, f, "http://aaaa-metadata.test/latest/meta-data/")
	wantErrPrefix(t, c, "ssrf: ::a9fe:a9fe is cloud-metadata")

	targets := []struct{ loc, wantErr string }{
		{"http://[::169.254.169.254]/", "ssrf: ::a9fe:a9fe is cloud-metadata"},
		{"http://[::a9fe:a9fe]/", "ssrf: ::a9fe:a9fe is cloud-metadata"},
		{"http://aaaa-metadata.test/", "ssrf: ::a9fe:a9fe is cloud-metadata"},
		{"http://[::10.0.0.1]/", "ssrf: ::a00:1 is private"},
		{"http://[::192.168.1.1]/", "ssrf: ::c0a8:101 is private"},
		{"http://[::ffff:0:10.0.0.1]/", "ssrf: ::ffff:0:a00:1 is private"},
		{"http://[fec0::1]/", "ssrf: fec0::1 is site-local"},
		{"http://[2001:0:a00:1::1]/", "ssrf: 2001:0:a00:1::1 is private"},
		{"http://teredo.test/", "ssrf: 2001:0:a00:1::1 is private"},
		{"http://168.63.129.16/machine", "ssrf: 168.63.129.16 is cloud-metadata"},
		{"http://azure.test/machine", "ssrf: 168.63.129.16 is cloud-metadata"},
		{"http://[64:ff9b::a9fe:a9fe]/", "ssrf: 64:ff9b::a9fe:a9fe is cloud-metadata"},
		{"http://[2002:a9fe:a9fe::]/", "ssrf: 2002:a9fe:a9fe:: is cloud-metadata"},
	}
	var loc string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		code := 301
		fmt.Sscanf(r.URL.Query().Get("code"), "%d", &code)
		w.Header().Set("Location", loc)
		w.WriteHeader(code)
	}))
	defer srv.Close()
	for _, tc := range targets {
		for _, code := range []int{301, 302, 303, 307, 308} {
			loc = tc.loc
			c := fetch(t, f, fmt.Sprintf("%s/r?code=%d", srv.URL, code))
			if !strings.HasPrefix(c.Error, tc.wantErr) {
				t.Errorf("%d to %s: error %q, want prefix %q", code, tc.loc, c.Error, tc.wantErr)
			}
		}
		// And as a seed.
		if c := fetch(t, f, tc.loc); !strings.HasPrefix(c.Error, tc.wantErr) {
			t.Errorf("seed %s: error %q, want prefix %q", tc.loc, c.Error, tc.wantErr)
		}
	}
	srvAddr := strings.TrimPrefix(srv.URL, "http://")
	for _, d := range dialled() {
		if d != srvAddr {
			t.Errorf("dialled %s; only the test server %s may be", d, srvAddr)
		}
	}
	assertStillWorks(t, f)
}

// The Fetch standard's bad ports are refused on seeds, redirects and
// outlinks; so are other schemes. Ordinary ports (8480, random test ports)
// still work.
func TestBadPortsRefused(t *testing.T) {
	hook, dialled := recordingDial(t)
	f := newTestFetcher(t, func(c *Config) { c.dialHook = hook })
	for _, p := range []int{0, 1, 22, 25, 53, 110, 143, 6000, 6379, 6665, 6667, 6669, 6697, 10080, 11211} {
		c := fetch(t, f, fmt.Sprintf("http://127.0.0.1:%d/", p))
		wantErrPrefix(t, c, fmt.Sprintf("port: port %d is refused", p))
	}
	for _, u := range []string{"ftp://127.0.0.1/", "file:///etc/passwd", "gopher://127.0.0.1:70/", "ws://127.0.0.1/"} {
		wantErrPrefix(t, fetch(t, f, u), "scheme:")
	}
	// A seed or redirect target longer than MaxURLBytes is not fetched.
	long := "http://127.0.0.1:8480/" + strings.Repeat("a", MaxURLBytes)
	wantErrPrefix(t, fetch(t, f, long), fmt.Sprintf("bad-url: URL of %d bytes is longer than %d", len(long), MaxURLBytes))
	var loc string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/robots.txt":
			http.NotFound(w, r)
		case "/links":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<a href="http://example.org:22/">ssh</a><a href="http://example.org:25/">smtp</a>`+
				`<a href="https://example.org:6667/">irc</a><a href="http://example.org:8480/">ok</a>`+
				`<a href="http://example.org/">default</a><a href="mailto:x@example.org">m</a>`+
				`<a href="javascript:alert(1)">j</a><a href="http://example.org:99999/">bad</a>`)
		default:
			http.Redirect(w, r, loc, http.StatusFound)
		}
	}))
	defer srv.Close()
	for _, l := range []string{"http://127.0.0.1:22/", "http://127.0.0.1:6379/", "http://127.0.0.1:6379x/", "https://127.0.0.1:993/", long} {
		loc = l
		c := fetch(t, f, srv.URL+"/r")
		if !strings.HasPrefix(c.Error, "port:") && !strings.HasPrefix(c.Error, "bad-url:") && !strings.HasPrefix(c.Error, "network:") {
			t.Errorf("redirect to %.60s: error %q, want a port or URL refusal", l, c.Error)
		}
		if l == long && !strings.Contains(c.Error, "is longer than") {
			t.Errorf("redirect to a %d-byte URL: error %q, want it refused for its length", len(l), c.Error)
		}
		if l == "http://127.0.0.1:22/" || l == "http://127.0.0.1:6379/" {
			wantErrPrefix(t, c, "port: port "+strings.TrimSuffix(strings.TrimPrefix(l, "http://127.0.0.1:"), "/")+" is refused")
		}
	}
	c := fetch(t, f, srv.URL+"/links")
	if c.Error != "" {
		t.Fatalf("links page: %s", c.Error)
	}
	want := []string{"http://example.org:8480/", "http://example.org/"}
	if strings.Join(c.Outlinks, " ") != strings.Join(want, " ") {
		t.Errorf("outlinks = %q, want %q", c.Outlinks, want)
	}
	srvAddr := strings.TrimPrefix(srv.URL, "http://")
	for _, d := range dialled() {
		if d != srvAddr {
			t.Errorf("dialled %s; only the test server %s may be", d, srvAddr)
		}
	}
	// The dialer itself refuses a bad port too (defence in depth).
	g, _ := newIPGuard(false, []string{"127.0.0.0/8"})
	d := newGuardedDialer(g, nil, 0)
	if _, err := d.DialContext(context.Background(), "tcp", "127.0.0.1:25"); err == nil || !strings.Contains(err.Error(), "port 25 is refused") {
		t.Errorf("dialer on port 25: %v", err)
	}
}
