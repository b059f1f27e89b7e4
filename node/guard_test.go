package node

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestGuardClassify(t *testing.T) {
	strict, _ := newIPGuard(false, nil)
	testAllowed, _ := newIPGuard(false, []string{"127.0.0.0/8"})
	open, _ := newIPGuard(true, nil)
	tests := []struct {
		ip                 string
		strict, test, open string
	}{
		{"93.184.216.34", "", "", ""},
		{"2606:2800:220:1::1", "", "", ""},
		{"127.0.0.1", "loopback", "", ""},
		{"127.9.9.9", "loopback", "", ""},
		{"::1", "loopback", "loopback", ""},
		{"10.0.0.1", "private", "private", ""},
		{"172.16.5.4", "private", "private", ""},
		{"192.168.1.1", "private", "private", ""},
		{"100.64.0.1", "cgnat", "cgnat", ""},
		{"169.254.169.254", "cloud-metadata", "cloud-metadata", ""},
		{"169.254.1.1", "link-local", "link-local", ""},
		{"fd00:ec2::254", "cloud-metadata", "cloud-metadata", ""},
		{"fe80::1", "link-local", "link-local", ""},
		{"fc00::1", "private", "private", ""},
		{"224.0.0.1", "multicast", "multicast", ""},
		{"ff02::1", "multicast", "multicast", ""},
		{"0.0.0.0", "unspecified", "unspecified", ""},
		{"::", "unspecified", "unspecified", ""},
		{"::ffff:10.0.0.1", "private", "private", ""}, // IPv4-mapped
		{"::ffff:169.254.169.254", "cloud-metadata", "cloud-metadata", ""},
		{"64:ff9b::a00:1", "private", "private", ""}, // NAT64 of 10.0.0.1
		{"2002:a00:1::1", "private", "private", ""},  // 6to4 of 10.0.0.1
	}
	for _, tc := range tests {
		ip := netip.MustParseAddr(tc.ip)
		for _, g := range []struct {
			name  string
			guard *ipGuard
			want  string
		}{{"strict", strict, tc.strict}, {"test", testAllowed, tc.test}, {"open", open, tc.open}} {
			if got := g.guard.classify(ip); got != g.want {
				t.Errorf("%s guard: classify(%s) = %q, want %q", g.name, tc.ip, got, g.want)
			}
		}
	}
}

func TestGuardedDialerRefusesBeforeConnecting(t *testing.T) {
	g, _ := newIPGuard(false, []string{"127.0.0.0/8"})
	d := newGuardedDialer(g, fakeResolver{
		"rebind.test": {netip.MustParseAddr("10.0.0.1")},
		"mixed.test":  {netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("10.0.0.2")},
	}, time.Second)
	for _, addr := range []string{"rebind.test:80", "mixed.test:80", "10.0.0.1:80", "[::1]:80"} {
		_, err := d.DialContext(context.Background(), "tcp", addr)
		if _, ok := asSSRF(err); !ok {
			t.Errorf("dial %s: %v, want an SSRF refusal", addr, err)
		}
	}
	if _, err := d.DialContext(context.Background(), "tcp", "nowhere.test:80"); err == nil || !strings.HasPrefix(err.Error(), "dns:") {
		t.Errorf("unresolvable: %v", err)
	}
	// The Control hook is the last line: it judges the literal address.
	if err := g.control("tcp4", "10.0.0.1:80", nil); err == nil {
		t.Error("control allowed 10.0.0.1")
	}
	if err := g.control("tcp4", "127.0.0.1:80", nil); err != nil {
		t.Errorf("control refused the allowed test prefix: %v", err)
	}
}

func TestConfigValidateAndFile(t *testing.T) {
	var c Config
	c.Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if c.UserAgent != DefaultUserAgent || c.MaxBodyBytes != 10<<20 || c.MinHostDelay != time.Second || c.MaxConcurrency != 8 {
		t.Errorf("defaults: %+v", c)
	}
	bad := []func(*Config){
		func(c *Config) { c.UserAgent = "Mozilla/5.0" },
		func(c *Config) { c.MaxBodyBytes = -1 },
		func(c *Config) { c.MaxConcurrency = -2 },
		func(c *Config) { c.BandwidthBytesPerSec = 10 },
		func(c *Config) { c.ActiveHours = "soon" },
		func(c *Config) { c.Blocklist = []string{"http://x/"} },
	}
	for i, mod := range bad {
		c := Config{}
		c.Default()
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("bad config %d validated", i)
		}
	}

	dir := t.TempDir()
	path := dir + "/node.yaml"
	writeFile(t, path, "bandwidth: 2MiB\nmonthly_cap: 50GB\nmax_body: 1MiB\nmin_host_delay: 3s\nactive_hours: 22:00-07:00\nblocklist: [example.com]\nmax_concurrency: 4\n")
	fc, err := LoadConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fc.BandwidthBytesPerSec != 2<<20 || fc.MonthlyCapBytes != 50e9 || fc.MaxBodyBytes != 1<<20 || fc.MinHostDelay != 3*time.Second ||
		fc.ActiveHours != "22:00-07:00" || len(fc.Blocklist) != 1 || fc.MaxConcurrency != 4 || fc.UserAgent != DefaultUserAgent {
		t.Errorf("file config: %+v", fc)
	}
	writeFile(t, path, "bandwith: 1MiB\n")
	if _, err := LoadConfigFile(path); err == nil {
		t.Error("typo'd key accepted")
	}
	writeFile(t, path, "")
	if _, err := LoadConfigFile(path); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true}, {"10MiB", 10 << 20, true}, {"50GB", 50e9, true}, {"512k", 512e3, true},
		{"1.5 KiB", 1536, true}, {"2mib/s", 2 << 20, true}, {"", 0, false}, {"-1", 0, false}, {"ten", 0, false}, {"1e30", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseBytes(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, %v", tc.in, got, err)
		}
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	fs := pflag.NewFlagSet("node", pflag.ContinueOnError)
	fl := AddFlags(fs)
	if err := fs.Parse([]string{"--bandwidth=1MiB", "--blocklist=a.example,b.example", "--active-hours=01:00-02:00"}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{MonthlyCapBytes: 5e9, BandwidthBytesPerSec: 99, MaxConcurrency: 3}
	if err := fl.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.BandwidthBytesPerSec != 1<<20 || cfg.MonthlyCapBytes != 5e9 || cfg.MaxConcurrency != 3 || len(cfg.Blocklist) != 2 || cfg.ActiveHours != "01:00-02:00" {
		t.Errorf("after flags: %+v", cfg)
	}
	fs2 := pflag.NewFlagSet("node", pflag.ContinueOnError)
	fl2 := AddFlags(fs2)
	_ = fs2.Parse([]string{"--monthly-cap=lots"})
	if err := fl2.Apply(&cfg); err == nil {
		t.Error("bad --monthly-cap accepted")
	}
}
