package site

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// response is a rendered URL: what the handler writes, plus the in-site
// links of an HTML page (the edges of the link graph Reachable walks).
type response struct {
	status int
	header http.Header
	body   []byte
	links  []ref
}

// htmlDoc builds an HTML page and records every in-site <a href> it writes,
// so the link graph is by construction the set of links in the HTML.
type htmlDoc struct {
	b     strings.Builder
	s     *Site
	addrs []string
	host  int
	links []ref
}

func (d *htmlDoc) raw(parts ...string) {
	for _, p := range parts {
		d.b.WriteString(p)
	}
}

func (d *htmlDoc) text(s string) { d.b.WriteString(html.EscapeString(s)) }

// url is the absolute URL of an in-site page.
func (d *htmlDoc) url(r ref) string { return "http://" + d.addrs[r.host] + r.path }

// a writes a link to a page of the site (same host: a root-relative path,
// other host: an absolute URL) and records it.
func (d *htmlDoc) a(r ref, text, class string) {
	href := r.path
	if r.host != d.host {
		href = d.url(r)
	}
	d.links = append(d.links, r)
	d.raw(`<a href="`, html.EscapeString(href), `"`)
	if class != "" {
		d.raw(` class="`, class, `"`)
	}
	d.raw(">")
	d.text(text)
	d.raw("</a>")
}

// offsite writes a link that leaves the site; it is not part of the graph.
func (d *htmlDoc) offsite(href, text, rel string) {
	d.raw(`<a href="`, html.EscapeString(href), `" rel="`, rel, `">`)
	d.text(text)
	d.raw("</a>")
}

// offsiteBase is a loopback address no host of the site listens on, so an
// off-scope link a buggy crawler follows still never leaves the machine.
func (d *htmlDoc) offsiteBase(octet int) string {
	port := "80"
	if i := strings.LastIndexByte(d.addrs[0], ':'); i >= 0 {
		port = d.addrs[0][i+1:]
	}
	return "http://127.0.0." + strconv.Itoa(octet) + ":" + port
}

// Off-site loopback hosts: an ad server, a social network, a spam network.
const (
	octetAds    = 2
	octetSocial = 3
	octetSpam   = 4
)

// head is the metadata of a page's <head>.
type head struct {
	title       string
	description string
	author      string
	published   time.Time
	robots      string // content of <meta name="robots">, "" for none
	article     bool   // write OpenGraph article tags and JSON-LD NewsArticle
}

