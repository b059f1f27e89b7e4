package coordinator

import (
	"strings"
	"testing"
)

// TestConfigDefaultValidate: the verification lease caps default as
// documented (an idle lease never carries fewer checks than a working
// one) and a setting the coordinator cannot run with is refused by name.
func TestConfigDefaultValidate(t *testing.T) {
	var c Config
	c.Default()
	if c.VerifyPerLease != 2 || c.VerifyIdlePerLease != 8 || c.Trust.TaperChecks != 25 {
		t.Errorf("defaults: verify per lease %d, idle %d, taper %v; want 2, 8, 25", c.VerifyPerLease, c.VerifyIdlePerLease, c.Trust.TaperChecks)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	big := Config{VerifyPerLease: 12}
	big.Default()
	if big.VerifyIdlePerLease != 12 {
		t.Errorf("with 12 checks a working lease, an idle one defaults to %d, want 12", big.VerifyIdlePerLease)
	}
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"negative per lease", func(c *Config) { c.VerifyPerLease = -1 }, "verify per lease"},
		{"idle below working", func(c *Config) { c.VerifyPerLease, c.VerifyIdlePerLease = 4, 3 }, "verify idle per lease 3 is below verify per lease 4"},
	} {
		c := Config{}
		tc.set(&c)
		c.Default()
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}
