package feed

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestConfigDefault: a zero Config gets the documented defaults, its
// webhook settings and logger included.
func TestConfigDefault(t *testing.T) {
	var c Config
	c.Default()
	want := Config{
		Addr:            "127.0.0.1:8088",
		Retention:       10000,
		FetchTimeout:    30 * time.Second,
		DefaultMaxAge:   time.Hour,
		RateLimit:       RateLimit{PerSecond: 20, Burst: 40},
		MaxRequestBytes: 1 << 20,
		MaxResults:      100,
		MaxDiffLines:    200,
		Webhook: WebhookConfig{
			MaxAttempts: 6,
			Backoff:     time.Second,
			MaxBackoff:  time.Minute,
			Timeout:     10 * time.Second,
			Queue:       1024,
		},
		Logger: slog.Default(),
	}
	if c.Addr != want.Addr || c.Retention != want.Retention || c.FetchTimeout != want.FetchTimeout ||
		c.DefaultMaxAge != want.DefaultMaxAge || c.RateLimit != want.RateLimit ||
		c.MaxRequestBytes != want.MaxRequestBytes || c.MaxResults != want.MaxResults ||
		c.MaxDiffLines != want.MaxDiffLines || c.Webhook != want.Webhook || c.Logger != want.Logger {
		t.Errorf("Default gave %+v, want %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	if err := (Config{}).Validate(); err == nil {
		t.Error("a Config without Default validated")
	}
}

// TestConfigDefaultKeepsSetFields: Default fills only what is unset.
func TestConfigDefaultKeepsSetFields(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	c := Config{Logger: log, Webhook: WebhookConfig{MaxAttempts: 2, Queue: 3}}
	c.Default()
	if c.Logger != log || c.Webhook.MaxAttempts != 2 || c.Webhook.Queue != 3 {
		t.Errorf("Default replaced set fields: %+v", c)
	}
}

func TestWebhookConfigDefault(t *testing.T) {
	var w WebhookConfig
	w.Default()
	want := WebhookConfig{MaxAttempts: 6, Backoff: time.Second, MaxBackoff: time.Minute, Timeout: 10 * time.Second, Queue: 1024}
	if w != want {
		t.Errorf("Default gave %+v, want %+v", w, want)
	}
}

func TestWebhookConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		cfg    WebhookConfig
		errSub string // "" means valid
	}{
		{"defaults", WebhookConfig{}, ""},
		{"own values", WebhookConfig{AllowRemote: true, MaxAttempts: 1, Backoff: time.Millisecond, MaxBackoff: time.Millisecond, Timeout: time.Second, Queue: 1}, ""},
		{"negative attempts", WebhookConfig{MaxAttempts: -1}, "max attempts"},
		{"negative backoff", WebhookConfig{Backoff: -time.Second}, "webhook backoff"},
		{"max backoff below backoff", WebhookConfig{Backoff: time.Minute, MaxBackoff: time.Second}, "max backoff"},
		{"negative timeout", WebhookConfig{Timeout: -time.Second}, "timeout"},
		{"negative queue", WebhookConfig{Queue: -1}, "queue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.cfg
			w.Default()
			err := w.Validate()
			if tc.errSub == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errSub) || !strings.Contains(err.Error(), "feed config") {
				t.Fatalf("Validate = %v, want a feed config error about %q", err, tc.errSub)
			}
			// The feed's own Validate reports it too.
			c := Config{Webhook: tc.cfg}
			c.Default()
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.errSub) {
				t.Errorf("Config.Validate = %v, want an error about %q", err, tc.errSub)
			}
		})
	}
}

// TestNewRefusesInvalidConfig: New returns Validate's error and opens
// nothing.
func TestNewRefusesInvalidConfig(t *testing.T) {
	_, err := New(context.Background(), Config{Webhook: WebhookConfig{Queue: -5}})
	if err == nil || !strings.Contains(err.Error(), "webhook queue -5") {
		t.Fatalf("New = %v, want the webhook queue error", err)
	}
}
