package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
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
// carrier-grade NAT, and cloud metadata services.
var blockedPrefixes = []struct {
	prefix netip.Prefix
	class  string
}{
	{netip.MustParsePrefix("169.254.169.254/32"), "cloud-metadata"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "cloud-metadata"},
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "cgnat"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "private"},
}

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
// IPv4-mapped and NAT64/6to4-embedded IPv4 addresses are judged by the IPv4
// address inside them, so they cannot smuggle a private target.
func (g *ipGuard) classify(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
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
	if ip.Is6() {
		b := ip.As16()
		var v4 netip.Addr
		switch {
		case b[0] == 0x20 && b[1] == 0x02: // 6to4 2002:V4ADDR::/16
			v4 = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
		case netip.MustParsePrefix("64:ff9b::/96").Contains(ip): // NAT64
			v4 = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		}
		if v4.IsValid() {
			if c := g.classify(v4); c != "" {
				return c
			}
		}
	}
	return ""
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
		c, err := d.dialer.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
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
