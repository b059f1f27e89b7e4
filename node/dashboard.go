package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/swardnet/sward/internal/httpserve"
	"github.com/swardnet/sward/internal/logkey"
)

// DefaultDashboardAddr is where the dashboard listens by default: loopback
// only, so the controls are the machine owner's alone.
const DefaultDashboardAddr = "127.0.0.1:7777"

// controlHeader must accompany POSTs to the dashboard. A cross-site form
// cannot set it, and a cross-site fetch that sets it needs a CORS preflight
// the dashboard never grants.
const controlHeader = "X-Sward-Dashboard"

// chartMinutes is the span of the contribution chart.
const chartMinutes = 60

// Status is the dashboard's /api/status document; `sward node status`
// prints it.
type Status struct {
	Peer           string           `json:"peer"`
	State          string           `json:"state"`
	Paused         bool             `json:"paused"`
	ActiveHours    string           `json:"active_hours,omitempty"`
	UptimeSeconds  float64          `json:"uptime_seconds"`
	Pages          int64            `json:"pages"`
	Errors         int64            `json:"errors"`
	Bytes          int64            `json:"bytes"`
	Month          string           `json:"month"`
	MonthBytes     int64            `json:"month_bytes"`
	MonthlyCap     int64            `json:"monthly_cap_bytes"`
	BandwidthCap   int64            `json:"bandwidth_cap_bytes_per_sec"`
	MaxConcurrency int              `json:"max_concurrency"`
	ErrorReasons   map[string]int64 `json:"error_reasons,omitempty"`
	Active         []Activity       `json:"active"`
	Ledger         Ledger           `json:"ledger"`
	History        []Point          `json:"history"`
	// Bodies are the large bodies kept for the coordinator (nil when the
	// node keeps none).
	Bodies *BlobStats `json:"bodies,omitempty"`
	// Memory is the node-wide memory budget for bodies, outlinks and
	// sitemap entries.
	Memory MemoryStats `json:"memory"`
}

// Dashboard serves the node owner's page: contribution, caps, standing,
// current activity, a chart, and pause/resume.
type Dashboard struct {
	f      *Fetcher
	peer   string
	log    *slog.Logger
	bodies atomic.Pointer[BlobStore]
}

// ShowBodies adds the node's store of large bodies to the status.
func (d *Dashboard) ShowBodies(b *BlobStore) { d.bodies.Store(b) }

// NewDashboard returns a dashboard for f; peerID is shown as the node's
// identity.
func NewDashboard(f *Fetcher, peerID string) *Dashboard {
	return &Dashboard{f: f, peer: peerID, log: f.cfg.Logger.With("component", "dashboard", logkey.Peer, peerID)}
}

// Status assembles the current status.
func (d *Dashboard) Status() Status {
	snap := d.f.meter.Snapshot(chartMinutes)
	cfg := d.f.cfg
	st := Status{
		Peer: d.peer, State: d.f.State(), Paused: d.f.Paused(), ActiveHours: cfg.ActiveHours,
		UptimeSeconds: snap.Uptime.Seconds(), Pages: snap.Pages, Errors: snap.Errors, Bytes: snap.Bytes,
		Month: snap.Month, MonthBytes: snap.MonthBytes, MonthlyCap: cfg.MonthlyCapBytes,
		BandwidthCap: cfg.BandwidthBytesPerSec, MaxConcurrency: cfg.MaxConcurrency,
		ErrorReasons: snap.Reasons, Active: snap.Active, Ledger: snap.Ledger, History: snap.History,
		Memory: d.f.MemoryStats(),
	}
	if b := d.bodies.Load(); b != nil {
		bs := b.Stats()
		st.Bodies = &bs
	}
	return st
}

// Handler returns the dashboard: GET / (HTML), GET /api/status (JSON),
// GET /chart.svg, POST /api/pause and POST /api/resume.
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.page)
	mux.HandleFunc("GET /api/status", d.status)
	mux.HandleFunc("GET /chart.svg", d.chart)
	mux.HandleFunc("POST /api/pause", d.control(d.f.Pause))
	mux.HandleFunc("POST /api/resume", d.control(d.f.Resume))
	return loopbackOnly(mux)
}

