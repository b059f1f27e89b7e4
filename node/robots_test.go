package node

import (
	"strings"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

func TestRobotsAllowed(t *testing.T) {
	const file = `
# comment
User-agent: otherbot
Disallow: /

User-Agent: SwardBot/2.0
Disallow: /private/
Allow: /private/public
Disallow: /*.pdf$
Disallow: /tie
Allow: /tie
Disallow: /a*b
Allow: /axxb
Disallow: /~joe/

user-agent: swardbot
disallow: /merged

User-agent: *
Disallow: /everyone
`
	r := ParseRobots([]byte(file))
	tests := []struct {
		path string
		want bool
		rule string
	}{
		{"/", true, ""},
		{"/private/x", false, "disallow: /private/"},
		{"/private/public/page", true, "allow: /private/public"},
		{"/doc.pdf", false, "disallow: /*.pdf$"},
		{"/doc.pdf?x=1", true, ""},
		{"/tie", true, "allow: /tie"},                // equal length: allow wins (RFC 9309 2.2.2)
		{"/axxb", true, "allow: /axxb"},              // longest octets: /axxb (5) beats /a*b (4)
		{"/ayyb", false, "disallow: /a*b"},           // wildcard
		{"/%7Ejoe/x", false, "disallow: /~joe/"},     // unreserved escapes decode
		{"/merged/page", false, "disallow: /merged"}, // groups for one agent merge
		{"/everyone", true, ""},                      // the * group does not apply to us
		{"/robots.txt", true, ""},
	}
	for _, tc := range tests {
		got, rule := r.Allowed(RobotsToken, tc.path)
		if got != tc.want || rule != tc.rule {
			t.Errorf("Allowed(%q) = %v %q, want %v %q", tc.path, got, rule, tc.want, tc.rule)
		}
	}
	// Another crawler falls to the * group.
	if ok, _ := r.Allowed("somebot", "/everyone"); ok {
		t.Error("somebot should be disallowed /everyone by the * group")
	}
	if ok, _ := r.Allowed("otherbot", "/x"); ok {
		t.Error("otherbot should be disallowed everywhere")
	}
}

func TestRobotsMatch(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"/", "/anything", true},
		{"/fish", "/fish.html", true},
		{"/fish", "/Fish", false},
		{"/fish$", "/fish", true},
		{"/fish$", "/fishy", false},
		{"/*.php", "/a/b.php?x", true},
		{"/*.php$", "/a/b.php?x", false},
		{"/a*b*c", "/axxbyyc", true},
		{"/a*b*c", "/axxbyy", false},
		{"*", "/", true},
		{"/x$y", "/x$y", true}, // '$' mid-pattern is literal
	}
	for _, tc := range tests {
		if got := robotsMatch(normalizeRobotsPath(tc.pattern), normalizeRobotsPath(tc.path)); got != tc.want {
			t.Errorf("robotsMatch(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

func TestRobotsCrawlDelayAndEdgeCases(t *testing.T) {
	r := ParseRobots([]byte("User-agent: swardbot\nCrawl-delay: 2.5\nDisallow: /x\n"))
	if d := r.CrawlDelay(RobotsToken); d != 2500*time.Millisecond {
		t.Errorf("crawl-delay = %s, want 2.5s", d)
	}
	tests := []struct {
		name string
		body string
		path string
		want bool
	}{
		{"empty file", "", "/x", true},
		{"garbage", "\x00\xff\xfe<html>not robots</html>\n:::\n", "/x", true},
		{"rules before any agent are ignored", "Disallow: /\nUser-agent: *\nAllow: /\n", "/x", true},
		{"empty disallow allows", "User-agent: *\nDisallow:\n", "/x", true},
		{"CR line endings", "User-agent: *\rDisallow: /x\r", "/x", false},
		{"BOM", "\xef\xbb\xbfUser-agent: *\nDisallow: /x\n", "/x", false},
		{"typo tolerated", "User-agent: *\nDissallow: /x\n", "/x", false},
		{"shared group", "User-agent: a\nUser-agent: swardbot\nDisallow: /x\n", "/x", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := ParseRobots([]byte(tc.body)).Allowed(RobotsToken, tc.path); got != tc.want {
				t.Errorf("Allowed = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRobotsSizeLimit(t *testing.T) {
	// A rule past 500 KiB is not read.
	var b strings.Builder
	b.WriteString("User-agent: *\nDisallow: /early\n")
	for b.Len() < MaxRobotsBytes+1000 {
		b.WriteString("# filler filler filler filler filler filler filler\n")
	}
	b.WriteString("Disallow: /late\n")
	r := ParseRobots([]byte(b.String()))
	if ok, _ := r.Allowed(RobotsToken, "/early"); ok {
		t.Error("/early should be disallowed")
	}
	if ok, _ := r.Allowed(RobotsToken, "/late"); !ok {
		t.Error("/late is past the 500 KiB limit and must be ignored")
	}
}

func FuzzParseRobots(f *testing.F) {
	f.Add([]byte("User-agent: *\nDisallow: /a*b$\nAllow: /a\nCrawl-delay: 1\n"), "/a/b")
	f.Add([]byte("\xef\xbb\xbfuser-agent:swardbot\r\ndisallow:/%7e"), "/~")
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		r := ParseRobots(body)
		a1, r1 := r.Allowed(RobotsToken, path)
		a2, r2 := r.Allowed(RobotsToken, path)
		if a1 != a2 || r1 != r2 {
			t.Fatalf("verdict not deterministic")
		}
		if d := r.CrawlDelay(RobotsToken); d < 0 {
			t.Fatalf("negative crawl-delay %s", d)
		}
	})
}

func TestRobotsContentUsage(t *testing.T) {
	r := ParseRobots([]byte(strings.Join([]string{
		"User-agent: otherbot",
		"Content-Usage: train-ai=y",
		"",
		"User-agent: *",
		"Allow: /",
		"Content-Usage: train-ai=n, search=y",
		"Content-Usage: /open/ train-ai=y",
		"Content-Usage: /open/private*.html\ttrain-genai=n",
		"Content-Usage: /mixed/ train-ai=y",
		"Content-Usage: /mixed/ train-ai=n",
		"Content-Usage: /empty/",
		"Content-Usage:",
	}, "\n")))
	for _, tc := range []struct{ agent, path, want string }{
		{"swardbot", "/", "train-ai=n, search=y"},
		{"swardbot", "/news/a.html?x=1", "train-ai=n, search=y"},
		{"swardbot", "/open/a.html", "train-ai=y"},
		{"swardbot", "/open/private-notes.html", "train-genai=n"},
		// Equal-length rules are all kept: the reader honours the most
		// restrictive.
		{"swardbot", "/mixed/x", "train-ai=y, train-ai=n"},
		// A rule with a path but no preferences is ignored.
		{"swardbot", "/empty/x", "train-ai=n, search=y"},
		{"otherbot", "/anything", "train-ai=y"},
	} {
		if got := r.ContentUsage(tc.agent, tc.path); got != tc.want {
			t.Errorf("ContentUsage(%s, %s) = %q, want %q", tc.agent, tc.path, got, tc.want)
		}
	}
	// Content-Usage does not end the group's rules or change allow verdicts.
	if ok, _ := r.Allowed("swardbot", "/open/a.html"); !ok {
		t.Error("a Content-Usage rule changed an allow verdict")
	}
	if got := ParseRobots([]byte("Content-Usage: train-ai=n\n")).ContentUsage("swardbot", "/"); got != "" {
		t.Errorf("rule outside any group applied: %q", got)
	}
	if got := RobotsAllowAll().ContentUsage("swardbot", "/"); got != "" {
		t.Errorf("missing robots.txt gave %q", got)
	}
	// The preferences reach the opt-out decision.
	if !(schemas.OptOut{ContentUsage: r.ContentUsage("swardbot", "/")}).Reserved() {
		t.Error("train-ai=n from robots.txt does not reserve the page")
	}
	if (schemas.OptOut{ContentUsage: r.ContentUsage("swardbot", "/open/a.html")}).Reserved() {
		t.Error("train-ai=y from robots.txt reserves the page")
	}
}
