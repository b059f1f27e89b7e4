package curator

import (
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/swardnet/sward/curator/rules"
	"github.com/swardnet/sward/internal/logkey"
	"github.com/swardnet/sward/schemas"
)

//go:embed web
var webFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"pct": func(f float64) string { return strconv.FormatFloat(100*f, 'f', 0, 64) + "%" },
	"num": func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
	"kappa": func(k *float64) string {
		if k == nil {
			return "n/a"
		}
		return strconv.FormatFloat(*k, 'f', 3, 64)
	},
	"short": shortID,
}).ParseFS(webFS, "web/*.html"))

func shortID(id string) string {
	if len(id) > 12 {
		return "…" + id[len(id)-8:]
	}
	return id
}

// pageCSP is the policy of every UI page: our own script and style only,
// no framing of us, and nothing fetched from anywhere else. The preview
// iframe (srcdoc) inherits it on top of its own empty sandbox.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// maxRequestBody bounds an API request.
const maxRequestBody = 8 << 20

// Handler serves the web UI and the JSON API behind it. It expects to be
// bound to loopback: it refuses requests whose Host is a DNS name other than
// localhost (DNS rebinding), and state-changing requests without the
// X-Sward-Curator header or from another site (CSRF).
func (c *Curator) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(webFS, "web")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", c.pageQueue(false))
	mux.HandleFunc("GET /adjudicate", c.pageQueue(true))
	mux.HandleFunc("GET /stats", c.pageStats)
	mux.HandleFunc("GET /rules", c.pageRules)

	mux.HandleFunc("GET /api/me", c.apiMe)
	mux.HandleFunc("GET /api/next", c.apiNext)
	mux.HandleFunc("GET /api/items/{id}", c.apiItem)
	mux.HandleFunc("GET /api/queue", c.apiQueue)
	mux.HandleFunc("POST /api/decide", c.apiDecide)
	mux.HandleFunc("POST /api/undo", c.apiUndo)
	mux.HandleFunc("POST /api/bulk", c.apiBulk)
	mux.HandleFunc("GET /api/stats", c.apiStats)
	mux.HandleFunc("GET /api/guidelines/{dataset}", c.apiGuidelines)
	mux.HandleFunc("PUT /api/guidelines/{dataset}", c.apiSetGuidelines)
	mux.HandleFunc("GET /api/hotkeys", c.apiHotkeys)
	mux.HandleFunc("PUT /api/hotkeys", c.apiSetHotkeys)
	mux.HandleFunc("GET /api/rules", c.apiRules)
	mux.HandleFunc("GET /api/rules/{domain}", c.apiRuleHistory)
	mux.HandleFunc("POST /api/rules/preview", c.apiPreviewRule)
	mux.HandleFunc("POST /api/rules", c.apiPublishRule)
	mux.HandleFunc("GET /api/settled", c.apiSettled)
	mux.HandleFunc("GET /api/trusted", c.apiTrusted)
	mux.HandleFunc("PUT /api/trusted", c.apiSetTrusted)
	return guard(mux)
}

func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", pageCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if !allowedHost(r.Host) {
			http.Error(w, "curator UI: unexpected Host header; open it by IP address or localhost", http.StatusMisdirectedRequest)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if r.Header.Get("X-Sward-Curator") != "1" || r.Header.Get("Sec-Fetch-Site") == "cross-site" {
				http.Error(w, "curator UI: cross-site request refused", http.StatusForbidden)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
		}
		next.ServeHTTP(w, r)
	})
}

