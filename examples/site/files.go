package site

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/swardnet/sward/internal/logkey"
)

// Crawl-delay hosts ask for this many seconds between requests.
const crawlDelaySeconds = 1

// robotsTxt writes a host's robots.txt. The navigation of every page links
// into /private/ and /admin/, so a crawler that ignores this file is caught;
// the Allow line inside /private/ checks longest-match precedence.
func (s *Site) robotsTxt(addrs []string, host int) *response {
	hp := s.hosts[host]
	var b strings.Builder
	fmt.Fprintf(&b, "# robots.txt for %s\n\n", hp.paper)
	b.WriteString("User-agent: GPTBot\nDisallow: /\n\n")
	b.WriteString("User-agent: *\n")
	b.WriteString("Allow: " + pathPressKit + "\n")
	b.WriteString("Disallow: /private/\n")
	b.WriteString("Disallow: /admin/\n")
	if hp.small {
		fmt.Fprintf(&b, "Crawl-delay: %d\n", crawlDelaySeconds)
	}
	fmt.Fprintf(&b, "\nSitemap: http://%s%s\n", addrs[host], pathSitemap)
	return plain("text/plain; charset=utf-8", []byte(b.String()))
}

// disallowed applies the "User-agent: *" group of robots.txt to a path with
// longest-match precedence (RFC 9309), as a correct crawler does.
func disallowed(path string) bool {
	if strings.HasPrefix(path, pathPressKit) {
		return false
	}
	return strings.HasPrefix(path, "/private/") || strings.HasPrefix(path, "/admin/")
}

// inSitemap reports whether a page is listed in its host's sitemap: every
// allowed HTML page except the trap, the hidden page and redirects.
func inSitemap(p *page) bool {
	switch p.kind {
	case KindIndex, KindArticle, KindPII, KindDuplicate, KindOptOut, KindJunk, KindStatic:
		return !disallowed(p.path)
	}
	return false
}

// sitemapPaths lists the sitemap of a host in path order.
func (hp *hostPlan) sitemapPaths() []string {
	var paths []string
	for path, p := range hp.pages {
		if inSitemap(p) {
			paths = append(paths, path)
		}
	}
	sort.Strings(paths)
	return paths
}

type urlset struct {
	XMLName xml.Name     `xml:"urlset"`
	NS      string       `xml:"xmlns,attr"`
	URLs    []sitemapURL `xml:"url"`
}

type sitemapURL struct {
	Loc     string `xml:"loc"`
	LastMod string `xml:"lastmod"`
}

func (s *Site) sitemapXML(addrs []string, host int) *response {
	hp := s.hosts[host]
	newest := siteEpoch
	for _, p := range hp.content {
		if p.meta != nil && p.meta.published.After(newest) {
			newest = p.meta.published
		}
	}
	set := urlset{NS: "http://www.sitemaps.org/schemas/sitemap/0.9"}
	for _, path := range hp.sitemapPaths() {
		p := hp.pages[path]
		mod := newest
		if p.meta != nil {
			mod = p.meta.published
		}
		set.URLs = append(set.URLs, sitemapURL{Loc: "http://" + addrs[host] + path, LastMod: mod.Format("2006-01-02")})
	}
	out, err := xml.MarshalIndent(set, "", "  ")
	if err != nil {
		return s.internalError(fmt.Errorf("writing the sitemap of host %d: %w", host, err))
	}
	return plain("application/xml; charset=utf-8", append([]byte(xml.Header), append(out, '\n')...))
}

