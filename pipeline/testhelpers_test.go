package pipeline

import (
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

// capture builds a well-formed HTML capture around body.
func capture(url, body string) *schemas.Capture {
	b := []byte(body)
	return &schemas.Capture{
		Version: schemas.CaptureVersion, JobID: "job1", URL: url, Status: 200,
		ContentType: "text/html; charset=utf-8", Body: b, BodySize: int64(len(b)),
		BodySHA256: schemas.SHA256Hex(b), BodyCID: "bafytest", FetchedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		NodePeerID: "12D3KooWtest",
	}
}

func newTestPipeline(t testing.TB, mod func(*Config)) *Pipeline {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
