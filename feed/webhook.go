package feed

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/renameio/v2"
	"github.com/swardnet/sward/internal/logkey"
)

// Webhook request headers.
const (
	// HeaderSignature carries "t=<unix seconds>,v1=<hex HMAC-SHA256>" where
	// the HMAC, keyed with the subscription secret, covers "<t>.<body>".
	HeaderSignature = "X-Sward-Signature"
	// HeaderDelivery is the delivery ID; it stays the same across retries
	// so a receiver can drop duplicates.
	HeaderDelivery = "X-Sward-Delivery"
	// HeaderEvent is the feed event ID the delivery carries.
	HeaderEvent = "X-Sward-Event"
)

// Webhook is a subscription: matching events are POSTed to URL.
type Webhook struct {
	ID      string         `json:"id"`
	URL     string         `json:"url"`
	Query   string         `json:"q,omitempty"`
	Domain  string         `json:"domain,omitempty"`
	Lang    string         `json:"lang,omitempty"`
	Changes []ChangeStatus `json:"change,omitempty"`
	// Owner is the name of the API key that created the subscription; only
	// that key lists or deletes it.
	Owner string `json:"owner,omitempty"`
	// Secret keys the HMAC signature; it is only returned on creation.
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Delivered, Failed and Dropped count deliveries that succeeded, that
	// failed after every retry, and that found the queue full.
	Delivered int64 `json:"delivered"`
	Failed    int64 `json:"failed"`
	Dropped   int64 `json:"dropped"`
}

// WebhookPayload is the JSON body of a delivery.
type WebhookPayload struct {
	DeliveryID     string  `json:"delivery_id"`
	SubscriptionID string  `json:"subscription_id"`
	EventID        string  `json:"event_id"`
	Type           string  `json:"type"`
	Record         *Record `json:"record"`
}

// SignWebhook returns the HeaderSignature value for body sent at ts.
func SignWebhook(secret string, ts time.Time, body []byte) string {
	t := strconv.FormatInt(ts.Unix(), 10)
	return "t=" + t + ",v1=" + webhookMAC(secret, t, body)
}

func webhookMAC(secret, t string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(t))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks a HeaderSignature value against body and rejects
// signatures older than tolerance (replays).
func VerifyWebhook(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var t, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			t = v
		case "v1":
			sig = v
		}
	}
	ts, err := strconv.ParseInt(t, 10, 64)
	if err != nil || sig == "" {
		return errors.New("webhook signature: malformed header, want t=<unix>,v1=<hex>")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook signature: timestamp is %s off, more than %s", d.Round(time.Second), tolerance)
	}
	if !hmac.Equal([]byte(sig), []byte(webhookMAC(secret, t, body))) {
		return errors.New("webhook signature: mismatch")
	}
	return nil
}

type delivery struct {
	id   string
	body []byte
	ev   string
}

type subscription struct {
	hook   Webhook
	filter feedFilter
	queue  chan delivery
	stop   context.CancelFunc

	delivered, failed, dropped atomic.Int64
}

// webhooks owns the subscriptions and one delivery goroutine per
// subscription; the goroutines stop when the subscription is deleted or the
// feed closes.
type webhooks struct {
	f      *Feed
	client *http.Client

	mu   sync.Mutex
	subs map[string]*subscription
	// saveMu orders writes of webhooks.json.
	saveMu sync.Mutex
}