// loopbackOnly refuses requests whose Host is not a loopback name, which
// defeats DNS-rebinding pages that would otherwise reach the dashboard from
// the owner's browser.
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		ok := strings.EqualFold(host, "localhost")
		if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
			ok = true
		}
		// The peer must be this machine too: a Host header is the
		// client's say-so, the connection's remote address is not.
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err != nil || !ap.Addr().Unmap().IsLoopback() {
			ok = false
		}
		if !ok {
			http.Error(w, "the dashboard answers only on a loopback address", http.StatusForbidden)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'; img-src 'self' data:")
		next.ServeHTTP(w, r)
	})
}

func (d *Dashboard) status(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(d.Status()); err != nil {
		d.log.Debug("writing status", logkey.Err, err)
	}
}

func (d *Dashboard) control(action func()) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(controlHeader) == "" {
			http.Error(w, "missing "+controlHeader+" header", http.StatusForbidden)
			return
		}
		// A page on another site in the owner's browser must not press
		// the buttons: browsers name the requesting origin.
		if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" && sfs != "none" {
			http.Error(w, "cross-site request refused", http.StatusForbidden)
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || !strings.EqualFold(u.Host, r.Host) {
				http.Error(w, "cross-origin request refused", http.StatusForbidden)
				return
			}
		}
		action()
		d.status(w, r)
	}
}

func (d *Dashboard) chart(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(renderChart(d.f.meter.Snapshot(chartMinutes).History))
}

