package feed

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseTimeAndChanges(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"2026-03-01T12:00:00Z", t0, true},
		{"2026-03-01T13:00:00+01:00", t0, true},
		{"1772366400", t0, true},
		{"-5", time.Time{}, false},
		{"tomorrow", time.Time{}, false},
	}
	for _, tc := range tests {
		got, err := parseTime("since", tc.in)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	cs, err := parseChanges(" New,changed ")
	if err != nil || len(cs) != 2 || cs[0] != ChangeNew || cs[1] != ChangeChanged {
		t.Errorf("parseChanges: %v %v", cs, err)
	}
	if _, err := parseChanges("new,,"); err == nil {
		t.Error("empty change accepted")
	}
}

// FuzzSearchParams sends arbitrary query parameters to the search and
// export handlers: every answer must be 200 or 400, never a crash or 500.
func FuzzSearchParams(f *testing.F) {
	f.Add("kites", "10", "en", "example.com", "2026-01-01T00:00:00Z")
	f.Add("", "x", "", "", "nope")
	f.Add("a OR b AND -c \"phrase", "0", "ZZ", "..", "99999999999999")
	feed, err := New(t0Context(), Config{RateLimit: RateLimit{PerSecond: 1e9, Burst: 1 << 30}, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	defer feed.Close()
	if err := feed.Add(t0Context(), mkDoc("k", "https://example.com/k", "Kites", "kites fly", t0)); err != nil {
		f.Fatal(err)
	}
	h := feed.Handler()
	f.Fuzz(func(t *testing.T, q, k, lang, domain, since string) {
		v := url.Values{"q": {q}, "k": {k}, "lang": {lang}, "domain": {domain}, "since": {since}}
		for _, path := range []string{"/v1/search?", "/v1/export?since=" + url.QueryEscape(since) + "&"} {
			req := httptest.NewRequest(http.MethodGet, path+v.Encode(), nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 && rec.Code != 400 {
				t.Fatalf("%s%s: status %d: %s", path, v.Encode(), rec.Code, strings.TrimSpace(rec.Body.String()))
			}
		}
	})
}
