package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func testAnnouncement() *JobAnnouncement {
	return &JobAnnouncement{
		Version:     JobAnnouncementVersion,
		Coordinator: "12D3KooWCoordinator",
		Addrs:       []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWCoordinator"},
		Seq:         42,
		SentAt:      time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC),
		Jobs: []AnnouncedJob{
			{ID: "news", Name: "news", Dataset: "news-en", State: AnnouncedRunning, Pending: 12, SpecHash: strings.Repeat("a", 64)},
			{ID: "blogs", Name: "blogs", Dataset: "blogs", State: AnnouncedPaused, Pending: 3, SpecHash: strings.Repeat("b", 64)},
		},
		Signature: []byte("sig"),
	}
}

func TestJobAnnouncementRoundTrip(t *testing.T) {
	a := testAnnouncement()
	data, err := EncodeJobAnnouncement(a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeJobAnnouncement(data)
	if err != nil {
		t.Fatalf("decoding a valid announcement: %v", err)
	}
	if !bytes.Equal(got.SigningBytes(), a.SigningBytes()) || !bytes.Equal(got.Signature, a.Signature) {
		t.Fatalf("round trip changed the announcement: %+v", got)
	}
	if !got.HasWork() || got.Pending() != 12 {
		t.Fatalf("HasWork %v Pending %d, want true and 12 (paused jobs do not count)", got.HasWork(), got.Pending())
	}
}

func TestJobAnnouncementReadsUnknownOptionalFields(t *testing.T) {
	// A newer coordinator may add optional fields; this build ignores them.
	data, err := EncodeJobAnnouncement(testAnnouncement())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m["region"] = "eu"
	m["jobs"].([]any)[0].(map[string]any)["priority"] = 3
	data, _ = json.Marshal(m)
	if _, err := DecodeJobAnnouncement(data); err != nil {
		t.Fatalf("unknown optional fields refused: %v", err)
	}
}

func TestJobAnnouncementValidate(t *testing.T) {
	long := strings.Repeat("x", MaxAnnouncedField+1)
	tests := []struct {
		name   string
		mutate func(*JobAnnouncement)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(*JobAnnouncement) {}, ""},
		{"no jobs is valid", func(a *JobAnnouncement) { a.Jobs = nil }, ""},
		{"version from the future", func(a *JobAnnouncement) { a.Version = 2 }, "version 2"},
		{"no coordinator", func(a *JobAnnouncement) { a.Coordinator = "" }, "missing coordinator"},
		{"no seq", func(a *JobAnnouncement) { a.Seq = 0 }, "missing seq"},
		{"no time", func(a *JobAnnouncement) { a.SentAt = time.Time{} }, "missing sent_at"},
		{"too many addrs", func(a *JobAnnouncement) { a.Addrs = make([]string, MaxAnnouncedAddrs+1) }, "addrs exceed"},
		{"empty addr", func(a *JobAnnouncement) { a.Addrs = []string{""} }, "addr 0"},
		{"too many jobs", func(a *JobAnnouncement) {
			a.Jobs = make([]AnnouncedJob, MaxAnnouncedJobs+1)
		}, "jobs exceed"},
		{"job without id", func(a *JobAnnouncement) { a.Jobs[0].ID = "" }, "missing id"},
		{"job id too long", func(a *JobAnnouncement) { a.Jobs[0].ID = long }, "longer than"},
		{"dataset too long", func(a *JobAnnouncement) { a.Jobs[1].Dataset = long }, "longer than"},
		{"unknown state", func(a *JobAnnouncement) { a.Jobs[0].State = "cancelled" }, "state"},
		{"negative pending", func(a *JobAnnouncement) { a.Jobs[0].Pending = -1 }, "negative"},
		{"bad spec hash", func(a *JobAnnouncement) { a.Jobs[0].SpecHash = "ABC" }, "spec hash"},
		{"job twice", func(a *JobAnnouncement) { a.Jobs[1].ID = a.Jobs[0].ID }, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testAnnouncement()
			tt.mutate(a)
			err := a.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestJobAnnouncementVersionError(t *testing.T) {
	a := testAnnouncement()
	a.Version = 9
	var ve *VersionError
	if err := a.Validate(); !errors.As(err, &ve) || ve.Got != 9 || ve.Want != JobAnnouncementVersion {
		t.Fatalf("Validate = %v, want a VersionError for 9", err)
	}
}

func TestDecodeJobAnnouncementRefusesOversized(t *testing.T) {
	data := make([]byte, MaxJobAnnouncementSize+1)
	if _, err := DecodeJobAnnouncement(data); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("oversized message: %v", err)
	}
	if _, err := DecodeJobAnnouncement([]byte("{not json")); err == nil {
		t.Fatal("garbage decoded")
	}
}

func TestJobAnnouncementSigningBytesCoverEveryField(t *testing.T) {
	base := testAnnouncement().SigningBytes()
	mutations := map[string]func(*JobAnnouncement){
		"coordinator": func(a *JobAnnouncement) { a.Coordinator += "x" },
		"addr":        func(a *JobAnnouncement) { a.Addrs[0] += "1" },
		"seq":         func(a *JobAnnouncement) { a.Seq++ },
		"time":        func(a *JobAnnouncement) { a.SentAt = a.SentAt.Add(time.Nanosecond) },
		"job id":      func(a *JobAnnouncement) { a.Jobs[0].ID = "other" },
		"name":        func(a *JobAnnouncement) { a.Jobs[0].Name = "other" },
		"dataset":     func(a *JobAnnouncement) { a.Jobs[0].Dataset = "other" },
		"state":       func(a *JobAnnouncement) { a.Jobs[0].State = AnnouncedPaused },
		"pending":     func(a *JobAnnouncement) { a.Jobs[0].Pending++ },
		"spec hash":   func(a *JobAnnouncement) { a.Jobs[0].SpecHash = strings.Repeat("c", 64) },
		"job order":   func(a *JobAnnouncement) { a.Jobs[0], a.Jobs[1] = a.Jobs[1], a.Jobs[0] },
		// Moving bytes between adjacent fields must change the encoding.
		"field boundary": func(a *JobAnnouncement) { a.Jobs[0].ID, a.Jobs[0].Name = "new", "snews" },
	}
	for name, mutate := range mutations {
		a := testAnnouncement()
		mutate(a)
		if bytes.Equal(a.SigningBytes(), base) {
			t.Errorf("changing %s leaves the signing bytes unchanged", name)
		}
	}
	a := testAnnouncement()
	a.Signature = []byte("other")
	if !bytes.Equal(a.SigningBytes(), base) {
		t.Error("the signature must not cover itself")
	}
}

func TestJobSpecHash(t *testing.T) {
	spec := &JobSpec{Version: JobSpecVersion, Name: "j", Dataset: "d", Seeds: []string{"http://127.0.0.1/"},
		Quality: map[string]float64{"b": 1, "a": 2}}
	h1, err := JobSpecHash(spec)
	if err != nil {
		t.Fatal(err)
	}
	same := *spec
	same.Quality = map[string]float64{"a": 2, "b": 1}
	h2, _ := JobSpecHash(&same)
	changed := *spec
	changed.MaxPages = 10
	h3, _ := JobSpecHash(&changed)
	if h1 != h2 || h1 == h3 || !specHashRE.MatchString(h1) {
		t.Fatalf("hashes %s %s %s: equal specs must hash equally, a changed one differently", h1, h2, h3)
	}
	if _, err := JobSpecHash(nil); err == nil {
		t.Fatal("nil spec hashed")
	}
}

func FuzzDecodeJobAnnouncement(f *testing.F) {
	if data, err := EncodeJobAnnouncement(testAnnouncement()); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{"v":1,"coordinator":"x","seq":1,"sent_at":"2026-01-01T00:00:00Z","jobs":[{"id":"a"}]}`))
	f.Add([]byte("null"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := DecodeJobAnnouncement(data)
		if err != nil {
			return
		}
		// Whatever decodes is valid and re-encodes to something that
		// decodes to the same signed content.
		if err := a.Validate(); err != nil {
			t.Fatalf("decoded an invalid announcement: %v", err)
		}
		again, err := EncodeJobAnnouncement(a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := DecodeJobAnnouncement(again)
		if err != nil {
			t.Fatalf("re-encoded announcement does not decode: %v", err)
		}
		if !bytes.Equal(a.SigningBytes(), b.SigningBytes()) {
			t.Fatal("re-encoding changed the signed content")
		}
	})
}
