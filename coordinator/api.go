package coordinator

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/swardnet/sward/frontier"
	"github.com/swardnet/sward/internal/httpserve"
	"github.com/swardnet/sward/schemas"
)

// API is the coordinator's HTTP job API, used by `sward crawl`. It is bound
// to loopback by the CLI unless the operator says otherwise.
//
// Jobs come only from the coordinator's owner: submit, pause, resume,
// cancel and publish need the API token (Authorization: Bearer TOKEN),
// compared in constant time; an API without a token refuses them all.
// Read-only endpoints are open to loopback clients and need the token from
// anywhere else. Cross-site browser requests (a page in the owner's
// browser posting to 127.0.0.1) are refused before any of that, by
// Sec-Fetch-Site and Origin.
type API struct {
	coord    *Coordinator
	frontier *frontier.Frontier
	token    []byte
	maxSpec  int64
}

// APIConfig configures NewAPI.
type APIConfig struct {
	// Token is what state-changing requests must carry (see
	// LoadOrCreateAPIToken); without one the API takes no jobs.
	Token string
	// MaxSpecBytes bounds a submitted job spec (default 1 MiB).
	MaxSpecBytes int64
}

// minTokenBytes is the shortest token the API accepts: guessing must be
// out of reach (LoadOrCreateAPIToken makes 32 bytes).
const minTokenBytes = 16

// Default fills zero fields.
func (c *APIConfig) Default() {
	if c.MaxSpecBytes == 0 {
		c.MaxSpecBytes = maxSpecBytes
	}
}

// Validate reports settings the API cannot run with.
func (c APIConfig) Validate() error {
	if c.Token != "" && len(strings.TrimSpace(c.Token)) < minTokenBytes {
		return fmt.Errorf("coordinator API config: a token of %d bytes is too short to keep jobs to the owner (at least %d)", len(strings.TrimSpace(c.Token)), minTokenBytes)
	}
	if c.MaxSpecBytes < 1 {
		return fmt.Errorf("coordinator API config: max spec bytes %d must be positive", c.MaxSpecBytes)
	}
	return nil
}

// NewAPI returns the job API over a running coordinator.
func NewAPI(c *Coordinator, f *frontier.Frontier, cfg APIConfig) (*API, error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &API{coord: c, frontier: f, maxSpec: cfg.MaxSpecBytes}
	if cfg.Token != "" {
		a.token = []byte(strings.TrimSpace(cfg.Token))
	}
	return a, nil
}

// APITokenFile is the file, in the coordinator's data directory, that holds
// the job API token.
const APITokenFile = "api.token"

// APITokenHeader names the header that carries the token, as
// "Bearer TOKEN".
const APITokenHeader = "Authorization"

// LoadOrCreateAPIToken reads the job API token from path, or, when the file
// does not exist, draws a random one (256 bits, hex) and writes it there
// atomically with mode 0600. A coordinator restarted on the same data
// directory keeps its token.
func LoadOrCreateAPIToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		tok := strings.TrimSpace(string(data))
		if len(tok) < 32 {
			return "", fmt.Errorf("job API token in %s is shorter than 32 characters: delete the file to get a new one", path)
		}
		return tok, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("reading the job API token: %w", err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("drawing a job API token: %w", err)
	}
	tok := hex.EncodeToString(b[:])
	if err := renameio.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the job API token (is the data directory writable?): %w", err)
	}
	return tok, nil
}

// maxSpecBytes bounds a submitted job spec.
const maxSpecBytes = 1 << 20

// Handler routes:
//
//	POST /v1/jobs                      submit a YAML job spec
//	GET  /v1/jobs                      list jobs with progress
//	GET  /v1/jobs/{id}                 one job's progress
//	POST /v1/jobs/{id}/{pause|resume|cancel}
//	POST /v1/jobs/{id}/publish         publish a dataset version now (409
//	                                   while a job at verify_sample_rate 1
//	                                   has checks open)
//	POST /v1/jobs/{id}/retract         take pages out of the next version:
//	                                   {"urls": [...]} (takedown)
//	GET  /v1/ledger                    contribution ledger
//	GET  /v1/ledger/audit[?peer=ID]    published ledger (statements, total,
//	                                   receipt key) or one peer's signed receipts
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", a.owner(a.submit))
	mux.HandleFunc("GET /v1/jobs", a.reader(a.list))
	mux.HandleFunc("GET /v1/jobs/{id}", a.reader(a.get))
	mux.HandleFunc("POST /v1/jobs/{id}/pause", a.owner(a.setState(frontier.JobPaused)))
	mux.HandleFunc("POST /v1/jobs/{id}/resume", a.owner(a.setState(frontier.JobRunning)))
	mux.HandleFunc("POST /v1/jobs/{id}/cancel", a.owner(a.setState(frontier.JobCancelled)))
	mux.HandleFunc("POST /v1/jobs/{id}/publish", a.owner(a.publish))
	mux.HandleFunc("POST /v1/jobs/{id}/retract", a.owner(a.retract))
	mux.HandleFunc("GET /v1/ledger", a.reader(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.coord.Ledger().All())
	}))
	mux.Handle("GET /v1/ledger/audit", a.reader(a.coord.LedgerHandler().ServeHTTP))
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeErr(w, http.StatusForbidden, errors.New("cross-origin request refused: the job API takes requests from sward crawl, not from web pages"))
	}))
	return csrf.Handler(mux)
}

