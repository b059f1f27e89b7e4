package retryafter

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{" 7 ", 7 * time.Second, true},
		{"0", 0, true},
		{"86400", MaxWait, true},
		{"86401", MaxWait, true},
		{"99999999999999999999999999", MaxWait, true}, // overflows int64
		{"Wed, 02 Dec 2026 12:01:30 GMT", 90 * time.Second, true},
		{"Wednesday, 02-Dec-26 12:00:10 GMT", 10 * time.Second, true}, // RFC 850
		{"Wed Dec  2 12:00:05 2026", 5 * time.Second, true},           // asctime
		{"Tue, 01 Dec 2026 12:00:00 GMT", 0, true},                    // in the past
		{"Fri, 01 Jan 2100 00:00:00 GMT", MaxWait, true},              // far future
		{"", 0, false},
		{"-5", 0, false},
		{"+5", 0, false},
		{"1.5", 0, false},
		{"5s", 0, false},
		{"soon", 0, false},
		{"Wed, 02 Dec 2026 25:00:00 GMT", 0, false},
	}
	for _, tc := range tests {
		got, ok := Parse(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Parse(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestClamp(t *testing.T) {
	if Clamp(0, time.Second, time.Hour) != time.Second || Clamp(2*time.Hour, time.Second, time.Hour) != time.Hour || Clamp(time.Minute, 0, time.Hour) != time.Minute {
		t.Error("Clamp does not bound to [lo, hi]")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"120", "0", "-1", "99999999999999999999", "Wed, 02 Dec 2026 12:01:30 GMT", "Wed Dec  2 12:00:05 2026", "x", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := Parse(v, now)
		if d < 0 || d > MaxWait {
			t.Fatalf("Parse(%q) = %s, outside [0, %s]", v, d, MaxWait)
		}
		if !ok && d != 0 {
			t.Fatalf("Parse(%q) invalid but returned %s", v, d)
		}
	})
}
