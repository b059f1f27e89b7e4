package site

import (
	"strconv"
	"strings"
	"time"
)

// language holds everything needed to write one language's pages: the
// sentence banks the prose is combined from and the labels of the page
// chrome. Templates use {slot} placeholders (see expand); a slot written with
// a capital first letter ({Thing}) is capitalised. Noun phrases in the
// "things" lists carry their article and are only ever used where the
// grammar wants the nominative, so German, French and Spanish stay correct.
type language struct {
	code      string
	name      string
	months    [12]string
	dateFmt   func(t time.Time, months [12]string) string
	thousands string // digit group separator
	pct       string // format of a percentage, %d is the number
	currency  string // word after an amount of money

	places  []string // fictional town names
	papers  []string // newspaper name formats, {place} is the town
	persons []string // names used in prose, bylines and contact details
	sources []string // "Name, role" appositions; always followed by a comma
	tagline string

	sections []section

	titles    []string // article titles, use {thing} / {Thing} and {place}
	ledes     []string // first sentence, always mentions {thing}
	sentences []string // body sentences; one article uses each at most once
	headings  []string // h2 headings
	listIntro []string
	listItems []string
	table     tableLabels
	comments  []string
	pii       []string // sentences that contain {person}, {email} and {phone}
	dupNote   string   // names the paper an article first appeared in: {paper}
	dupUpdate string   // the changed line in a republished article: {date}
	ads       []string
	events    []string // calendar entries
	short     []string // stub pages
	about     []string
	contact   []string
	privacy   []string
	ui        uiLabels
}

// section is one topic of a newspaper.
type section struct {
	slug   string
	title  string
	things []string
}

// tableLabels names the key-figures table some articles carry.
type tableLabels struct {
	caption string
	year    string
	people  string
	budget  string
}

// uiLabels are the words of the page chrome.
type uiLabels struct {
	home, about, contact, privacy, members, admin string
	ad, related, comments, by, published, latest  string
	sponsored, calendar, prev, next, page         string
	elsewhere, newsroom, rights, pressKit, events string
	pdf, png, json, csv, readMore, notFound       string
	partners, login, drafts, insider              string
}

// langs are the languages of the site, in host order: host i writes in
// langs[i%len(langs)].
var langs = []*language{&english, &german, &french, &spanish}

// fmtInt writes n with the language's digit grouping.
func (l *language) fmtInt(n int) string {
	s := strconv.Itoa(n)
	if n < 10000 && l.code != "en" || n < 1000 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteString(l.thousands)
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// fmtDate writes a date the way the language's newspapers do.
func (l *language) fmtDate(t time.Time) string { return l.dateFmt(t, l.months) }

// dateDayMonthYear writes "4 March 2025" style dates: day, afterDay, month,
// afterMonth, year ("4. März 2025", "4 de marzo de 2025").
func dateDayMonthYear(afterDay, afterMonth string) func(time.Time, [12]string) string {
	return func(t time.Time, m [12]string) string {
		return strconv.Itoa(t.Day()) + afterDay + m[t.Month()-1] + afterMonth + strconv.Itoa(t.Year())
	}
}
