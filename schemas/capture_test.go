package schemas

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestCaptureOutlinkLastMod: the sitemap lastmods are covered by the
// signing bytes when present, leave the bytes of captures without them
// unchanged (so captures signed before the field existed still verify),
// and may only name outlinks.
func TestCaptureOutlinkLastMod(t *testing.T) {
	at := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	base := Capture{
		Version: CaptureVersion, JobID: "j", URL: "http://127.0.0.10/sitemap.xml", NodePeerID: "12D3KooWtest",
		FetchedAt: at, Outlinks: []string{"http://127.0.0.10/a", "http://127.0.0.10/b"},
	}
	plain := base.SigningBytes()
	with := base
	with.OutlinkLastMod = map[string]time.Time{"http://127.0.0.10/a": at}
	if bytes.Equal(with.SigningBytes(), plain) {
		t.Fatal("signing bytes do not cover outlink lastmods")
	}
	if !bytes.HasPrefix(with.SigningBytes(), plain) {
		t.Error("outlink lastmods changed the signing bytes of the fields before them")
	}
	later := base
	later.OutlinkLastMod = map[string]time.Time{"http://127.0.0.10/a": at.Add(time.Hour)}
	if bytes.Equal(later.SigningBytes(), with.SigningBytes()) {
		t.Error("a changed lastmod keeps the same signing bytes")
	}
	two := base
	two.OutlinkLastMod = map[string]time.Time{"http://127.0.0.10/b": at, "http://127.0.0.10/a": at}
	for range 10 {
		if !bytes.Equal(two.SigningBytes(), two.SigningBytes()) {
			t.Fatal("signing bytes depend on map order")
		}
	}
	if err := with.Validate(); err != nil {
		t.Errorf("valid capture: %v", err)
	}
	stray := base
	stray.OutlinkLastMod = map[string]time.Time{"http://127.0.0.10/elsewhere": at}
	if err := stray.Validate(); err == nil || !strings.Contains(err.Error(), "not an outlink") {
		t.Errorf("lastmod for a non-outlink: %v", err)
	}
}