func (d *Dashboard) page(w http.ResponseWriter, _ *http.Request) {
	s := d.Status()
	var buf bytes.Buffer
	err := pageTmpl.Execute(&buf, struct {
		S     Status
		Chart template.HTML
		// renderChart writes only numbers and fixed markup, so it is safe
		// to embed unescaped.
	}{s, template.HTML(renderChart(s.History))})
	if err != nil {
		http.Error(w, "rendering dashboard: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// renderChart draws pages per minute as bars and megabytes per minute as a
// line, as a self-contained SVG.
func renderChart(hist []Point) []byte {
	const W, H, pad = 600.0, 160.0, 20.0
	var maxPages, maxBytes int64 = 1, 1
	for _, p := range hist {
		maxPages = max(maxPages, p.Pages)
		maxBytes = max(maxBytes, p.Bytes)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-label="pages and bytes per minute, last %d minutes">`, W, H+pad, len(hist))
	fmt.Fprintf(&b, `<rect width="%.0f" height="%.0f" fill="#f7f7f4"/>`, W, H+pad)
	n := max(len(hist), 1)
	bw := W / float64(n)
	for i, p := range hist {
		h := float64(p.Pages) / float64(maxPages) * (H - pad)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#3b7d4f"><title>%s: %d pages, %d errors</title></rect>`,
			float64(i)*bw+1, H-h, max(bw-2, 1), h, p.Time.Local().Format("15:04"), p.Pages, p.Errors)
	}
	var pts []string
	for i, p := range hist {
		y := H - float64(p.Bytes)/float64(maxBytes)*(H-pad)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", float64(i)*bw+bw/2, y))
	}
	if len(pts) > 1 {
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#c8602a" stroke-width="2"/>`, strings.Join(pts, " "))
	}
	fmt.Fprintf(&b, `<text x="4" y="14" font-size="11" fill="#333">max %d pages/min (bars) · %s/min (line)</text>`, maxPages, humanBytes(maxBytes))
	fmt.Fprintf(&b, `<text x="4" y="%.0f" font-size="11" fill="#666">-%d min</text><text x="%.0f" y="%.0f" font-size="11" fill="#666" text-anchor="end">now</text>`, H+pad-4, len(hist), W-4, H+pad-4)
	b.WriteString(`</svg>`)
	return b.Bytes()
}

// humanBytes formats n with binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

var pageTmpl = template.Must(template.New("dash").Funcs(template.FuncMap{
	"bytes": humanBytes,
	"pct":   func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
	"capOf": func(used, limit int64) string {
		if limit <= 0 {
			return humanBytes(used) + " (no cap)"
		}
		return fmt.Sprintf("%s of %s (%.0f%%)", humanBytes(used), humanBytes(limit), float64(used)/float64(limit)*100)
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sward node</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:2rem auto;max-width:52rem;color:#222;padding:0 1rem}
h1{font-size:1.4rem;margin:0}.peer{color:#666;font-size:.85rem;word-break:break-all}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr));gap:.8rem;margin:1rem 0}
.card{background:#f7f7f4;border-radius:6px;padding:.6rem .8rem}.card b{display:block;font-size:1.3rem}.card small{color:#666}
.state{display:inline-block;padding:.1rem .5rem;border-radius:4px;background:#3b7d4f;color:#fff}
.state.paused,.state.outside-active-hours,.state.monthly-cap-reached{background:#c8602a}
button{font:inherit;padding:.4rem 1rem;margin-right:.5rem}
table{border-collapse:collapse;width:100%;font-size:.85rem}td{padding:.2rem .4rem;border-top:1px solid #ddd;word-break:break-all}
</style></head><body>
<h1>sward node <span id="state" class="state {{.S.State}}">{{.S.State}}</span></h1>
<div class="peer">peer <span id="peer">{{.S.Peer}}</span></div>
<p><button id="pause" onclick="ctl('pause')">Pause</button><button id="resume" onclick="ctl('resume')">Resume</button></p>
<div class="grid">
<div class="card">pages fetched<b id="pages">{{.S.Pages}}</b></div>
<div class="card">errors<b id="errors">{{.S.Errors}}</b><small id="reasons">{{range $k, $v := .S.ErrorReasons}}{{$k}} {{$v}} {{end}}</small></div>
<div class="card">data this month<b id="month">{{capOf .S.MonthBytes .S.MonthlyCap}}</b></div>
<div class="card">bandwidth cap<b id="bw">{{if .S.BandwidthCap}}{{bytes .S.BandwidthCap}}/s{{else}}none{{end}}</b></div>
<div class="card">verified share<b id="share">{{pct .S.Ledger.VerifiedShare}}</b><small id="verified">{{.S.Ledger.VerifiedPages}} pages, {{bytes .S.Ledger.VerifiedBytes}}</small></div>
<div class="card">reputation<b id="rep">{{printf "%.2f" .S.Ledger.Reputation}}</b></div>
<div class="card">points<b id="points">{{printf "%.1f" .S.Ledger.Points}}</b></div>
<div class="card">large bodies kept<b id="bodies">{{if .S.Bodies}}{{bytes .S.Bodies.Bytes}}{{else}}none{{end}}</b><small id="bodies-n">{{if .S.Bodies}}{{.S.Bodies.Count}} bodies for the coordinator, {{bytes .S.Bodies.Freed}} freed{{end}}</small></div>
<div class="card">memory held<b id="mem">{{bytes .S.Memory.Reserved}} of {{bytes .S.Memory.Budget}}</b><small id="mem-n">peak {{bytes .S.Memory.Peak}}, {{.S.Memory.Waiting}} fetches waiting</small></div>
<div class="card">active hours<b id="hours">{{if .S.ActiveHours}}{{.S.ActiveHours}}{{else}}always{{end}}</b></div>
</div>
<h2>Contribution, last hour</h2>
<div id="chart">{{.Chart}}</div>
<h2>Now fetching</h2>
<table id="active">{{range .S.Active}}<tr><td>{{.Phase}}</td><td>{{.URL}}</td></tr>{{else}}<tr><td>idle</td></tr>{{end}}</table>
<script>
function fmtBytes(n){const u=['B','KiB','MiB','GiB','TiB'];let i=0;while(n>=1024&&i<u.length-1){n/=1024;i++}return (i?n.toFixed(1):n)+' '+u[i]}
function render(s){
 const st=document.getElementById('state');st.textContent=s.state;st.className='state '+s.state;
 document.getElementById('pages').textContent=s.pages;document.getElementById('errors').textContent=s.errors;
 document.getElementById('month').textContent=s.monthly_cap_bytes>0?fmtBytes(s.month_bytes)+' of '+fmtBytes(s.monthly_cap_bytes)+' ('+Math.round(100*s.month_bytes/s.monthly_cap_bytes)+'%)':fmtBytes(s.month_bytes)+' (no cap)';
 document.getElementById('share').textContent=(100*s.ledger.verified_share).toFixed(1)+'%';
 document.getElementById('verified').textContent=s.ledger.verified_pages+' pages, '+fmtBytes(s.ledger.verified_bytes);
 document.getElementById('reasons').textContent=Object.entries(s.error_reasons||{}).sort().map(([k,v])=>k+' '+v).join(' ');
 document.getElementById('rep').textContent=s.ledger.reputation.toFixed(2);
 document.getElementById('points').textContent=s.ledger.points.toFixed(1);
 if(s.bodies){document.getElementById('bodies').textContent=fmtBytes(s.bodies.bytes);document.getElementById('bodies-n').textContent=s.bodies.count+' bodies for the coordinator, '+fmtBytes(s.bodies.freed_bytes)+' freed'}
 if(s.memory){document.getElementById('mem').textContent=fmtBytes(s.memory.reserved_bytes)+' of '+fmtBytes(s.memory.budget_bytes);document.getElementById('mem-n').textContent='peak '+fmtBytes(s.memory.peak_bytes)+', '+s.memory.waiting+' fetches waiting'}
 const t=document.getElementById('active');t.replaceChildren();
 const rows=s.active.length?s.active:[{phase:'idle',url:''}];
 for(const a of rows){const tr=t.insertRow();tr.insertCell().textContent=a.phase;tr.insertCell().textContent=a.url}
}
async function refresh(){
 try{const r=await fetch('/api/status');render(await r.json());
  const c=await fetch('/chart.svg');document.getElementById('chart').innerHTML=await c.text()}catch(e){}
}
async function ctl(a){await fetch('/api/'+a,{method:'POST',headers:{'X-Sward-Dashboard':'1'}});refresh()}
setInterval(refresh,2000);
</script></body></html>`))

// Dashboard timeouts. Every answer is a small page, a JSON status or a
// chart, and nothing streams, so a write timeout is safe too: no client,
// slow or stuck, holds a connection or a goroutine for long.
const (
	dashboardReadHeaderTimeout = 5 * time.Second
	dashboardReadTimeout       = 10 * time.Second
	dashboardWriteTimeout      = 30 * time.Second
	dashboardIdleTimeout       = 2 * time.Minute
)

// server is the http.Server Serve runs.
func (d *Dashboard) server() *http.Server {
	return &http.Server{
		Handler:           d.Handler(),
		ReadHeaderTimeout: dashboardReadHeaderTimeout,
		ReadTimeout:       dashboardReadTimeout,
		WriteTimeout:      dashboardWriteTimeout,
		IdleTimeout:       dashboardIdleTimeout,
	}
}

// Serve runs the dashboard on addr until ctx ends. It refuses addresses that
// are not loopback: the pause button belongs to the machine's owner.
func (d *Dashboard) Serve(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("dashboard address %q: %w", addr, err)
	}
	if ip, err := netip.ParseAddr(host); (err != nil && host != "localhost") || (err == nil && !ip.IsLoopback()) {
		return fmt.Errorf("dashboard address %q is not loopback; use 127.0.0.1:PORT", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("dashboard listen on %s: %w", addr, err)
	}
	d.log.Info("dashboard listening", logkey.URL, "http://"+ln.Addr().String())
	return httpserve.Serve(ctx, d.server(), ln, 2*time.Second, "the dashboard")
}

// GetStatus fetches a dashboard's /api/status (base is e.g.
// "http://127.0.0.1:7777").
func GetStatus(ctx context.Context, base string) (*Status, error) {
	return dashboardCall(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/api/status")
}

// Control pauses or resumes the node behind a dashboard (action is "pause"
// or "resume") and returns its new status.
func Control(ctx context.Context, base, action string) (*Status, error) {
	if action != "pause" && action != "resume" {
		return nil, fmt.Errorf("dashboard control %q: want pause or resume", action)
	}
	return dashboardCall(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/api/"+action)
}

func dashboardCall(ctx context.Context, method, u string) (*Status, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, fmt.Errorf("dashboard request: %w", err)
	}
	req.Header.Set(controlHeader, "1")
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach the node dashboard at %s (is `sward node` running?): %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("read dashboard answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("dashboard %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	var s Status
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("decode dashboard status: %w", err)
	}
	return &s, nil
}

// WriteText prints the status for a terminal.
func (s *Status) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "node      %s\n", s.Peer)
	fmt.Fprintf(&b, "state     %s", s.State)
	if s.ActiveHours != "" {
		fmt.Fprintf(&b, " (active hours %s)", s.ActiveHours)
	}
	fmt.Fprintf(&b, "\nuptime    %s\n", (time.Duration(s.UptimeSeconds) * time.Second).String())
	fmt.Fprintf(&b, "pages     %d fetched, %d errors\n", s.Pages, s.Errors)
	fmt.Fprintf(&b, "data      %s since start; this month (%s) %s", humanBytes(s.Bytes), s.Month, humanBytes(s.MonthBytes))
	if s.MonthlyCap > 0 {
		fmt.Fprintf(&b, " of %s cap (%.0f%%)", humanBytes(s.MonthlyCap), float64(s.MonthBytes)/float64(s.MonthlyCap)*100)
	}
	b.WriteString("\n")
	if s.BandwidthCap > 0 {
		fmt.Fprintf(&b, "bandwidth capped at %s/s\n", humanBytes(s.BandwidthCap))
	}
	fmt.Fprintf(&b, "verified  %d pages, %s (%.1f%% of captures)\n", s.Ledger.VerifiedPages, humanBytes(s.Ledger.VerifiedBytes), s.Ledger.VerifiedShare*100)
	fmt.Fprintf(&b, "standing  reputation %.2f, %.1f points\n", s.Ledger.Reputation, s.Ledger.Points)
	if s.Memory.Budget > 0 {
		fmt.Fprintf(&b, "memory    %s held of %s budget (peak %s, %d fetches waiting)\n", humanBytes(s.Memory.Reserved), humanBytes(s.Memory.Budget), humanBytes(s.Memory.Peak), s.Memory.Waiting)
	}
	if s.Bodies != nil {
		fmt.Fprintf(&b, "bodies    %d large bodies kept for the coordinator, %s (%s freed)\n", s.Bodies.Count, humanBytes(s.Bodies.Bytes), humanBytes(s.Bodies.Freed))
	}
	var lastHour Point
	for _, p := range s.History {
		lastHour.Pages += p.Pages
		lastHour.Bytes += p.Bytes
	}
	fmt.Fprintf(&b, "last hour %d pages, %s\n", lastHour.Pages, humanBytes(lastHour.Bytes))
	if len(s.ErrorReasons) > 0 {
		b.WriteString("errors by reason:")
		for _, k := range slices.Sorted(maps.Keys(s.ErrorReasons)) {
			fmt.Fprintf(&b, " %s=%d", k, s.ErrorReasons[k])
		}
		b.WriteString("\n")
	}
	if len(s.Active) == 0 {
		b.WriteString("now       idle\n")
	}
	for _, a := range s.Active {
		fmt.Fprintf(&b, "now       %-12s %s\n", a.Phase, a.URL)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