// allowedHost accepts IP literals and localhost, so a DNS name that an
// attacker rebinds to 127.0.0.1 cannot reach the API.
func allowedHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	return host == "localhost" || net.ParseIP(host) != nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail maps an error to a status: known conditions to their code, other
// errors to 400 for requests that change state (bad input) and 500 for
// reads.
func (c *Curator) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	if r.Method != http.MethodGet {
		status = http.StatusBadRequest
	}
	switch {
	case errors.Is(err, ErrUnknownItem):
		status = http.StatusNotFound
	case errors.Is(err, ErrSettled), errors.Is(err, ErrNothingToUndo):
		status = http.StatusConflict
	case errors.Is(err, ErrNotAdjudicator), errors.Is(err, ErrUntrusted):
		status = http.StatusForbidden
	}
	if status == http.StatusInternalServerError {
		c.log.Error("curator API", logkey.Path, r.URL.Path, logkey.Err, err)
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("request body: " + err.Error())
	}
	return nil
}

func filterFromQuery(r *http.Request) Filter {
	q := r.URL.Query()
	f := Filter{
		Dataset: q.Get("dataset"), Kind: q.Get("kind"), Domain: strings.ToLower(q.Get("domain")),
		Reason: q.Get("reason"), Query: q.Get("q"), Score: q.Get("score"),
		Adjudication: q.Get("mode") == "adjudication",
	}
	if v, err := strconv.ParseFloat(q.Get("min"), 64); err == nil {
		f.MinScore = &v
	}
	if v, err := strconv.ParseFloat(q.Get("max"), 64); err == nil {
		f.MaxScore = &v
	}
	return f
}

type pageData struct {
	Self         string
	Adjudication bool
	Hotkeys      string
	Stats        *Stats
	Rules        []schemas.ExtractionRule
	Normalisers  []string
	Fields       []string
}

func (c *Curator) render(w http.ResponseWriter, r *http.Request, name string, d pageData) {
	d.Self = c.self
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pages.ExecuteTemplate(w, name, d); err != nil {
		c.log.Error("rendering curator page", "page", name, logkey.Err, err)
	}
}

func (c *Curator) pageQueue(adjudication bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		keys, err := c.Hotkeys(r.Context())
		if err != nil {
			c.fail(w, r, err)
			return
		}
		b, _ := json.Marshal(keys)
		c.render(w, r, "queue.html", pageData{Adjudication: adjudication, Hotkeys: string(b)})
	}
}

func (c *Curator) pageStats(w http.ResponseWriter, r *http.Request) {
	st, err := c.Stats(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, "stats.html", pageData{Stats: st})
}

func (c *Curator) pageRules(w http.ResponseWriter, r *http.Request) {
	rs, err := c.Rules(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, "rules.html", pageData{Rules: rs, Normalisers: rules.Normalisers, Fields: rules.DocumentFields[1:]})
}

func (c *Curator) apiMe(w http.ResponseWriter, r *http.Request) {
	keys, err := c.Hotkeys(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"peer": c.self, "hotkeys": keys,
		"quorum": c.cfg.Quorum, "max_votes": c.cfg.MaxVotes, "undo_window_ms": c.cfg.UndoWindow.Milliseconds()})
}

func (c *Curator) apiNext(w http.ResponseWriter, r *http.Request) {
	v, err := c.Next(r.Context(), filterFromQuery(r))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if v == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (c *Curator) apiItem(w http.ResponseWriter, r *http.Request) {
	v, err := c.View(r.Context(), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (c *Curator) apiQueue(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	f := filterFromQuery(r)
	all, err := c.Queue(r.Context(), f, 0)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	items := all
	if len(items) > limit {
		items = items[:limit]
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(all), "items": items})
}

func (c *Curator) apiDecide(w http.ResponseWriter, r *http.Request) {
	var in Input
	if err := decodeBody(r, &in); err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.Decide(r.Context(), in); err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "item_id": in.ItemID, "action": in.Action})
}

func (c *Curator) apiUndo(w http.ResponseWriter, r *http.Request) {
	reopened, err := c.Undo(r.Context())
	if err != nil && len(reopened) == 0 {
		c.fail(w, r, err)
		return
	}
	resp := map[string]any{"reopened": reopened}
	if err != nil {
		resp["error"] = err.Error()
	}
	writeJSON(w, http.StatusOK, resp)
}