// resource writes a non-HTML file linked from an article.
func (s *Site) resource(p *page) *response {
	if p.variant == "css" {
		return plain("text/css; charset=utf-8", []byte(siteCSS))
	}
	a := p.owner
	r := newRNG(s.cfg.Seed, p.host, "resource", p.path)
	rows := make([][3]int, 0, 4)
	for i := range 4 {
		rows = append(rows, [3]int{a.meta.published.Year() - 3 + i, r.between(40, 2400), r.between(50, 900) * 1000})
	}
	switch p.variant {
	case "pdf":
		return plain("application/pdf", minimalPDF(a.meta.title, rows))
	case "png":
		var buf bytes.Buffer
		if err := png.Encode(&buf, barChart(rows)); err != nil {
			return s.internalError(fmt.Errorf("encoding the chart %s: %w", p.path, err))
		}
		return plain("image/png", buf.Bytes())
	case "json":
		type figure struct {
			Year         int `json:"year"`
			Participants int `json:"participants"`
			Budget       int `json:"budget"`
		}
		doc := struct {
			Title     string   `json:"title"`
			Published string   `json:"published"`
			Figures   []figure `json:"figures"`
		}{Title: a.meta.title, Published: a.meta.published.Format(time.RFC3339)}
		for _, row := range rows {
			doc.Figures = append(doc.Figures, figure{row[0], row[1], row[2]})
		}
		out, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return s.internalError(fmt.Errorf("encoding %s: %w", p.path, err))
		}
		return plain("application/json", append(out, '\n'))
	default:
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		records := [][]string{{"year", "participants", "budget"}}
		for _, row := range rows {
			records = append(records, []string{strconv.Itoa(row[0]), strconv.Itoa(row[1]), strconv.Itoa(row[2])})
		}
		if err := w.WriteAll(records); err != nil {
			return s.internalError(fmt.Errorf("encoding %s: %w", p.path, err))
		}
		return plain("text/csv; charset=utf-8", buf.Bytes())
	}
}

// minimalPDF writes a one-page PDF with a correct cross-reference table.
func minimalPDF(title string, rows [][3]int) []byte {
	esc := strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`)
	ascii := func(s string) string {
		s = asciiFold.Replace(s)
		return strings.Map(func(r rune) rune {
			if r < 32 || r > 126 {
				return '?'
			}
			return r
		}, s)
	}
	var text strings.Builder
	fmt.Fprintf(&text, "BT /F1 14 Tf 50 780 Td (%s) Tj ET\n", esc.Replace(ascii(title)))
	for i, row := range rows {
		fmt.Fprintf(&text, "BT /F1 11 Tf 50 %d Td (%d: %d participants, budget %d) Tj ET\n", 740-20*i, row[0], row[1], row[2])
	}
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", text.Len(), text.String()),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return b.Bytes()
}

// barChart draws the participants column as a small bar chart.
func barChart(rows [][3]int) image.Image {
	const w, h = 64, 32
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.White, color.RGBA{R: 0x1f, G: 0x5f, B: 0xa8, A: 0xff}})
	peak := 1
	for _, row := range rows {
		peak = max(peak, row[1])
	}
	bw := w / len(rows)
	for i, row := range rows {
		top := h - row[1]*(h-2)/peak
		for x := i*bw + 2; x < (i+1)*bw-2; x++ {
			for y := top; y < h; y++ {
				img.SetColorIndex(x, y, 1)
			}
		}
	}
	return img
}

func plain(contentType string, body []byte) *response {
	h := http.Header{}
	h.Set("Content-Type", contentType)
	return &response{status: http.StatusOK, header: h, body: body}
}

func (s *Site) internalError(err error) *response {
	s.log.Error("example site: rendering failed", logkey.Err, err)
	h := http.Header{}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	return &response{status: http.StatusInternalServerError, header: h, body: []byte("internal error\n")}
}

const siteCSS = `body{font-family:Georgia,serif;margin:0;color:#222}
.site-header{background:#1f5fa8;color:#fff;padding:1em}
.site-header a{color:#fff}
.main-nav ul{list-style:none;display:flex;gap:1em;padding:0}
.layout{display:flex;gap:2em;padding:1em}
main{flex:3}
.sidebar{flex:1;font-size:.9em}
.ad{border:1px solid #ccc;padding:.5em;margin-bottom:1em}
.comments{border-top:1px solid #ccc;margin-top:2em}
.site-footer{background:#eee;padding:1em;font-size:.85em}
`