// hasToken reports whether r carries the API token.
func (a *API) hasToken(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get(APITokenHeader), "Bearer ")
	if !ok || len(a.token) == 0 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), a.token) == 1
}

// owner lets through only requests that carry the API token.
func (a *API) owner(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(a.token) == 0 {
			writeErr(w, http.StatusForbidden, errors.New("this job API has no token configured, so it takes no jobs: start the coordinator with sward coordinator or sward up"))
			return
		}
		if !a.hasToken(r) {
			writeErr(w, http.StatusUnauthorized, fmt.Errorf("missing or wrong job API token: pass --token, set $SWARD_API_TOKEN, or point --data at the coordinator's data directory (it holds %s)", APITokenFile))
			return
		}
		next(w, r)
	}
}

// reader lets through loopback clients, and others with the token.
func (a *API) reader(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !isLoopbackClient(r) && !a.hasToken(r) {
			writeErr(w, http.StatusUnauthorized, errors.New("the job API answers non-loopback clients only with its token"))
			return
		}
		next(w, r)
	}
}

func isLoopbackClient(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// Serve serves Handler on ln until ctx ends, then shuts down gracefully,
// with timeouts that keep a slow client from holding a connection.
func (a *API) Serve(ctx context.Context, ln net.Listener) error {
	// Publishing a large dataset takes a while.
	srv := httpserve.NewServer(a.Handler(), 10*time.Minute)
	return httpserve.Serve(ctx, srv, ln, httpserve.ShutdownGrace, "the job API")
}

func (a *API) submit(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, a.maxSpec+1))
	if err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("reading job spec: %w", err))
		return
	}
	if int64(len(body)) > a.maxSpec {
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Errorf("job spec larger than %d bytes", a.maxSpec))
		return
	}
	spec, err := schemas.ParseJobSpec(body)
	if err != nil {
		writeErr(w, http.StatusUnprocessableEntity, err)
		return
	}
	id, err := a.coord.Submit(r.Context(), spec)
	if errors.Is(err, ErrJobExists) {
		writeErr(w, http.StatusConflict, err)
		return
	}
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"job": id})
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	jobs, err := a.frontier.ListJobs(r.Context())
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	out := make([]JobProgress, 0, len(jobs))
	for _, j := range jobs {
		p, err := a.coord.Progress(r.Context(), j.ID)
		if err != nil {
			continue
		}
		out = append(out, p)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	p, err := a.coord.Progress(r.Context(), r.PathValue("id"))
	if err != nil {
		writeErr(w, http.StatusNotFound, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (a *API) setState(state string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if a.coord.job(id) == nil {
			writeErr(w, http.StatusNotFound, fmt.Errorf("unknown job %q", id))
			return
		}
		if err := a.frontier.SetJobState(r.Context(), id, state); err != nil {
			writeErr(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"job": id, "state": state})
	}
}

func (a *API) publish(w http.ResponseWriter, r *http.Request) {
	cid, m, err := a.coord.Publish(r.Context(), r.PathValue("id"))
	if err != nil {
		status := http.StatusInternalServerError
		switch {
		case a.coord.job(r.PathValue("id")) == nil:
			status = http.StatusNotFound
		case errors.Is(err, ErrChecksOpen):
			status = http.StatusConflict
		}
		writeErr(w, status, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"cid": cid, "manifest": m})
}

// RetractRequest is the body of POST /v1/jobs/{id}/retract.
type RetractRequest struct {
	URLs []string `json:"urls"`
}

func (a *API) retract(w http.ResponseWriter, r *http.Request) {
	var req RetractRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRetractBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			writeErr(w, http.StatusRequestEntityTooLarge, fmt.Errorf("retract request larger than %d bytes: send at most %d URLs of up to %d bytes each per request, and split a longer list",
				tooBig.Limit, MaxRetractURLs, retractURLBytes))
			return
		}
		writeErr(w, http.StatusBadRequest, fmt.Errorf(`reading retract request (want {"urls": [...]}): %w`, err))
		return
	}
	res, err := a.coord.Retract(r.Context(), r.PathValue("id"), req.URLs)
	switch {
	case errors.Is(err, frontier.ErrUnknownJob):
		writeErr(w, http.StatusNotFound, err)
		return
	case errors.Is(err, ErrBadRetract):
		writeErr(w, http.StatusBadRequest, err)
		return
	case err != nil:
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, err error) {
	var se *schemas.SpecError
	body := map[string]any{"error": err.Error()}
	if errors.As(err, &se) {
		body["line"] = se.Line
		body["field"] = se.Field
	}
	writeJSON(w, status, body)
}