func newWebhooks(f *Feed) *webhooks {
	dialer := &net.Dialer{Timeout: f.cfg.Webhook.Timeout}
	if !f.cfg.Webhook.AllowRemote {
		// Checked on the resolved address of every dial, so DNS names
		// and redirects cannot reach beyond loopback.
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("webhook target %s is not a loopback address (set webhook AllowRemote to permit it)", address)
			}
			return nil
		}
	}
	tr := &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	return &webhooks{
		f:    f,
		subs: map[string]*subscription{},
		client: &http.Client{
			Transport: tr,
			Timeout:   f.cfg.Webhook.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

func randomID(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Subscribe adds a webhook. An empty Secret gets a random one; the returned
// Webhook carries it. With Config.IndexDir set, subscriptions are saved
// (webhooks.json, mode 0600) and resumed by the next New.
func (f *Feed) Subscribe(hook Webhook) (*Webhook, error) {
	if err := f.checkWebhook(hook); err != nil {
		return nil, err
	}
	var err error
	if hook.Secret == "" {
		if hook.Secret, err = randomID(32); err != nil {
			return nil, err
		}
	}
	if hook.ID, err = randomID(8); err != nil {
		return nil, err
	}
	hook.CreatedAt = f.now()
	hook.Delivered, hook.Failed, hook.Dropped = 0, 0, 0
	f.startWebhook(hook)
	if err := f.saveWebhooks(); err != nil {
		f.Unsubscribe(hook.ID)
		return nil, err
	}
	f.log.Info("webhook subscribed", "webhook", hook.ID, logkey.URL, hook.URL)
	out := hook
	return &out, nil
}

func (f *Feed) checkWebhook(hook Webhook) error {
	u, err := url.Parse(hook.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return badRequest("webhook url %q: want an absolute http or https URL", hook.URL)
	}
	if !f.cfg.Webhook.AllowRemote && !isLoopbackHost(u.Hostname()) {
		return badRequest("webhook url %q: only loopback targets are allowed on this server", hook.URL)
	}
	for _, c := range hook.Changes {
		if !c.valid() {
			return badRequest("change %q: want new, same, changed or removed", c)
		}
	}
	return nil
}

// startWebhook registers hook and starts its delivery goroutine.
func (f *Feed) startWebhook(hook Webhook) {
	ctx, cancel := context.WithCancel(f.ctx)
	s := &subscription{
		hook:   hook,
		filter: f.newFilter(hook.Query, hook.Domain, hook.Lang, hook.Changes),
		queue:  make(chan delivery, f.cfg.Webhook.Queue),
		stop:   cancel,
	}
	w := f.hooks
	w.mu.Lock()
	w.subs[hook.ID] = s
	w.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		w.run(ctx, s)
	}()
}

// Unsubscribe removes a webhook; pending deliveries are abandoned.
func (f *Feed) Unsubscribe(id string) bool {
	w := f.hooks
	w.mu.Lock()
	s, ok := w.subs[id]
	delete(w.subs, id)
	w.mu.Unlock()
	if ok {
		s.stop()
		if err := f.saveWebhooks(); err != nil {
			f.log.Error("saving webhooks", logkey.Err, err)
		}
	}
	return ok
}

func (f *Feed) webhooksFile() string {
	if f.cfg.IndexDir == "" {
		return ""
	}
	return filepath.Join(f.cfg.IndexDir, "webhooks.json")
}

// saveWebhooks writes every subscription, secrets included, atomically.
func (f *Feed) saveWebhooks() error {
	path := f.webhooksFile()
	if path == "" {
		return nil
	}
	w := f.hooks
	w.saveMu.Lock()
	defer w.saveMu.Unlock()
	w.mu.Lock()
	hooks := make([]Webhook, 0, len(w.subs))
	for _, s := range w.subs {
		hooks = append(hooks, s.hook)
	}
	w.mu.Unlock()
	sort.Slice(hooks, func(i, j int) bool { return hooks[i].CreatedAt.Before(hooks[j].CreatedAt) })
	data, err := json.MarshalIndent(hooks, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding webhooks: %w", err)
	}
	if err := renameio.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("saving webhooks: %w", err)
	}
	return nil
}

// loadWebhooks resumes the saved subscriptions.
func (f *Feed) loadWebhooks() error {
	path := f.webhooksFile()
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("loading webhooks: %w", err)
	}
	var hooks []Webhook
	if err := json.Unmarshal(data, &hooks); err != nil {
		return fmt.Errorf("loading webhooks from %s: %w", path, err)
	}
	for _, h := range hooks {
		if h.ID == "" || h.Secret == "" {
			return fmt.Errorf("loading webhooks from %s: subscription without id or secret", path)
		}
		if err := f.checkWebhook(h); err != nil {
			f.log.Warn("saved webhook no longer allowed; skipped", "webhook", h.ID, logkey.URL, h.URL, logkey.Err, err)
			continue
		}
		f.startWebhook(h)
	}
	return nil
}

// Webhooks lists the subscriptions, without their secrets.
func (f *Feed) Webhooks() []Webhook {
	w := f.hooks
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Webhook, 0, len(w.subs))
	for _, s := range w.subs {
		h := s.hook
		h.Secret = ""
		h.Delivered, h.Failed, h.Dropped = s.delivered.Load(), s.failed.Load(), s.dropped.Load()
		out = append(out, h)
	}
	return out
}

