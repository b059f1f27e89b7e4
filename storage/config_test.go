package storage

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestPullOptionsDefaultValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    PullOptions
		wantErr string
	}{
		{"zero value", PullOptions{}, ""},
		{"own values", PullOptions{StallTimeout: time.Second, Concurrency: 3}, ""},
		{"negative stall", PullOptions{StallTimeout: -time.Second}, "stall timeout"},
		{"negative concurrency", PullOptions{Concurrency: -1}, "concurrency -1"},
		{"huge concurrency", PullOptions{Concurrency: 100000}, "concurrency 100000"},
		{"peer without id", PullOptions{Peers: []peer.AddrInfo{{}}}, "no peer ID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Default()
			err := o.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if o.StallTimeout <= 0 || o.Concurrency <= 0 || o.Logger == nil {
					t.Errorf("Default left %+v", o)
				}
				if tc.opts.StallTimeout != 0 && o.StallTimeout != tc.opts.StallTimeout {
					t.Errorf("Default replaced stall timeout %s", tc.opts.StallTimeout)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want an error about %q", err, tc.wantErr)
			}
		})
	}
	// PullVersion refuses bad options before touching the network.
	if _, err := PullVersion(context.Background(), nil, rawCIDOf(nil), t.TempDir(), PullOptions{Concurrency: -2}); err == nil || !strings.Contains(err.Error(), "concurrency") {
		t.Errorf("PullVersion with bad options: %v", err)
	}
}

// TestStoreLogger: a store logs to its Config's Logger, not the global one.
func TestStoreLogger(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := (Config{}).Validate(); err == nil {
		t.Error("a Config without Default validated")
	}
	ctx := context.Background()
	s, err := OpenWithConfig(ctx, t.TempDir(), Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	publishDocs(t, s, "logged", DatasetOptions{}, testDocs("l", 3))
	if !strings.Contains(buf.String(), "dataset version published") || !strings.Contains(buf.String(), "dataset=logged") {
		t.Errorf("the store's logger got %q", buf.String())
	}
}