func (s *Site) open(d *htmlDoc, p *page, h head) {
	hp := s.hosts[p.host]
	l := p.lang
	canonical := d.url(ref{p.host, p.path})
	d.raw("<!DOCTYPE html>\n<html lang=\"", l.code, "\">\n<head>\n<meta charset=\"utf-8\">\n")
	d.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>")
	d.text(h.title + " | " + hp.paper)
	d.raw("</title>\n")
	if h.description != "" {
		d.raw(`<meta name="description" content="`, html.EscapeString(h.description), "\">\n")
	}
	if h.author != "" {
		d.raw(`<meta name="author" content="`, html.EscapeString(h.author), "\">\n")
	}
	if h.robots != "" {
		d.raw(`<meta name="robots" content="`, h.robots, "\">\n")
	}
	d.raw(`<link rel="canonical" href="`, html.EscapeString(canonical), "\">\n")
	d.raw(`<link rel="stylesheet" href="`, pathCSS, "\">\n")
	d.raw(`<meta property="og:site_name" content="`, html.EscapeString(hp.paper), "\">\n")
	d.raw(`<meta property="og:title" content="`, html.EscapeString(h.title), "\">\n")
	d.raw(`<meta property="og:url" content="`, html.EscapeString(canonical), "\">\n")
	d.raw(`<meta property="og:locale" content="`, l.code, "\">\n")
	if h.description != "" {
		d.raw(`<meta property="og:description" content="`, html.EscapeString(h.description), "\">\n")
	}
	if h.article {
		d.raw("<meta property=\"og:type\" content=\"article\">\n")
		d.raw(`<meta property="article:published_time" content="`, h.published.Format(time.RFC3339), "\">\n")
		d.raw(`<meta property="article:author" content="`, html.EscapeString(h.author), "\">\n")
		ld := newsArticle{
			Context: "https://schema.org", Type: "NewsArticle", Headline: h.title,
			Description:   h.description,
			Author:        thing{Type: "Person", Name: h.author},
			DatePublished: h.published.Format(time.RFC3339),
			DateModified:  h.published.Add(3 * time.Hour).Format(time.RFC3339),
			InLanguage:    l.code,
			Publisher:     thing{Type: "Organization", Name: hp.paper},
			Page:          canonical,
		}
		js, err := json.Marshal(ld)
		if err == nil { // a struct of strings always marshals
			d.raw("<script type=\"application/ld+json\">", string(js), "</script>\n")
		}
	} else {
		d.raw("<meta property=\"og:type\" content=\"website\">\n")
	}
	d.raw("</head>\n<body>\n<header class=\"site-header\">\n<p class=\"logo\">")
	d.a(ref{p.host, pathHome}, hp.paper, "brand")
	d.raw("</p>\n<p class=\"tagline\">")
	d.text(hp.lang.tagline)
	d.raw("</p>\n<nav class=\"main-nav\"><ul>\n<li>")
	ui := hp.lang.ui
	d.a(ref{p.host, pathHome}, ui.home, "")
	d.raw("</li>\n")
	for i, sec := range hp.lang.sections {
		d.raw("<li>")
		d.a(ref{p.host, sectionPath(hp.lang, i, 1)}, sec.title, "")
		d.raw("</li>\n")
	}
	d.raw("<li>")
	d.a(ref{p.host, pathDrafts}, ui.members, "members")
	d.raw("</li>\n<li>")
	d.a(ref{p.host, pathAdmin}, ui.admin, "admin")
	d.raw("</li>\n</ul></nav>\n</header>\n<div class=\"layout\">\n<main>\n")
}

// close writes the sidebar and footer. The footer carries the newsroom's
// e-mail address and phone number on every page.
func (s *Site) close(d *htmlDoc, p *page) {
	hp := s.hosts[p.host]
	ui := hp.lang.ui
	r := newRNG(s.cfg.Seed, p.host, "ads", p.path)
	d.raw("</main>\n<aside class=\"sidebar\">\n")
	for i := range 2 {
		ad := r.intn(len(hp.lang.ads))
		d.raw("<div class=\"ad\"><p class=\"ad-label\">")
		d.text(ui.ad)
		d.raw("</p>")
		d.offsite(fmt.Sprintf("%s/click?campaign=%d&slot=%d", d.offsiteBase(octetAds), 1000+ad, i), hp.lang.ads[ad], "sponsored nofollow")
		d.raw("</div>\n")
	}
	d.raw("</aside>\n</div>\n<footer class=\"site-footer\">\n<p class=\"newsroom\">")
	d.text(ui.newsroom + ": newsroom@" + hp.domain + " · " + phoneOf(newRNG(s.cfg.Seed, p.host, "newsroom-phone"), hp.lang))
	d.raw("</p>\n<ul class=\"footer-links\"><li>")
	d.a(ref{p.host, pathAbout}, ui.about, "")
	d.raw("</li><li>")
	d.a(ref{p.host, pathContact}, ui.contact, "")
	d.raw("</li><li>")
	d.a(ref{p.host, pathPrivacy}, ui.privacy, "")
	d.raw("</li></ul>\n<p class=\"copyright\">© ")
	d.text(strconv.Itoa(siteEpoch.Year()) + " " + hp.paper + ". " + ui.rights)
	d.raw("</p>\n</footer>\n</body>\n</html>\n")
}

type thing struct {
	Type string `json:"@type"`
	Name string `json:"name"`
}