// enqueue queues a delivery of every event to every matching subscription.
func (w *webhooks) enqueue(evs []Event) {
	w.mu.Lock()
	subs := make([]*subscription, 0, len(w.subs))
	for _, s := range w.subs {
		subs = append(subs, s)
	}
	w.mu.Unlock()
	for _, s := range subs {
		for _, ev := range evs {
			if !w.f.matchFilter(s.filter, ev.Record) {
				continue
			}
			id, err := randomID(16)
			if err != nil {
				w.f.log.Error("webhook delivery id", "webhook", s.hook.ID, logkey.Err, err)
				continue
			}
			eid := w.f.events.id(ev.Seq)
			body, err := json.Marshal(WebhookPayload{DeliveryID: id, SubscriptionID: s.hook.ID, EventID: eid, Type: "document", Record: ev.Record})
			if err != nil {
				w.f.log.Error("encoding webhook payload", "webhook", s.hook.ID, logkey.URL, ev.Record.URL, logkey.Err, err)
				continue
			}
			select {
			case s.queue <- delivery{id: id, body: body, ev: eid}:
			default:
				s.dropped.Add(1)
				w.f.log.Warn("webhook queue full; delivery dropped", "webhook", s.hook.ID, logkey.URL, ev.Record.URL)
			}
		}
	}
}

func (w *webhooks) run(ctx context.Context, s *subscription) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-s.queue:
			if w.deliver(ctx, s, d) {
				s.delivered.Add(1)
			} else if ctx.Err() == nil {
				s.failed.Add(1)
			}
		}
	}
}

// deliver tries d until it succeeds, attempts run out or ctx ends. The
// wait doubles after each failure, with ±25% jitter, capped at MaxBackoff;
// a Retry-After from the receiver is honoured up to MaxBackoff.
func (w *webhooks) deliver(ctx context.Context, s *subscription, d delivery) bool {
	cfg := w.f.cfg.Webhook
	wait := cfg.Backoff
	for attempt := 1; ; attempt++ {
		status, ra, err := w.attempt(ctx, s, d)
		if err == nil && status >= 200 && status < 300 {
			return true
		}
		w.f.log.Info("webhook delivery failed", "webhook", s.hook.ID, "delivery", d.id, "attempt", attempt, "status", status, logkey.Err, err)
		if attempt >= cfg.MaxAttempts {
			w.f.log.Warn("webhook delivery abandoned", "webhook", s.hook.ID, "delivery", d.id, "attempts", attempt)
			return false
		}
		sleep := jitter(wait)
		if ra > 0 {
			sleep = min(ra, cfg.MaxBackoff)
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		wait = min(2*wait, cfg.MaxBackoff)
	}
}

func jitter(d time.Duration) time.Duration {
	span := int64(d / 2)
	if span <= 0 {
		return d
	}
	n, err := rand.Int(rand.Reader, big.NewInt(span))
	if err != nil {
		return d
	}
	return d - d/4 + time.Duration(n.Int64())
}

func (w *webhooks) attempt(ctx context.Context, s *subscription, d delivery) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.hook.URL, bytes.NewReader(d.body))
	if err != nil {
		return 0, 0, fmt.Errorf("building webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sward-feed-webhook/1")
	req.Header.Set(HeaderDelivery, d.id)
	req.Header.Set(HeaderEvent, d.ev)
	req.Header.Set(HeaderSignature, SignWebhook(s.hook.Secret, w.f.now(), d.body))
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("posting webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	var ra time.Duration
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		ra = time.Duration(secs) * time.Second
	}
	return resp.StatusCode, ra, nil
}

type webhookCreate struct {
	URL     string         `json:"url"`
	Secret  string         `json:"secret,omitempty"`
	Query   string         `json:"q,omitempty"`
	Domain  string         `json:"domain,omitempty"`
	Lang    string         `json:"lang,omitempty"`
	Changes []ChangeStatus `json:"change,omitempty"`
}

func (f *Feed) handleWebhookCreate(w http.ResponseWriter, r *http.Request) {
	var req webhookCreate
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	hook, err := f.Subscribe(Webhook{URL: req.URL, Secret: req.Secret, Query: req.Query, Domain: req.Domain, Lang: req.Lang, Changes: req.Changes, Owner: keyName(r.Context())})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, hook)
}

func (f *Feed) handleWebhookList(w http.ResponseWriter, r *http.Request) {
	owner := keyName(r.Context())
	hooks := []Webhook{}
	for _, h := range f.Webhooks() {
		if h.Owner == owner {
			hooks = append(hooks, h)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": hooks})
}

// webhookOwner returns the owner of subscription id.
func (f *Feed) webhookOwner(id string) (string, bool) {
	f.hooks.mu.Lock()
	defer f.hooks.mu.Unlock()
	s, ok := f.hooks.subs[id]
	if !ok {
		return "", false
	}
	return s.hook.Owner, true
}

func (f *Feed) handleWebhookDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if owner, ok := f.webhookOwner(id); !ok || owner != keyName(r.Context()) || !f.Unsubscribe(id) {
		writeError(w, &apiError{Status: http.StatusNotFound, Msg: fmt.Sprintf("webhook %q not found", id)})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
