package site

import (
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Kinds of URL, as reported by Kind and PageInfo.Kind.
const (
	KindIndex      = "index"      // home page and section listings
	KindArticle    = "article"    // an ordinary news article
	KindPII        = "pii"        // an article whose text carries an e-mail address and a phone number
	KindDuplicate  = "duplicate"  // a near-copy of an article from another host
	KindOptOut     = "optout"     // an article that reserves AI/TDM use (see PageInfo.Variant)
	KindJunk       = "junk"       // lorem ipsum, a link farm or a stub (see PageInfo.Variant)
	KindStatic     = "static"     // about, contact, privacy, press kit
	KindTrap       = "trap"       // the endless events calendar
	KindResource   = "resource"   // a non-HTML file: PDF, PNG, JSON, CSV, CSS
	KindRedirect   = "redirect"   // a 301 hop of the redirect chain
	KindDisallowed = "disallowed" // a page robots.txt forbids
	KindHidden     = "hidden"     // a page linked only from disallowed pages
	KindRobots     = "robots"     // robots.txt
	KindSitemap    = "sitemap"    // sitemap.xml
	KindNotFound   = "notfound"   // a path the site answers with 404
	KindOffsite    = "offsite"    // a URL on no host of the site
)

// Variants of opt-out, junk and resource pages.
const (
	OptOutHeader  = "x-robots-tag"    // X-Robots-Tag: noai, noimageai
	OptOutMeta    = "meta-robots"     // <meta name="robots" content="noai, noimageai">
	OptOutTDMRep  = "tdm-reservation" // tdm-reservation: 1 header
	JunkLorem     = "lorem"
	JunkLinkFarm  = "linkfarm"
	JunkShort     = "short"
	contentPeriod = 20 // the kinds of content slots repeat every 20 slots
	listingSize   = 30 // items on one section listing page
)

var (
	optOutVariants   = []string{OptOutHeader, OptOutMeta, OptOutTDMRep}
	junkVariants     = []string{JunkLorem, JunkLinkFarm, JunkShort}
	resourceVariants = []string{"pdf", "png", "json", "csv"}
	// siteEpoch is the earliest publication date; dates never depend on the clock.
	siteEpoch = time.Date(2025, time.January, 6, 0, 0, 0, 0, time.UTC)
)

// Fixed paths every host serves.
const (
	pathHome       = "/"
	pathRobots     = "/robots.txt"
	pathSitemap    = "/sitemap.xml"
	pathCSS        = "/static/site.css"
	pathAbout      = "/about.html"
	pathContact    = "/contact.html"
	pathPrivacy    = "/privacy.html"
	pathPressKit   = "/private/press-kit.html" // allowed by an Allow rule inside /private/
	pathDrafts     = "/private/drafts.html"
	pathAdmin      = "/admin/login.html"
	pathInsider    = "/members/insider-report.html"
	pathRedirect1  = "/old/special-report"
	pathRedirect2  = "/archive/special-report"
	pathSpecial    = "/archive/2019/special-report.html"
	pathFormerTeam = "/team/former-staff.html" // linked, never served: 404
	calendarStart  = "/calendar/2025/06"
)

// ref names a page by host index and path, independent of the address the
// host happens to listen on.
type ref struct {
	host int
	path string
}

// page is one servable URL of the plan.
type page struct {
	kind     string
	variant  string
	host     int
	path     string
	slot     int // content slot, -1 for other pages
	section  int // section index, -1 for none
	lang     *language
	meta     *articleMeta
	orig     *page    // the original of a duplicate
	location string   // target path of a redirect
	items    []*page  // articles listed on an index page
	pageNum  int      // 1-based number of a section listing page
	lastPage int      // number of listing pages of the section
	files    []*page  // resources an article links to
	owner    *page    // the article a resource belongs to
	year     int      // calendar year of a trap page
	month    int      // calendar month of a trap page
	notFound []string // paths this page links to that answer 404
}

// articleMeta is what the site knows about an article without rendering it.
type articleMeta struct {
	title     string
	thing     string
	thing2    string
	place     string
	author    string
	published time.Time
}

// hostPlan is one newspaper.
type hostPlan struct {
	index   int
	lang    *language
	place   string
	paper   string
	domain  string // e-mail domain
	small   bool   // few pages and Crawl-delay: 1
	content []*page
	listed  [][]*page // per section, newest first: what the listings show
	junk    []*page
	latest  []*page
	special *page
	pages   map[string]*page
}

// isSmall reports whether host i is one of the small Crawl-delay hosts.
func isSmall(i int) bool { return i%10 == 9 }

// plan lays out every finite page of the site.
func plan(cfg Config) ([]*hostPlan, error) {
	hosts := make([]*hostPlan, cfg.Hosts)
	for i := range hosts {
		l := langs[i%len(langs)]
		n := i / len(langs)
		place := l.places[n%len(l.places)]
		paper := expand(l.papers[n%len(l.papers)], func(string) string { return place })
		hp := &hostPlan{
			index:  i,
			lang:   l,
			place:  place,
			paper:  paper,
			domain: slugify(paper) + ".example",
			small:  isSmall(i) && !cfg.NoSmallHosts,
			pages:  make(map[string]*page),
			listed: make([][]*page, len(l.sections)),
		}
		count := cfg.PagesPerHost
		if hp.small {
			count = max(1, cfg.PagesPerHost/5)
		}
		for k := range count {
			hp.content = append(hp.content, planSlot(cfg, hp, k))
		}
		hosts[i] = hp
	}
	for _, hp := range hosts {
		for _, p := range hp.content {
			if p.kind == KindDuplicate {
				resolveDuplicate(cfg, hosts, hp, p)
			}
		}
	}
	for _, hp := range hosts {
		if err := hp.finish(cfg); err != nil {
			return nil, err
		}
	}
	return hosts, nil
}

// slotKind says what content slot k of a host holds. The pattern repeats
// every 20 slots so even a 20-page host has one of everything.
func slotKind(k int) string {
	switch k % contentPeriod {
	case 3, 13:
		return KindPII
	case 5, 15:
		return KindDuplicate
	case 7:
		return KindOptOut
	case 11:
		return KindJunk
	default:
		return KindArticle
	}
}

// slotLang is the language of slot k: the host's, except slot 17 of every 20,
// which is written in one of the other languages.
func slotLang(hp *hostPlan, k int) *language {
	if k%contentPeriod != 17 {
		return hp.lang
	}
	return langs[(hp.index+1+(k/contentPeriod)%(len(langs)-1))%len(langs)]
}

func planSlot(cfg Config, hp *hostPlan, k int) *page {
	p := &page{
		kind:    slotKind(k),
		host:    hp.index,
		slot:    k,
		section: k % len(hp.lang.sections),
		lang:    slotLang(hp, k),
	}
	switch p.kind {
	case KindOptOut:
		p.variant = optOutVariants[(hp.index+k/contentPeriod)%len(optOutVariants)]
	case KindJunk:
		p.variant = junkVariants[(hp.index+k/contentPeriod)%len(junkVariants)]
	}
	if p.kind == KindDuplicate {
		return p // laid out once the original exists
	}
	p.meta = newMeta(cfg, hp, p.lang, p.section, "slot", strconv.Itoa(k))
	sec := hp.lang.sections[p.section].slug
	date := p.meta.published.Format("2006/01")
	switch p.variant {
	case JunkLorem:
		p.path = fmt.Sprintf("/%s/%s/untitled-draft-%d.html", sec, date, k)
	case JunkLinkFarm:
		p.path = fmt.Sprintf("/partners/links-%d.html", k)
	case JunkShort:
		p.path = fmt.Sprintf("/%s/coming-soon-%d.html", sec, k)
	default:
		p.path = articlePath(hp, p)
	}
	return p
}

// articlePath is where an article of slot p.slot lives on host hp:
// /section/yyyy/mm/title-slug-slot.html.
func articlePath(hp *hostPlan, p *page) string {
	return fmt.Sprintf("/%s/%s/%s-%d.html", hp.lang.sections[p.section].slug, p.meta.published.Format("2006/01"), slugify(p.meta.title), p.slot)
}

// newMeta draws an article's title, subject, author and date.
func newMeta(cfg Config, hp *hostPlan, l *language, sec int, labels ...string) *articleMeta {
	r := newRNG(cfg.Seed, hp.index, append([]string{"meta"}, labels...)...)
	things := l.sections[sec].things
	ti := r.intn(len(things))
	m := &articleMeta{
		thing:  things[ti],
		thing2: things[(ti+1+r.intn(len(things)-1))%len(things)],
		place:  hp.place,
		author: r.pick(l.persons),
	}
	if l != hp.lang {
		m.place = l.places[hp.index%len(l.places)]
	}
	m.title = expand(r.pick(l.titles), func(slot string) string {
		if slot == "place" {
			return m.place
		}
		return m.thing
	})
	m.published = siteEpoch.Add(time.Duration(r.intn(540))*24*time.Hour + time.Duration(6+r.intn(14))*time.Hour + time.Duration(r.intn(60))*time.Minute)
	return m
}

// resolveDuplicate makes p a republication of an article of another host.
func resolveDuplicate(cfg Config, hosts []*hostPlan, hp *hostPlan, p *page) {
	src := hosts[hp.index]
	switch {
	case len(hosts) > 4:
		src = hosts[(hp.index+4)%len(hosts)]
	case len(hosts) > 1:
		src = hosts[(hp.index+1)%len(hosts)]
	}
	want := p.slot + 1
	if p.slot%contentPeriod == 15 {
		want = p.slot - 1
	}
	orig := findArticle(src, want)
	if orig == nil || orig == p {
		// No article to copy on a tiny host: this slot becomes an article.
		p.kind = KindArticle
		p.meta = newMeta(cfg, hp, p.lang, p.section, "slot", strconv.Itoa(p.slot))
		p.path = articlePath(hp, p)
		return
	}
	r := newRNG(cfg.Seed, hp.index, "dup", strconv.Itoa(p.slot))
	m := *orig.meta
	m.published = orig.meta.published.Add(time.Duration(1+r.intn(6))*24*time.Hour + time.Duration(r.intn(300))*time.Minute)
	p.meta = &m
	p.orig = orig
	p.lang = orig.lang
	p.path = articlePath(hp, p)
}

// findArticle returns an ordinary article of hp near slot want.
func findArticle(hp *hostPlan, want int) *page {
	n := len(hp.content)
	if n == 0 {
		return nil
	}
	want = min(max(want, 0), n-1)
	for d := 0; d < n; d++ {
		for _, k := range []int{want - d, want + d} {
			if k >= 0 && k < n && hp.content[k].kind == KindArticle {
				return hp.content[k]
			}
		}
	}
	return nil
}

// finish adds the navigation, static, resource and redirect pages of a host
// and indexes every page by path.
func (hp *hostPlan) finish(cfg Config) error {
	add := func(p *page) error {
		p.host = hp.index
		if p.lang == nil {
			p.lang = hp.lang
		}
		if _, dup := hp.pages[p.path]; dup {
			return fmt.Errorf("example site: host %d has two pages at %s", hp.index, p.path)
		}
		hp.pages[p.path] = p
		return nil
	}
	for _, p := range hp.content {
		if p.kind == KindJunk {
			hp.junk = append(hp.junk, p)
		} else {
			hp.listed[p.section] = append(hp.listed[p.section], p)
		}
		if err := add(p); err != nil {
			return err
		}
		if p.kind == KindArticle && p.lang == hp.lang && p.slot%10 == 2 {
			ext := resourceVariants[(p.slot/10+hp.index)%len(resourceVariants)]
			f := &page{kind: KindResource, variant: ext, slot: -1, section: -1, owner: p,
				path: fmt.Sprintf("/files/%s-%d.%s", slugify(p.meta.thing), p.slot, ext)}
			p.files = append(p.files, f)
			if err := add(f); err != nil {
				return err
			}
		}
		if p.kind == KindArticle && p.slot%contentPeriod == 9 {
			p.notFound = append(p.notFound, fmt.Sprintf("/%s/2019/04/deleted-story-%d.html", hp.lang.sections[p.section].slug, p.slot))
		}
	}
	all := make([]*page, 0, len(hp.content))
	for s, list := range hp.listed {
		sortNewest(list)
		all = append(all, list...)
		pages := max(1, (len(list)+listingSize-1)/listingSize)
		for n := 1; n <= pages; n++ {
			lp := &page{kind: KindIndex, slot: -1, section: s, pageNum: n, lastPage: pages,
				path:  sectionPath(hp.lang, s, n),
				items: list[min((n-1)*listingSize, len(list)):min(n*listingSize, len(list))]}
			if err := add(lp); err != nil {
				return err
			}
		}
	}
	sortNewest(all)
	hp.latest = all[:min(12, len(all))]
	hp.special = &page{kind: KindArticle, section: 0, path: pathSpecial,
		meta: newMeta(cfg, hp, hp.lang, 0, "special")}
	hp.special.meta.published = time.Date(2019, time.March, 14, 9, 30, 0, 0, time.UTC)
	fixed := []*page{
		{kind: KindIndex, path: pathHome},
		{kind: KindRobots, path: pathRobots},
		{kind: KindSitemap, path: pathSitemap},
		{kind: KindResource, variant: "css", path: pathCSS},
		{kind: KindStatic, variant: "about", path: pathAbout, notFound: []string{pathFormerTeam}},
		{kind: KindStatic, variant: "contact", path: pathContact},
		{kind: KindStatic, variant: "privacy", path: pathPrivacy},
		{kind: KindStatic, variant: "presskit", path: pathPressKit},
		{kind: KindDisallowed, variant: "drafts", path: pathDrafts},
		{kind: KindDisallowed, variant: "admin", path: pathAdmin},
		{kind: KindHidden, variant: "insider", path: pathInsider},
		{kind: KindRedirect, path: pathRedirect1, location: pathRedirect2},
		{kind: KindRedirect, path: pathRedirect2, location: pathSpecial},
		hp.special,
	}
	for _, p := range fixed {
		p.slot = -1
		if p != hp.special {
			p.section = -1
		}
		if err := add(p); err != nil {
			return err
		}
	}
	return nil
}

func sectionPath(l *language, s, n int) string {
	if n <= 1 {
		return "/" + l.sections[s].slug + "/"
	}
	return fmt.Sprintf("/%s/page/%d/", l.sections[s].slug, n)
}

func sortNewest(ps []*page) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].meta.published, ps[j].meta.published
		if !a.Equal(b) {
			return a.After(b)
		}
		return ps[i].slot < ps[j].slot
	})
}

// calendarPage parses /calendar/YYYY/MM into a trap page; nil if the path is
// not a calendar month. Years 1 to 9999 exist, so the trap never ends in
// practice.
func calendarPage(host int, l *language, path string) *page {
	const prefix = "/calendar/"
	if len(path) != len(prefix)+7 || path[:len(prefix)] != prefix || path[len(prefix)+4] != '/' {
		return nil
	}
	y, err1 := strconv.Atoi(path[len(prefix) : len(prefix)+4])
	m, err2 := strconv.Atoi(path[len(prefix)+5:])
	if err1 != nil || err2 != nil || y < 1 || m < 1 || m > 12 || calendarPath(y, m) != path {
		return nil
	}
	return &page{kind: KindTrap, host: host, path: path, slot: -1, section: -1, lang: l, year: y, month: m}
}

func calendarPath(y, m int) string { return fmt.Sprintf("/calendar/%04d/%02d", y, m) }

// lookup finds the page at path on host h, or nil for a 404.
func (hp *hostPlan) lookup(path string) *page {
	if p, ok := hp.pages[path]; ok {
		return p
	}
	return calendarPage(hp.index, hp.lang, path)
}
