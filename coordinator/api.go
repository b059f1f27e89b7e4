package coordinator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/swardnet/sward/schemas"
)

// API is the coordinator's HTTP job API, used by `sward crawl`. It is bound
// to loopback by the CLI unless the operator says otherwise.
type API struct {
	coord    *Coordinator
	frontier *Frontier
}

// NewAPI returns the job API over a running coordinator.
func NewAPI(c *Coordinator, f *Frontier) *API { return &API{coord: c, frontier: f} }

// maxSpecBytes bounds a submitted job spec.
const maxSpecBytes = 1 << 20

// Handler routes:
//
//	POST /v1/jobs                      submit a YAML job spec
//	GET  /v1/jobs                      list jobs with progress
//	GET  /v1/jobs/{id}                 one job's progress
//	POST /v1/jobs/{id}/{pause|resume|cancel}
//	POST /v1/jobs/{id}/publish         publish a dataset version now
//	GET  /v1/ledger                    contribution ledger
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", a.submit)
	mux.HandleFunc("GET /v1/jobs", a.list)
	mux.HandleFunc("GET /v1/jobs/{id}", a.get)
	mux.HandleFunc("POST /v1/jobs/{id}/pause", a.setState(JobPaused))
	mux.HandleFunc("POST /v1/jobs/{id}/resume", a.setState(JobRunning))
	mux.HandleFunc("POST /v1/jobs/{id}/cancel", a.setState(JobCancelled))
	mux.HandleFunc("POST /v1/jobs/{id}/publish", a.publish)
	mux.HandleFunc("GET /v1/ledger", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.coord.Ledger().All())
	})
	return mux
}

func (a *API) submit(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSpecBytes+1))
	if err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("reading job spec: %w", err))
		return
	}
	if len(body) > maxSpecBytes {
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Errorf("job spec larger than %d bytes", maxSpecBytes))
		return
	}
	spec, err := schemas.ParseJobSpec(body)
	if err != nil {
		writeErr(w, http.StatusUnprocessableEntity, err)
		return
	}
	id, err := a.coord.Submit(r.Context(), spec)
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
		if a.coord.job(r.PathValue("id")) == nil {
			status = http.StatusNotFound
		}
		writeErr(w, status, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"cid": cid, "manifest": m})
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
