package site

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// articleBody is the text of one article, before it is dressed in HTML.
type articleBody struct {
	update    string   // the changed first line of a republished article
	lede      []string // sentences of the first paragraph
	blocks    []bodyBlock
	listIntro string
	list      []string
	table     [][3]string // rows of year, participants, budget; nil for none
	note      string      // where a republished article first appeared
	spare     []string    // list item templates the article did not use
}

// bodyBlock is a headed part of an article.
type bodyBlock struct {
	heading string
	paras   [][]string
}

// comment is one reader comment under an article.
type comment struct {
	handle string
	at     time.Time
	text   string
}

// commenters are reader handles; they are the same in every language.
var commenters = []string{"riverfan42", "mkeller", "anna_b", "oldtowner", "j.schmidt", "lucia.v", "nightowl", "camille78", "peterpan", "greenthumb", "bikecommuter", "el_vecino"}

// prose fills the slots of a template with plausible values drawn from r.
type prose struct {
	r    *rng
	l    *language
	meta *articleMeta
	// pii values, set only for articles that carry contact details
	person, email, phone string
}

func (p *prose) fill(slot string) string {
	switch slot {
	case "thing":
		return p.meta.thing
	case "thing2":
		return p.meta.thing2
	case "place":
		return p.meta.place
	case "source":
		return p.r.pick(p.l.sources)
	case "person":
		if p.person != "" {
			return p.person
		}
		return p.r.pick(p.l.persons)
	case "num":
		return strconv.Itoa(p.r.between(3, 40))
	case "big":
		return p.l.fmtInt(p.r.between(12, 980) * 100)
	case "money":
		return p.l.fmtInt(p.r.between(12, 980) * 10000)
	case "pct":
		return fmt.Sprintf(p.l.pct, p.r.between(8, 74))
	case "year":
		return strconv.Itoa(2026 + p.r.intn(3))
	case "pastyear":
		return strconv.Itoa(2015 + p.r.intn(8))
	case "month":
		return p.l.months[p.r.intn(12)]
	case "email":
		return p.email
	case "phone":
		return p.phone
	}
	return slot
}

func (p *prose) sentence(tmpl string) string { return expand(tmpl, p.fill) }

// emailOf makes an address like anna.weber@tageblatt-lindenau.example.
func emailOf(person, domain string) string {
	local := strings.ReplaceAll(strings.ToLower(asciiFold.Replace(person)), " ", ".")
	return local + "@" + domain
}

// phoneOf writes a phone number in the national style of the language.
func phoneOf(r *rng, l *language) string {
	switch l.code {
	case "de":
		return fmt.Sprintf("+49 30 %04d %04d", r.intn(10000), r.intn(10000))
	case "fr":
		return fmt.Sprintf("+33 1 %02d %02d %02d %02d", r.intn(100), r.intn(100), r.intn(100), r.intn(100))
	case "es":
		return fmt.Sprintf("+34 91 %03d %02d %02d", r.intn(1000), r.intn(100), r.intn(100))
	default:
		return fmt.Sprintf("+1 (555) %03d-%04d", r.between(100, 999), r.intn(10000))
	}
}

// writeArticle composes the text of an article from the sentence banks.
// The stream depends only on the seed and the page the article was first
// published on, so a republished copy starts from identical text.
func writeArticle(seed int64, hp *hostPlan, p *page, withPII bool) *articleBody {
	r := newRNG(seed, hp.index, "body", p.path)
	pr := &prose{r: r, l: p.lang, meta: p.meta}
	l := p.lang
	b := &articleBody{}
	order := r.perm(len(l.sentences))
	next := 0
	take := func() string {
		s := pr.sentence(l.sentences[order[next%len(order)]])
		next++
		return s
	}
	b.lede = []string{pr.sentence(r.pick(l.ledes)), take()}
	heads := r.perm(len(l.headings))
	for i := range 3 {
		blk := bodyBlock{heading: pr.sentence(l.headings[heads[i]])}
		for range 2 {
			blk.paras = append(blk.paras, []string{take(), take(), take()})
		}
		b.blocks = append(b.blocks, blk)
	}
	if withPII {
		pr.person = r.pick(l.persons)
		pr.email = emailOf(pr.person, hp.domain)
		pr.phone = phoneOf(r, l)
		last := &b.blocks[1]
		last.paras = append(last.paras, []string{pr.sentence(r.pick(l.pii))})
		pr.person = ""
	}
	b.listIntro = r.pick(l.listIntro)
	items := r.perm(len(l.listItems))
	for i, item := range items {
		if i < 4 {
			b.list = append(b.list, pr.sentence(l.listItems[item]))
		} else {
			b.spare = append(b.spare, l.listItems[item])
		}
	}
	if r.intn(3) == 0 {
		y := p.meta.published.Year()
		for i := 2; i >= 0; i-- {
			b.table = append(b.table, [3]string{strconv.Itoa(y - i), l.fmtInt(r.between(40, 2400)), l.fmtInt(r.between(50, 900) * 1000)})
		}
	}
	return b
}

// republish changes a line or two of the original's text, the way syndicated
// copies differ: an update line on top, one point of the list replaced, a
// note at the end naming the first publisher.
func republish(seed int64, b *articleBody, dup *page, orig *hostPlan) {
	r := newRNG(seed, dup.host, "republish", dup.path)
	l := dup.lang
	pr := &prose{r: r, l: l, meta: dup.meta}
	b.update = expand(l.dupUpdate, func(string) string { return l.fmtDate(dup.meta.published) })
	if len(b.spare) > 0 {
		b.list[r.intn(len(b.list))] = pr.sentence(r.pick(b.spare))
	}
	b.note = expand(l.dupNote, func(string) string { return orig.paper })
}

// writeComments draws the reader comments of a page; copies of an article get
// their own.
func writeComments(seed int64, p *page) []comment {
	r := newRNG(seed, p.host, "comments", p.path)
	n := r.between(2, 5)
	texts := r.perm(len(p.lang.comments))
	at := p.meta.published
	out := make([]comment, 0, n)
	for i := range n {
		at = at.Add(time.Duration(20+r.intn(600)) * time.Minute)
		out = append(out, comment{handle: r.pick(commenters), at: at, text: p.lang.comments[texts[i%len(texts)]]})
	}
	return out
}

// loremParagraphs is the placeholder text of junk pages.
var loremParagraphs = []string{
	"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.",
	"Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.",
	"Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur.",
	"Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.",
	"Sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque laudantium, totam rem aperiam.",
	"Nemo enim ipsam voluptatem quia voluptas sit aspernatur aut odit aut fugit, sed quia consequuntur magni dolores eos.",
}