type newsArticle struct {
	Context       string `json:"@context"`
	Type          string `json:"@type"`
	Headline      string `json:"headline"`
	Description   string `json:"description,omitempty"`
	Author        thing  `json:"author"`
	DatePublished string `json:"datePublished"`
	DateModified  string `json:"dateModified"`
	InLanguage    string `json:"inLanguage"`
	Publisher     thing  `json:"publisher"`
	Page          string `json:"mainEntityOfPage"`
}

func htmlResponse(d *htmlDoc, status int) *response {
	h := http.Header{}
	h.Set("Content-Type", "text/html; charset=utf-8")
	return &response{status: status, header: h, body: []byte(d.b.String()), links: d.links}
}

func (s *Site) newDoc(addrs []string, host int) *htmlDoc {
	d := &htmlDoc{s: s, addrs: addrs, host: host}
	d.b.Grow(16 << 10) // a typical article page; saves a few reallocations
	return d
}

// renderArticle writes articles, PII articles, duplicates, opt-out pages and
// the archived article at the end of the redirect chain.
func (s *Site) renderArticle(addrs []string, p *page) *response {
	hp := s.hosts[p.host]
	src, srcHost := p, hp
	if p.orig != nil {
		src, srcHost = p.orig, s.hosts[p.orig.host]
	}
	body := writeArticle(s.cfg.Seed, srcHost, src, p.kind == KindPII)
	if p.orig != nil {
		republish(s.cfg.Seed, body, p, srcHost)
	}
	l := p.lang
	h := head{title: p.meta.title, description: body.lede[0], author: p.meta.author, published: p.meta.published, article: true}
	if p.variant == OptOutMeta {
		h.robots = "noai, noimageai"
	}
	d := s.newDoc(addrs, p.host)
	s.open(d, p, h)
	ui := l.ui
	d.raw("<article class=\"story\">\n<h1>")
	d.text(p.meta.title)
	d.raw("</h1>\n<p class=\"byline\">")
	d.text(ui.by + " ")
	d.raw("<span class=\"author\">")
	d.text(p.meta.author)
	d.raw("</span> · ")
	d.text(ui.published + " ")
	d.raw(`<time datetime="`, p.meta.published.Format(time.RFC3339), `">`)
	d.text(l.fmtDate(p.meta.published))
	d.raw("</time></p>\n")
	if body.update != "" {
		d.raw("<p class=\"update\"><em>")
		d.text(body.update)
		d.raw("</em></p>\n")
	}
	d.raw("<p class=\"lede\">")
	d.text(strings.Join(body.lede, " "))
	d.raw("</p>\n")
	for i, blk := range body.blocks {
		d.raw("<h2>")
		d.text(blk.heading)
		d.raw("</h2>\n")
		for _, para := range blk.paras {
			d.raw("<p>")
			d.text(strings.Join(para, " "))
			d.raw("</p>\n")
		}
		if i == 0 {
			d.raw("<p class=\"list-intro\">")
			d.text(body.listIntro)
			d.raw("</p>\n<ul>\n")
			for _, it := range body.list {
				d.raw("<li>")
				d.text(it)
				d.raw("</li>\n")
			}
			d.raw("</ul>\n")
		}
		if i == 1 && body.table != nil {
			d.raw("<table class=\"figures\">\n<caption>")
			d.text(l.table.caption)
			d.raw("</caption>\n<thead><tr><th>")
			d.text(l.table.year)
			d.raw("</th><th>")
			d.text(l.table.people)
			d.raw("</th><th>")
			d.text(l.table.budget)
			d.raw("</th></tr></thead>\n<tbody>\n")
			for _, row := range body.table {
				d.raw("<tr><td>", row[0], "</td><td>", row[1], "</td><td>", row[2], "</td></tr>\n")
			}
			d.raw("</tbody>\n</table>\n")
		}
	}
	for _, f := range p.files {
		label := map[string]string{"pdf": ui.pdf, "png": ui.png, "json": ui.json, "csv": ui.csv}[f.variant]
		if f.variant == "png" {
			d.raw(`<figure><img src="`, f.path, `" alt="`, html.EscapeString(label), `" width="64" height="32"></figure>`, "\n")
		}
		d.raw("<p class=\"download\">")
		d.a(ref{p.host, f.path}, label, "download")
		d.raw("</p>\n")
	}
	if body.note != "" {
		d.raw("<p class=\"syndication\"><em>")
		d.text(body.note)
		d.raw("</em> ")
		d.a(ref{p.orig.host, p.orig.path}, s.hosts[p.orig.host].paper, "original")
		d.raw("</p>\n")
	}
	d.raw("</article>\n")
	s.writeRelated(d, p)
	s.writeComments(d, p)
	d.raw("<p class=\"share\">")
	u := d.url(ref{p.host, p.path})
	d.offsite(d.offsiteBase(octetSocial)+"/share?u="+u, "Share", "nofollow noopener")
	d.raw("</p>\n")
	s.close(d, p)
	resp := htmlResponse(d, http.StatusOK)
	resp.header.Set("Last-Modified", p.meta.published.Format(http.TimeFormat))
	switch p.variant {
	case OptOutHeader:
		resp.header.Set("X-Robots-Tag", "noai, noimageai")
	case OptOutTDMRep:
		resp.header.Set("Tdm-Reservation", "1")
		resp.header.Set("Tdm-Policy", d.url(ref{p.host, pathPrivacy}))
	}
	return resp
}

