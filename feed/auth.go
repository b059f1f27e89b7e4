package feed

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/swardnet/sward/internal/logkey"
	"golang.org/x/time/rate"
)

// maxAnonLimiters bounds the per-IP limiters kept when there are no keys.
const maxAnonLimiters = 10000

// HashAPIKey returns the lowercase hex SHA-256 of key, the form in which
// Config.APIKeys stores keys.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// NewAPIKey returns a fresh random key ("sward_" + 52 base32 characters,
// 256 bits) and its hash for Config.APIKeys.
func NewAPIKey() (key, sha string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("generating API key: %w", err)
	}
	key = "sward_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	return key, HashAPIKey(key), nil
}

type keyEntry struct {
	name string
	hash [sha256.Size]byte
	lim  *rate.Limiter
}

// authenticator checks API keys and applies per-key (or, without keys,
// per-client-IP) rate limits.
type authenticator struct {
	keys []keyEntry
	def  RateLimit

	mu   sync.Mutex
	anon map[string]*rate.Limiter
}

func newAuthenticator(cfg Config) *authenticator {
	a := &authenticator{def: cfg.RateLimit, anon: map[string]*rate.Limiter{}}
	for _, k := range cfg.APIKeys {
		lim := cfg.RateLimit
		if !k.RateLimit.IsZero() {
			lim = k.RateLimit
		}
		var h [sha256.Size]byte
		// Validate has checked the hex form.
		_, _ = hex.Decode(h[:], []byte(k.SHA256))
		a.keys = append(a.keys, keyEntry{name: k.Name, hash: h, lim: rate.NewLimiter(rate.Limit(lim.PerSecond), lim.Burst)})
	}
	return a
}

func presentedKey(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(tok)
		}
	}
	return strings.TrimSpace(r.Header.Get("X-API-Key"))
}

// check authenticates r and takes a token from its limiter. It returns the
// key name ("" when anonymous) or an apiError to send.
func (a *authenticator) check(r *http.Request) (string, *apiError) {
	var (
		name string
		lim  *rate.Limiter
	)
	if len(a.keys) > 0 {
		key := presentedKey(r)
		if key == "" {
			return "", &apiError{Status: http.StatusUnauthorized, Msg: "an API key is required: send Authorization: Bearer <key>"}
		}
		sum := sha256.Sum256([]byte(key))
		for i := range a.keys {
			// Compare against every key so timing does not tell which
			// prefix matched.
			if subtle.ConstantTimeCompare(sum[:], a.keys[i].hash[:]) == 1 {
				name, lim = a.keys[i].name, a.keys[i].lim
			}
		}
		if lim == nil {
			return "", &apiError{Status: http.StatusUnauthorized, Msg: "invalid API key"}
		}
	} else {
		lim = a.anonLimiter(clientIP(r))
	}
	res := lim.Reserve()
	if d := res.Delay(); d > 0 {
		res.Cancel()
		secs := int(math.Ceil(d.Seconds()))
		return name, &apiError{Status: http.StatusTooManyRequests, Msg: "rate limit exceeded; retry after the Retry-After delay", RetryAfter: max(secs, 1)}
	}
	return name, nil
}

func (a *authenticator) anonLimiter(ip string) *rate.Limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	lim, ok := a.anon[ip]
	if !ok {
		if len(a.anon) >= maxAnonLimiters {
			// Forgetting all limiters only ever gives clients a fresh
			// burst; it keeps memory bounded under many addresses.
			a.anon = map[string]*rate.Limiter{}
		}
		lim = rate.NewLimiter(rate.Limit(a.def.PerSecond), a.def.Burst)
		a.anon[ip] = lim
	}
	return lim
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// guard wraps next with the request size limit, authentication and rate
// limiting. Paths in open skip authentication (but not the size limit).
func (f *Feed) guard(next http.Handler, open map[string]bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > f.cfg.MaxRequestBytes {
			writeError(w, &apiError{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, f.cfg.MaxRequestBytes)})
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, f.cfg.MaxRequestBytes)
		}
		if !open[r.URL.Path] {
			name, aerr := f.auth.check(r)
			if aerr != nil {
				if aerr.Status == http.StatusTooManyRequests {
					f.log.Warn("rate limited", "key", name, "ip", clientIP(r), logkey.Path, r.URL.Path)
				}
				writeError(w, aerr)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), keyNameCtx{}, name))
		}
		next.ServeHTTP(w, r)
	})
}

// keyNameCtx is the context key of the authenticated API key's name.
type keyNameCtx struct{}

// keyName is the name of the API key that made the request ("" when the
// server has no keys).
func keyName(ctx context.Context) string {
	s, _ := ctx.Value(keyNameCtx{}).(string)
	return s
}

// retryAfter formats a Retry-After header value.
func retryAfter(secs int) string { return strconv.Itoa(secs) }