type bulkRequest struct {
	Filter Filter `json:"filter"`
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

func (c *Curator) apiBulk(w http.ResponseWriter, r *http.Request) {
	var req bulkRequest
	if err := decodeBody(r, &req); err != nil {
		c.fail(w, r, err)
		return
	}
	if req.Limit <= 0 || req.Limit > 1000 {
		req.Limit = 1000
	}
	n, err := c.Bulk(r.Context(), req.Filter, req.Action, req.Reason, req.Limit)
	if err != nil && n == 0 {
		c.fail(w, r, err)
		return
	}
	resp := map[string]any{"decided": n}
	if err != nil {
		resp["error"] = err.Error()
	}
	writeJSON(w, http.StatusOK, resp)
}

func (c *Curator) apiStats(w http.ResponseWriter, r *http.Request) {
	st, err := c.Stats(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (c *Curator) apiGuidelines(w http.ResponseWriter, r *http.Request) {
	text, err := c.Guidelines(r.Context(), r.PathValue("dataset"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"dataset": r.PathValue("dataset"), "text": text})
}

func (c *Curator) apiSetGuidelines(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Text string `json:"text"`
	}
	if err := decodeBody(r, &body); err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.SetGuidelines(r.Context(), r.PathValue("dataset"), body.Text); err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (c *Curator) apiHotkeys(w http.ResponseWriter, r *http.Request) {
	keys, err := c.Hotkeys(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, keys)
}

func (c *Curator) apiSetHotkeys(w http.ResponseWriter, r *http.Request) {
	var change map[string]string
	if err := decodeBody(r, &change); err != nil {
		c.fail(w, r, err)
		return
	}
	keys, err := c.Hotkeys(r.Context())
	if err == nil {
		for a, k := range change {
			keys[a] = k
		}
		err = c.SetHotkeys(r.Context(), keys)
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, keys)
}

func (c *Curator) apiRules(w http.ResponseWriter, r *http.Request) {
	rs, err := c.Rules(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rs)
}

func (c *Curator) apiRuleHistory(w http.ResponseWriter, r *http.Request) {
	rs, err := c.RuleHistory(r.Context(), r.PathValue("domain"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rs)
}

func (c *Curator) apiPreviewRule(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Rule  schemas.ExtractionRule `json:"rule"`
		Limit int                    `json:"limit,omitempty"`
	}
	if err := decodeBody(r, &req); err != nil {
		c.fail(w, r, err)
		return
	}
	ps, err := c.PreviewRule(r.Context(), req.Rule, req.Limit)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ps)
}

func (c *Curator) apiPublishRule(w http.ResponseWriter, r *http.Request) {
	var rule schemas.ExtractionRule
	if err := decodeBody(r, &rule); err != nil {
		c.fail(w, r, err)
		return
	}
	out, err := c.PublishRule(r.Context(), rule)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (c *Curator) apiSettled(w http.ResponseWriter, r *http.Request) {
	since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
	s, next, err := c.Settled(r.Context(), since)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"settlements": s, "next": next})
}

// trustedDoc is the body of GET and PUT /api/trusted.
type trustedDoc struct {
	// Config is Config.Trusted (read only).
	Config []string `json:"config"`
	// Vouched are the curators the owner vouched for here.
	Vouched []string `json:"vouched"`
	// Owner says whether this process holds the queue (may vouch).
	Owner bool `json:"owner"`
}

func (c *Curator) apiTrusted(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, trustedDoc{Config: c.cfg.Trusted, Vouched: c.Vouched(), Owner: c.isOwner(c.self)})
}

func (c *Curator) apiSetTrusted(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Vouched []string `json:"vouched"`
	}
	if err := decodeBody(r, &in); err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.SetVouched(r.Context(), in.Vouched); err != nil {
		c.fail(w, r, err)
		return
	}
	c.apiTrusted(w, r)
}
