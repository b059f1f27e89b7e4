package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

// fuzzResolver answers from a table of names that resolve to forbidden (and
// a few allowed) addresses, and resolves numeric hosts the way the C
// library's inet_aton does (decimal, octal and hex parts, 1 to 4 of them),
// so that "http://2130706433/" or "http://0x7f.1/" reach the guard as the
// addresses a system resolver would return. No query leaves the process.
type fuzzResolver map[string][]netip.Addr

func (r fuzzResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if ip, ok := inetAton(h); ok {
		return []netip.Addr{ip}, nil
	}
	if a, ok := r[h]; ok {
		return a, nil
	}
	return nil, &dnsNotFound{host}
}

// inetAton parses the classic BSD numeric host forms: a, a.b, a.b.c and
// a.b.c.d, each part decimal, octal (leading 0) or hex (leading 0x), the
// last part filling the remaining bytes.
func inetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x"):
			base, p = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		if p == "" && base != 16 {
			return netip.Addr{}, false
		}
		if p == "" {
			p = "0"
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i, v := range vals[:last] {
		if v > 0xff {
			return netip.Addr{}, false
		}
		n |= v << (24 - 8*i)
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// fuzzNames are the names the fuzz resolver knows.
var fuzzNames = fuzzResolver{
	"localhost":    {netip.MustParseAddr("127.0.0.1")},
	"self.test":    {netip.MustParseAddr("127.0.0.1")},
	"meta.test":    {netip.MustParseAddr("169.254.169.254")},
	"aaaa.test":    {netip.MustParseAddr("::a9fe:a9fe")},
	"mapped.test":  {netip.MustParseAddr("::ffff:10.0.0.1")},
	"priv.test":    {netip.MustParseAddr("10.0.0.1")},
	"lan.test":     {netip.MustParseAddr("192.168.1.1")},
	"loop.test":    {netip.MustParseAddr("127.0.0.2")},
	"loop6.test":   {netip.MustParseAddr("::1")},
	"zone.test":    {netip.MustParseAddr("fe80::1%eth0")},
	"nat64.test":   {netip.MustParseAddr("64:ff9b::a9fe:a9fe")},
	"teredo.test":  {netip.MustParseAddr("2001:0:a00:1::1")},
	"azure.test":   {netip.MustParseAddr("168.63.129.16")},
	"site6.test":   {netip.MustParseAddr("fec0::1")},
	"mixed.test":   {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.0.0.1")},
	"pub.test":     {netip.MustParseAddr("93.184.216.34")},
	"pub6.test":    {netip.MustParseAddr("2606:2800:220:1::1")},
	"rebind6.test": {netip.MustParseAddr("fd00::1"), netip.MustParseAddr("::ffff:169.254.169.254")},
}

// fuzzTestIP is the one address the fuzz test's fetchers may reach: its
// loopback server. Every other loopback address is forbidden as for a real
// node.
const fuzzTestIP = "127.0.0.1"

// forbiddenByOracle is an independent check, from the standard library's
// predicates, of what a node must never dial. It is weaker than the guard
// (it knows no metadata, documentation or NAT64 ranges) but shares none of
// its code.
func forbiddenByOracle(ip netip.Addr) bool {
	ip = ip.WithZone("").Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return true
	}
	if ip.Is6() {
		b := ip.As16()
		zero := true
		for _, c := range b[:12] {
			zero = zero && c == 0
		}
		if zero { // IPv4-compatible
			return true
		}
	}
	return false
}

// guardFuzzEnv is the loopback server whose redirects come from the fuzz
// input, shared by the iterations of one fuzz process (they run one after
// another).
type guardFuzzEnv struct {
	srv  *httptest.Server
	addr string // "127.0.0.1:port"

	mu    sync.Mutex
	chain []string
	code  int
	robot bool // robots.txt redirects to the chain's last target
}

func (e *guardFuzzEnv) set(chain []string, code int, robot bool) {
	e.mu.Lock()
	e.chain, e.code, e.robot = chain, code, robot
	e.mu.Unlock()
}

func (e *guardFuzzEnv) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	chain, code, robot := e.chain, e.code, e.robot
	e.mu.Unlock()
	if r.URL.Path == "/robots.txt" {
		if robot && len(chain) > 0 {
			w.Header().Set("Location", chain[len(chain)-1])
			w.WriteHeader(code)
			return
		}
		http.NotFound(w, r)
		return
	}
	if k, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/h/")); err == nil && k >= 0 && k < len(chain) {
		w.Header().Set("Location", chain[k])
		w.WriteHeader(code)
		return
	}
	w.Header().Set("Content-Type", "text/html")
	fmt.Fprint(w, `<html><body><a href="/h/1">next</a>ok</body></html>`)
}