// writeRelated links three other articles of the same section, a link into
// another host of the network, and the 404 link of some articles.
func (s *Site) writeRelated(d *htmlDoc, p *page) {
	hp := s.hosts[p.host]
	ui := p.lang.ui
	d.raw("<section class=\"related\">\n<h2>")
	d.text(ui.related)
	d.raw("</h2>\n<ul>\n")
	if p.section >= 0 && p.section < len(hp.listed) {
		list := hp.listed[p.section]
		at := 0
		for i, q := range list {
			if q == p {
				at = i
			}
		}
		shown := 0
		for i := 1; i < len(list) && shown < 3; i++ {
			q := list[(at+i)%len(list)]
			if q == p {
				continue
			}
			d.raw("<li>")
			d.a(ref{p.host, q.path}, q.meta.title, "")
			d.raw("</li>\n")
			shown++
		}
	}
	for _, nf := range p.notFound {
		d.raw("<li>")
		d.a(ref{p.host, nf}, ui.readMore, "")
		d.raw("</li>\n")
	}
	d.raw("</ul>\n")
	if len(s.hosts) > 1 && p.slot >= 0 {
		other := s.hosts[(p.host+1)%len(s.hosts)]
		if len(other.latest) > 0 {
			q := other.latest[p.slot%len(other.latest)]
			d.raw("<p class=\"network\">")
			d.text(ui.elsewhere + ": ")
			d.a(ref{other.index, q.path}, q.meta.title, "")
			d.raw("</p>\n")
		}
	}
	d.raw("</section>\n")
}

func (s *Site) writeComments(d *htmlDoc, p *page) {
	cs := writeComments(s.cfg.Seed, p)
	d.raw("<section class=\"comments\" id=\"comments\">\n<h2>")
	d.text(fmt.Sprintf("%s (%d)", p.lang.ui.comments, len(cs)))
	d.raw("</h2>\n")
	for _, c := range cs {
		d.raw("<div class=\"comment\"><p class=\"comment-meta\"><b>")
		d.text(c.handle)
		d.raw(`</b> <time datetime="`, c.at.Format(time.RFC3339), `">`)
		d.text(p.lang.fmtDate(c.at))
		d.raw("</time></p><p>")
		d.text(c.text)
		d.raw("</p></div>\n")
	}
	d.raw("</section>\n")
}

