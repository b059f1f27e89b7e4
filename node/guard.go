package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SSRFError reports a destination the guard refused. The fetcher turns it
// into the capture error "ssrf: <addr> is <class>".
type SSRFError struct {
	Addr  string
	Class string
}

// Error says which address was refused and why.
func (e *SSRFError) Error() string { return fmt.Sprintf("%s is %s", e.Addr, e.Class) }

// blockedPrefixes are destinations a home node must never reach on a
// coordinator's say-so: its owner's LAN, the machine itself, the ISP's
// carrier-grade NAT, cloud metadata services, and the special-purpose and
// deprecated ranges of the IANA registries. More specific entries come
// first so the class names the most precise reason.
var blockedPrefixes = []struct {
	prefix netip.Prefix
	class  string
}{
	// Cloud metadata and host endpoints (AWS, GCP, Azure, Oracle and
	// DigitalOcean IMDS; AWS ECS task metadata; Azure's WireServer;
	// Alibaba Cloud; AWS IMDS over IPv6).
	{netip.MustParsePrefix("169.254.169.254/32"), "cloud-metadata"},
	{netip.MustParsePrefix("169.254.170.2/32"), "cloud-metadata"},
	{netip.MustParsePrefix("168.63.129.16/32"), "cloud-metadata"},
	{netip.MustParsePrefix("100.100.100.200/32"), "cloud-metadata"},
	{netip.MustParsePrefix("192.0.0.192/32"), "cloud-metadata"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "cloud-metadata"},

	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "cgnat"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.88.99.0/24"), "deprecated"}, // 6to4 relay anycast (RFC 7526)
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // includes 255.255.255.255

	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("100::/64"), "discard"},
	{netip.MustParsePrefix("2001:2::/48"), "benchmarking"},
	{netip.MustParsePrefix("2001:10::/28"), "deprecated"}, // ORCHID
	{netip.MustParsePrefix("2001:20::/28"), "reserved"},   // ORCHIDv2
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("3fff::/20"), "documentation"},
	{netip.MustParsePrefix("3ffe::/16"), "deprecated"}, // 6bone
	{netip.MustParsePrefix("5f00::/16"), "reserved"},   // SRv6 SIDs
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"}, // deprecated (RFC 3879)
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// IPv6 forms that carry an IPv4 address.
var (
	v4Compatible  = netip.MustParsePrefix("::/96")           // deprecated (RFC 4291 2.5.5.1)
	v4Translated  = netip.MustParsePrefix("::ffff:0:0:0/96") // SIIT (RFC 2765)
	sixToFour     = netip.MustParsePrefix("2002::/16")       // 6to4 (RFC 3056)
	teredo        = netip.MustParsePrefix("2001::/32")       // RFC 4380
	nat64         = netip.MustParsePrefix("64:ff9b::/96")    // RFC 6052
	nat64Local    = netip.MustParsePrefix("64:ff9b:1::/48")  // RFC 8215
	globalUnicast = netip.MustParsePrefix("2000::/3")
)

// ipGuard decides which addresses may be dialled.
type ipGuard struct {
	allowPrivate bool
	// allowed are exceptions (tests' loopback servers); they never widen
	// past what the tests listed.
	allowed []netip.Prefix
}

func newIPGuard(allowPrivate bool, allowed []string) (*ipGuard, error) {
	g := &ipGuard{allowPrivate: allowPrivate}
	for _, s := range allowed {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("allowed prefix %q: %w", s, err)
		}
		g.allowed = append(g.allowed, p)
	}
	return g, nil
}

// classify returns why ip is refused, or "" when it may be dialled.
//
// Every IPv6 form that embeds an IPv4 address is judged by that address
// first, so none can smuggle a private or metadata target: IPv4-mapped
// (::ffff:a.b.c.d) and NAT64 (64:ff9b::/96) are then allowed when the IPv4
// address is; 6to4 (2002::/16) likewise. The deprecated or local-only forms
// are refused whatever they carry: IPv4-compatible (::a.b.c.d),
// IPv4-translated (::ffff:0:a.b.c.d), Teredo (2001::/32, whose client
// address is judged too) and local-use NAT64 (64:ff9b:1::/48). Any other
// IPv6 address outside global unicast (2000::/3) is refused.
func (g *ipGuard) classify(ip netip.Addr) string {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	for _, p := range g.allowed {
		if p.Contains(ip) {
			return ""
		}
	}
	if g.allowPrivate {
		return ""
	}
	if !ip.IsValid() {
		return "invalid"
	}
	for _, b := range blockedPrefixes {
		if b.prefix.Contains(ip) {
			return b.class
		}
	}
	if ip.Is4() {
		return ""
	}
	b := ip.As16()
	embedded := func(i int) string {
		return g.classify(netip.AddrFrom4([4]byte{b[i], b[i+1], b[i+2], b[i+3]}))
	}
	orClass := func(inner, outer string) string {
		if inner != "" {
			return inner
		}
		return outer
	}
	switch {
	case v4Compatible.Contains(ip):
		return orClass(embedded(12), "ipv4-compatible (deprecated)")
	case v4Translated.Contains(ip):
		return orClass(embedded(12), "ipv4-translated")
	case nat64.Contains(ip):
		return embedded(12)
	case nat64Local.Contains(ip):
		// RFC 6052 /48: the IPv4 address is split around the u octet.
		v4 := netip.AddrFrom4([4]byte{b[6], b[7], b[9], b[10]})
		return orClass(g.classify(v4), "nat64-local")
	case sixToFour.Contains(ip):
		return embedded(2)
	case teredo.Contains(ip):
		client := netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
		return orClass(orClass(embedded(4), g.classify(client)), "teredo")
	case !globalUnicast.Contains(ip):
		return "reserved"
	}
	return ""
}

