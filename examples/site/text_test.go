package site

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestFormatting(t *testing.T) {
	day := time.Date(2025, time.March, 4, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		l         *language
		n         int
		num, date string
	}{
		{&english, 1234567, "1,234,567", "4 March 2025"},
		{&english, 999, "999", "4 March 2025"},
		{&german, 3500, "3500", "4. März 2025"},
		{&german, 74600, "74.600", "4. März 2025"},
		{&french, 7460000, "7 460 000", "4 mars 2025"},
		{&spanish, 1010000, "1.010.000", "4 de marzo de 2025"},
	}
	for _, tt := range tests {
		if got := tt.l.fmtInt(tt.n); got != tt.num {
			t.Errorf("%s fmtInt(%d) = %q, want %q", tt.l.code, tt.n, got, tt.num)
		}
		if got := tt.l.fmtDate(day); got != tt.date {
			t.Errorf("%s fmtDate = %q, want %q", tt.l.code, got, tt.date)
		}
	}
}

func TestExpandAndSlugify(t *testing.T) {
	fill := func(slot string) string {
		return map[string]string{"thing": "die neue Straßenbahnlinie", "place": "Lindenau"}[slot]
	}
	for tmpl, want := range map[string]string{
		"{Thing}: Neue Zahlen liegen vor": "Die neue Straßenbahnlinie: Neue Zahlen liegen vor",
		"warum {thing} in {place} zählt":  "Warum die neue Straßenbahnlinie in Lindenau zählt",
		"no slots":                        "No slots",
		"unclosed {thing":                 "Unclosed {thing",
		"":                                "",
	} {
		if got := expand(tmpl, fill); got != want {
			t.Errorf("expand(%q) = %q, want %q", tmpl, got, want)
		}
	}
	for in, want := range map[string]string{
		"Die neue Straßenbahnlinie: Neue Zahlen liegen vor":                  "die-neue-strassenbahnlinie-neue-zahlen-liegen-vor",
		"L'Écho de Saint-Aubin":                                              "l-echo-de-saint-aubin",
		"La Voz de Peñaclara":                                                "la-voz-de-penaclara",
		"Why the city's open-source software project matters more than ever": "why-the-city-s-open-source-software-project-matters-more",
	} {
		if got := slugify(in); got != want {
			t.Errorf("slugify(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBanksAreComplete catches a language whose banks are too small for
// writeArticle or whose templates use a slot nobody fills.
func TestBanksAreComplete(t *testing.T) {
	known := map[string]bool{"thing": true, "thing2": true, "place": true, "source": true, "person": true, "num": true,
		"big": true, "money": true, "pct": true, "year": true, "pastyear": true, "month": true, "email": true, "phone": true}
	for _, l := range langs {
		if len(l.sentences) < 20 || len(l.headings) < 3 || len(l.listItems) < 4 || len(l.sections) != len(english.sections) {
			t.Errorf("%s: banks too small", l.code)
		}
		var all []string
		all = append(all, l.sentences...)
		all = append(all, l.ledes...)
		all = append(all, l.titles...)
		all = append(all, l.listItems...)
		all = append(all, l.headings...)
		all = append(all, l.pii...)
		for _, tmpl := range all {
			expand(tmpl, func(slot string) string {
				if !known[slot] {
					t.Errorf("%s: template %q uses unknown slot {%s}", l.code, tmpl, slot)
				}
				return "x"
			})
		}
		for _, s := range l.sections {
			if len(s.things) < 2 || slugify(s.slug) != s.slug {
				t.Errorf("%s: section %q is malformed", l.code, s.slug)
			}
		}
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"{Thing} x", "{", "}{", "{{a}}", "é{place}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tmpl string) {
		out := expand(tmpl, func(slot string) string { return "v" })
		if !strings.Contains(tmpl, "{") && utf8.ValidString(tmpl) && out != capitalize(tmpl) {
			t.Fatalf("expand(%q) = %q without any slot", tmpl, out)
		}
		s := slugify(tmpl)
		if len(s) > 60 || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			t.Fatalf("slugify(%q) = %q", tmpl, s)
		}
	})
}