// renderHome writes a host's front page: the latest articles, sponsored junk
// links, the calendar (the trap's only entrance) and the archive link that
// starts the redirect chain.
func (s *Site) renderHome(addrs []string, p *page) *response {
	hp := s.hosts[p.host]
	ui := hp.lang.ui
	d := s.newDoc(addrs, p.host)
	s.open(d, p, head{title: ui.home, description: hp.lang.tagline})
	d.raw("<h1>")
	d.text(hp.paper)
	d.raw("</h1>\n<section class=\"latest\">\n<h2>")
	d.text(ui.latest)
	d.raw("</h2>\n<ul>\n")
	for _, q := range hp.latest {
		d.raw("<li>")
		d.a(ref{p.host, q.path}, q.meta.title, "")
		d.raw(" <time>")
		d.text(q.lang.fmtDate(q.meta.published))
		d.raw("</time></li>\n")
	}
	d.raw("</ul>\n</section>\n<section class=\"archive\"><p>")
	d.a(ref{p.host, pathRedirect1}, hp.special.meta.title, "")
	d.raw("</p></section>\n<section class=\"calendar-teaser\"><p>")
	d.a(ref{p.host, calendarStart}, ui.calendar, "")
	d.raw("</p></section>\n")
	if len(hp.junk) > 0 {
		d.raw("<section class=\"sponsored\">\n<h2>")
		d.text(ui.sponsored)
		d.raw("</h2>\n<ul>\n")
		for _, q := range hp.junk {
			d.raw("<li>")
			d.a(ref{p.host, q.path}, junkTitle(q), "")
			d.raw("</li>\n")
		}
		d.raw("</ul>\n</section>\n")
	}
	s.close(d, p)
	return htmlResponse(d, http.StatusOK)
}

// renderSection writes one page of a section listing.
func (s *Site) renderSection(addrs []string, p *page) *response {
	hp := s.hosts[p.host]
	l := hp.lang
	sec := l.sections[p.section]
	title := sec.title
	if p.pageNum > 1 {
		title = fmt.Sprintf("%s (%s %d)", sec.title, l.ui.page, p.pageNum)
	}
	d := s.newDoc(addrs, p.host)
	s.open(d, p, head{title: title})
	d.raw("<h1>")
	d.text(title)
	d.raw("</h1>\n<ul class=\"teasers\">\n")
	for _, q := range p.items {
		d.raw("<li>")
		d.a(ref{p.host, q.path}, q.meta.title, "")
		d.raw(" <time>")
		d.text(q.lang.fmtDate(q.meta.published))
		d.raw("</time></li>\n")
	}
	d.raw("</ul>\n<nav class=\"pagination\">")
	if p.pageNum > 1 {
		d.a(ref{p.host, sectionPath(l, p.section, p.pageNum-1)}, "«", "prev")
	}
	if p.pageNum < p.lastPage {
		d.a(ref{p.host, sectionPath(l, p.section, p.pageNum+1)}, "»", "next")
	}
	d.raw("</nav>\n")
	s.close(d, p)
	return htmlResponse(d, http.StatusOK)
}

func junkTitle(p *page) string {
	switch p.variant {
	case JunkLorem:
		return "Lorem ipsum dolor sit amet"
	case JunkLinkFarm:
		return p.lang.ui.partners
	default:
		return strings.TrimSuffix(p.lang.short[0], ".")
	}
}

