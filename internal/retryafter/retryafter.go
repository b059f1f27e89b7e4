// Package retryafter parses the HTTP Retry-After header (RFC 9110 section
// 10.2.3) once for the whole of sward: the node's per-host backoff and the
// coordinator's frontier backoff read it the same way.
//
// A value is either delay-seconds (one or more ASCII digits) or an
// HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms).
// The wait is clamped to [0, MaxWait]: a date in the past waits 0, a huge
// number of seconds (even one that overflows int64) waits MaxWait. Anything
// else (negative numbers, fractions, signs, junk) is invalid, and the
// caller applies its own default.
package retryafter

import (
	"net/http"
	"strings"
	"time"
)

// MaxWait is the longest wait Parse returns. Callers usually clamp further
// (the node to its MaxRetryWait, the coordinator to an hour).
const MaxWait = 24 * time.Hour

// maxHeader bounds the value read; longer values are invalid.
const maxHeader = 64

// Parse reads a Retry-After value relative to now. It reports false when v
// is empty or not a valid Retry-After value; the duration is then 0.
func Parse(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > maxHeader {
		return 0, false
	}
	if isDigits(v) {
		var secs int64
		for i := 0; i < len(v); i++ {
			secs = secs*10 + int64(v[i]-'0')
			if secs > int64(MaxWait/time.Second) {
				return MaxWait, true
			}
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return Clamp(t.Sub(now), 0, MaxWait), true
}

// Clamp bounds d to [lo, hi].
func Clamp(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