// FuzzGuardRedirects feeds random URLs and redirect chains to a fetcher and
// asserts that no forbidden address is ever dialled. The input is a chain
// of URLs, one a line; "$S" stands for the loopback test server
// ("http://127.0.0.1:port"). The first line is the leased URL; the server's
// /h/k answers a redirect (301, 302, 303, 307 or 308, from mode) to line k,
// and with mode&8 its robots.txt redirects to the last line. The dial hook
// really connects only to the test server; any other address the guard
// lets through must be one the guard and an independent oracle both call
// public (it is then not dialled: the hook fails it). Names resolve
// through fuzzResolver, numeric hosts as inet_aton reads them.
func FuzzGuardRedirects(f *testing.F) {
	seeds := []struct {
		chain string
		mode  uint8
	}{
		// Literal forms, as the leased URL.
		{"http://169.254.169.254/latest/meta-data/", 0},
		{"http://[::169.254.169.254]/", 0},
		{"http://[::a9fe:a9fe]/", 0},
		{"http://[::ffff:a9fe:a9fe]/", 0},
		{"http://[0:0:0:0:0:ffff:7f00:2]/", 0},
		{"http://[::ffff:0:10.0.0.1]/", 0},
		{"http://[64:ff9b::10.0.0.1]/", 0},
		{"http://[64:ff9b:1:a00:1:0::]/", 0},
		{"http://[2002:a9fe:a9fe::1]/", 0},
		{"http://[2001:0:a00:1::1]/", 0},
		{"http://[fe80::1%25eth0]/", 0},
		{"http://[fe80::1%eth0]/", 0},
		{"http://[fec0::1]/", 0},
		{"http://[::1]/", 0},
		{"http://[::]/", 0},
		{"http://0.0.0.0/", 0},
		{"http://127.0.0.2/", 0},
		{"http://2130706434/", 0},          // decimal 127.0.0.2
		{"http://0x7f.0.0.2/", 0},          // hex
		{"http://0177.0.0.02/", 0},         // octal
		{"http://017700000002/", 0},        // one octal part
		{"http://0xa9fea9fe/", 0},          // hex 169.254.169.254
		{"http://10.1/", 0},                // two parts: 10.0.0.1
		{"http://192.168.257/", 0},         // three parts: 192.168.1.1
		{"http://0251.0376.0251.0376/", 0}, // octal 169.254.169.254
		{"http://168.63.129.16/machine", 0},
		{"http://100.100.100.200/", 0},
		{"http://[fd00:ec2::254]/", 0},
		// Names resolving to forbidden addresses.
		{"http://meta.test/", 0},
		{"http://aaaa.test/", 0},
		{"http://mapped.test/", 0},
		{"http://mixed.test/", 0},
		{"http://zone.test/", 0},
		{"http://rebind6.test/", 0},
		{"http://META.TEST./", 0},
		{"http://loop6.test/", 0},
		// Redirect chains through the test server.
		{"$S/h/1\nhttp://[::a9fe:a9fe]/", 0},
		{"$S/h/1\nhttp://169.254.169.254/", 1},
		{"$S/h/1\n$S/h/2\nhttp://aaaa.test/", 2},
		{"$S/h/1\n//[::ffff:10.0.0.1]/x", 3},
		{"$S/h/1\nhttp://2130706434/", 4},
		{"$S/h/1\nhttp://self.test:1/", 0},
		{"$S/h/1\nhttp://[::1]:8080/", 0},
		{"$S/h/1\nhttp://teredo.test/", 0},
		{"$S/h/1\nhttp://nat64.test/", 0},
		{"$S/h/1\nhttp://pub.test/\n", 0},
		{"$S/h/1\nhttps://priv.test/", 0},
		{"$S/h/1\n/h/2\nhttp://lan.test/", 0},
		{"$S/h/1\n$S/h/0", 0},
		// robots.txt redirects.
		{"$S/\nhttp://meta.test/robots.txt", 8},
		{"$S/\nhttp://[::ffff:169.254.169.254]/robots.txt", 9},
		{"$S/\nhttp://127.0.0.1:22/", 8},
		// Allowed destinations.
		{"$S/", 0},
		{"http://self.test:$P/", 0},
		{"http://pub6.test/", 0},
	}
	for _, s := range seeds {
		f.Add(s.chain, s.mode)
	}

	env := &guardFuzzEnv{}
	env.srv = httptest.NewServer(env)
	defer env.srv.Close()
	env.addr = strings.TrimPrefix(env.srv.URL, "http://")
	_, port, _ := net.SplitHostPort(env.addr)
	strict, _ := newIPGuard(false, nil)
	testIP := netip.MustParseAddr(fuzzTestIP)

	f.Fuzz(func(t *testing.T, spec string, mode uint8) {
		var chain []string
		for i, line := range strings.Split(spec, "\n") {
			if i == 6 {
				break
			}
			line = strings.ReplaceAll(line, "$S", env.srv.URL)
			line = strings.ReplaceAll(line, "$P", port)
			chain = append(chain, line[:min(len(line), 4096)])
		}
		env.set(chain, []int{301, 302, 303, 307, 308}[mode%5], mode&8 != 0)

		hook := func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == env.addr {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
			ap, err := netip.ParseAddrPort(addr)
			if err != nil {
				t.Errorf("guard let through an unparsable dial target %q", addr)
				return nil, errors.New("fuzz: unparsable target")
			}
			ip := ap.Addr().WithZone("").Unmap()
			if ip != testIP && (strict.classify(ip) != "" || forbiddenByOracle(ip)) {
				t.Errorf("guard let through a dial to forbidden %s (chain %q)", addr, chain)
			}
			// Public (or the test server's IP on another port): never
			// dialled for real.
			return nil, fmt.Errorf("fuzz: %s not dialled", addr)
		}
		cfg := Config{
			MinHostDelay:        time.Nanosecond,
			ConnectTimeout:      time.Second,
			HeaderTimeout:       time.Second,
			TotalTimeout:        2 * time.Second,
			MaxRetries:          1,
			MaxRetryWait:        time.Millisecond,
			DataDir:             t.TempDir(),
			resolver:            fuzzNames,
			dialHook:            hook,
			allowedTestPrefixes: []string{fuzzTestIP + "/32"},
		}
		fe, err := NewFetcher(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer fe.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := fe.Fetch(ctx, schemas.LeaseItem{JobID: "fuzz", URL: chain[0]}, schemas.HostBudget{})
		if c == nil {
			t.Fatal("Fetch returned nil")
		}
		// A capture that succeeded came from the test server, the only
		// host that answers.
		if c.Error == "" && c.Status != http.StatusOK {
			t.Errorf("capture without error has status %d", c.Status)
		}
		// The dialer itself, given the host of every line, must refuse the
		// same way.
		d := newGuardedDialer(fe.guard, fuzzNames, time.Second)
		d.dial = hook
		for _, line := range chain {
			if i := strings.Index(line, "://"); i >= 0 {
				hostport := line[i+3:]
				if j := strings.IndexAny(hostport, "/?#"); j >= 0 {
					hostport = hostport[:j]
				}
				if _, _, err := net.SplitHostPort(hostport); err != nil {
					hostport = net.JoinHostPort(strings.Trim(hostport, "[]"), "80")
				}
				if conn, err := d.DialContext(ctx, "tcp", hostport); err == nil {
					conn.Close()
				}
			}
		}
	})
}