// renderJunk writes the pages a quality filter must reject.
func (s *Site) renderJunk(addrs []string, p *page) *response {
	hp := s.hosts[p.host]
	d := s.newDoc(addrs, p.host)
	title := junkTitle(p)
	r := newRNG(s.cfg.Seed, p.host, "junk", p.path)
	switch p.variant {
	case JunkLorem:
		s.open(d, p, head{title: title})
		d.raw("<article>\n<h1>")
		d.text(title)
		d.raw("</h1>\n")
		for range 5 {
			d.raw("<p>")
			order := r.perm(len(loremParagraphs))
			for i, o := range order[:4] {
				if i > 0 {
					d.raw(" ")
				}
				d.text(loremParagraphs[o])
			}
			d.raw("</p>\n")
		}
		d.raw("</article>\n")
		s.close(d, p)
	case JunkLinkFarm:
		// Hundreds of links and no prose, without the usual chrome.
		d.raw("<!DOCTYPE html>\n<html lang=\"", hp.lang.code, "\">\n<head>\n<meta charset=\"utf-8\">\n<title>")
		d.text(title)
		d.raw("</title>\n</head>\n<body>\n<h1>")
		d.text(title)
		d.raw("</h1>\n<ul>\n")
		words := []string{"cheap", "best", "deals", "casino", "loans", "pills", "free", "bonus", "win", "top", "offer", "crypto"}
		for i := range 220 {
			d.raw("<li>")
			d.offsite(fmt.Sprintf("%s/%s-%s-%d", d.offsiteBase(octetSpam), r.pick(words), r.pick(words), i), r.pick(words)+" "+r.pick(words)+" "+strconv.Itoa(i), "nofollow")
			d.raw("</li>\n")
		}
		for _, q := range hp.content {
			if q.kind == KindJunk || q.meta == nil {
				continue
			}
			d.raw("<li>")
			d.a(ref{p.host, q.path}, "link "+strconv.Itoa(q.slot), "")
			d.raw("</li>\n")
		}
		d.raw("</ul>\n</body>\n</html>\n")
	default:
		d.raw("<!DOCTYPE html>\n<html lang=\"", hp.lang.code, "\">\n<head>\n<meta charset=\"utf-8\">\n<title>")
		d.text(title)
		d.raw("</title>\n</head>\n<body>\n<p>")
		d.text(r.pick(hp.lang.short))
		d.raw("</p>\n</body>\n</html>\n")
	}
	return htmlResponse(d, http.StatusOK)
}

// renderStatic writes about, contact, privacy and the press kit.
func (s *Site) renderStatic(addrs []string, p *page) *response {
	hp := s.hosts[p.host]
	l := hp.lang
	ui := l.ui
	d := s.newDoc(addrs, p.host)
	var title string
	var sentences []string
	switch p.variant {
	case "about":
		title, sentences = ui.about, l.about
	case "contact":
		title, sentences = ui.contact, l.contact
	case "privacy":
		title, sentences = ui.privacy, l.privacy
	default:
		title, sentences = ui.pressKit, l.about[:2]
	}
	r := newRNG(s.cfg.Seed, p.host, "static", p.path)
	fill := func(slot string) string {
		switch slot {
		case "paper":
			return hp.paper
		case "place":
			return hp.place
		case "email":
			return "newsroom@" + hp.domain
		case "email2":
			return "letters@" + hp.domain
		case "phone":
			return phoneOf(r, l)
		}
		return slot
	}
	s.open(d, p, head{title: title, description: expand(sentences[0], fill)})
	d.raw("<article class=\"page\">\n<h1>")
	d.text(title)
	d.raw("</h1>\n")
	for _, t := range sentences {
		d.raw("<p>")
		d.text(expand(t, fill))
		d.raw("</p>\n")
	}
	switch p.variant {
	case "about":
		d.raw("<p>")
		d.a(ref{p.host, pathPressKit}, ui.pressKit, "")
		d.raw(" · ")
		d.a(ref{p.host, pathFormerTeam}, ui.readMore, "")
		d.raw("</p>\n")
	case "presskit":
		d.raw("<p>")
		d.a(ref{p.host, pathAbout}, ui.about, "")
		d.raw("</p>\n")
	}
	d.raw("</article>\n")
	s.close(d, p)
	return htmlResponse(d, http.StatusOK)
}