// badPorts are the ports the WHATWG Fetch standard ("port blocking") forbids
// browsers to fetch: services a hostile page could talk to in their own
// protocol (SSH, SMTP, IRC, ...). The node refuses them too, and two more
// that list leaves out although an HTTP request speaks their line-based
// protocols well enough to run commands: Redis (6379) and memcached
// (11211), the classic targets of request forgery.
var badPorts = func() map[int]bool {
	m := map[int]bool{}
	for _, p := range []int{0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79,
		87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179,
		389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636,
		989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566,
		6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
		6379, 11211} {
		m[p] = true
	}
	return m
}()

// PortError reports a destination port the node refuses (a Fetch standard
// bad port, or one that is not a number in 1-65535).
type PortError struct {
	Port string
}

// Error names the port and why it is refused.
func (e *PortError) Error() string {
	return fmt.Sprintf("port %s is refused (a port browsers block, per the WHATWG Fetch standard; sites must use another port)", e.Port)
}

// checkPort refuses a URL port ("" is the scheme's default) that is a bad
// port or not a valid port number.
func checkPort(port string) error {
	if port == "" {
		return nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || badPorts[n] {
		return &PortError{Port: port}
	}
	return nil
}

// check returns an *SSRFError when ip is refused.
func (g *ipGuard) check(ip netip.Addr) error {
	if c := g.classify(ip); c != "" {
		return &SSRFError{Addr: ip.Unmap().String(), Class: c}
	}
	return nil
}

// control is a net.Dialer Control hook: it judges the exact address about to
// be connected, after DNS, so a name that re-resolves to a private address
// (DNS rebinding) is still refused before any packet leaves.
func (g *ipGuard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("guard: unparsable dial address %q: %w", address, err)
	}
	return g.check(ap.Addr())
}

// resolver looks up a host's addresses; tests replace it so that no query
// leaves loopback.
type resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// guardedDialer resolves names itself, refuses forbidden addresses, and
// dials the allowed ones with the guard's Control hook as a second check.
type guardedDialer struct {
	guard    *ipGuard
	resolver resolver
	dialer   net.Dialer
	// dial connects to a vetted "ip:port"; tests replace it to record
	// every dial target (dialer.DialContext when nil).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func newGuardedDialer(g *ipGuard, r resolver, connectTimeout time.Duration) *guardedDialer {
	if r == nil {
		r = net.DefaultResolver
	}
	return &guardedDialer{
		guard:    g,
		resolver: r,
		dialer: net.Dialer{
			Timeout:   connectTimeout,
			KeepAlive: 30 * time.Second,
			Control:   g.control,
		},
	}
}

// DialContext dials addr ("host:port") after resolving and vetting it.
func (d *guardedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	// A dial address always names its port (net/http fills in the
	// scheme's default); an empty one would dial port 0.
	if port == "" {
		return nil, &PortError{Port: `""`}
	}
	if err := checkPort(port); err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ips, err = d.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("dns: resolve %s: %w", host, err)
		}
	}
	var refused error
	var lastErr error
	for _, ip := range ips {
		if err := d.guard.check(ip); err != nil {
			refused = err
			continue
		}
		target := net.JoinHostPort(ip.Unmap().String(), port)
		dial := d.dial
		if dial == nil {
			dial = d.dialer.DialContext
		}
		c, err := dial(ctx, network, target)
		if err == nil {
			return c, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	switch {
	case lastErr != nil:
		return nil, lastErr
	case refused != nil:
		return nil, refused
	default:
		return nil, fmt.Errorf("dns: %s has no addresses", host)
	}
}

// asSSRF extracts a guard refusal from a wrapped error chain.
func asSSRF(err error) (*SSRFError, bool) {
	var se *SSRFError
	if errors.As(err, &se) {
		return se, true
	}
	return nil, false
}