// renderPrivate writes the pages robots.txt disallows. The drafts page links
// to a page that nothing else links to: only a crawler that ignores
// robots.txt ever finds it.
func (s *Site) renderPrivate(addrs []string, p *page) *response {
	hp := s.hosts[p.host]
	ui := hp.lang.ui
	d := s.newDoc(addrs, p.host)
	switch p.kind {
	case KindHidden:
		m := newMeta(s.cfg, hp, hp.lang, 0, "insider")
		s.open(d, p, head{title: ui.insider})
		d.raw("<article>\n<h1>")
		d.text(ui.insider)
		d.raw("</h1>\n")
		pr := &prose{r: newRNG(s.cfg.Seed, p.host, "insider"), l: hp.lang, meta: m}
		for i := range 4 {
			d.raw("<p>")
			d.text(pr.sentence(hp.lang.sentences[i]))
			d.raw("</p>\n")
		}
		d.raw("</article>\n")
	case KindDisallowed:
		if p.variant == "admin" {
			s.open(d, p, head{title: ui.admin, robots: "noindex, nofollow"})
			d.raw("<h1>")
			d.text(ui.admin)
			d.raw("</h1>\n<form method=\"post\" action=\"/admin/login.html\"><input name=\"user\"><input name=\"password\" type=\"password\"><button>")
			d.text(ui.login)
			d.raw("</button></form>\n")
		} else {
			s.open(d, p, head{title: ui.drafts, robots: "noindex"})
			d.raw("<h1>")
			d.text(ui.drafts)
			d.raw("</h1>\n<ul>\n<li>")
			d.a(ref{p.host, pathInsider}, ui.insider, "")
			d.raw("</li>\n</ul>\n")
		}
	}
	s.close(d, p)
	return htmlResponse(d, http.StatusOK)
}

// renderCalendar writes one month of the endless events calendar. Every
// month links to the month before and after it, for ever: a crawler trap.
func (s *Site) renderCalendar(addrs []string, p *page) *response {
	hp := s.hosts[p.host]
	l := hp.lang
	ui := l.ui
	d := s.newDoc(addrs, p.host)
	title := fmt.Sprintf("%s %s %d", ui.events, l.months[p.month-1], p.year)
	s.open(d, p, head{title: title})
	d.raw("<h1>")
	d.text(title)
	d.raw("</h1>\n<ul class=\"events\">\n")
	r := newRNG(s.cfg.Seed, p.host, "calendar", p.path)
	day := 0
	for range 3 {
		day += 1 + r.intn(9)
		d.raw("<li>")
		d.text(fmt.Sprintf("%02d.%02d. %s", day, p.month, r.pick(l.events)))
		d.raw("</li>\n")
	}
	d.raw("</ul>\n<nav class=\"months\">")
	py, pm := p.year, p.month-1
	if pm == 0 {
		py, pm = py-1, 12
	}
	ny, nm := p.year, p.month+1
	if nm == 13 {
		ny, nm = ny+1, 1
	}
	if py >= 1 {
		d.a(ref{p.host, calendarPath(py, pm)}, ui.prev, "prev")
		d.raw(" ")
	}
	if ny <= 9999 {
		d.a(ref{p.host, calendarPath(ny, nm)}, ui.next, "next")
	}
	d.raw("</nav>\n")
	s.close(d, p)
	return htmlResponse(d, http.StatusOK)
}

// renderNotFound writes the 404 page.
func (s *Site) renderNotFound(addrs []string, host int) *response {
	hp := s.hosts[host]
	d := s.newDoc(addrs, host)
	d.raw("<!DOCTYPE html>\n<html lang=\"", hp.lang.code, "\">\n<head>\n<meta charset=\"utf-8\">\n<title>")
	d.text(hp.lang.ui.notFound)
	d.raw("</title>\n</head>\n<body>\n<h1>")
	d.text(hp.lang.ui.notFound)
	d.raw("</h1>\n<p>")
	d.a(ref{host, pathHome}, hp.lang.ui.home, "")
	d.raw("</p>\n</body>\n</html>\n")
	return htmlResponse(d, http.StatusNotFound)
}
