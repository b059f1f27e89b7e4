package curator

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/swardnet/sward/schemas"
	"golang.org/x/net/html"
)

func wire(t *testing.T, m schemas.CurationMessage) []byte {
	t.Helper()
	m.Version = schemas.CurationWireVersion
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestForgedAndReplayedDecisionsAreRejected(t *testing.T) {
	ctx := context.Background()
	key, who := newKey(t)
	c := openTest(t, Config{Quorum: 1, Trusted: []string{who}})
	must(t, c.Enqueue(ctx, testItem("doc-1", KindReview), testItem("doc-2", KindReview)))
	otherKey, _ := newKey(t)
	ecKey, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	must(t, err)
	ecID, err := peer.IDFromPrivateKey(ecKey)
	must(t, err)
	now := c.cfg.Now()

	valid := signed(t, key, who, "doc-2", schemas.ActionReject, "spam", now)
	tampered := *signed(t, key, who, "doc-1", schemas.ActionReject, "spam", now)
	tampered.Action, tampered.Reason = schemas.ActionAccept, ""
	impostor := signed(t, otherKey, who, "doc-1", schemas.ActionAccept, "", now)
	unsigned := signed(t, key, who, "doc-1", schemas.ActionAccept, "", now)
	unsigned.Signature = nil
	ecd := &schemas.Decision{Version: 1, ItemID: "doc-1", Curator: ecID.String(), Action: schemas.ActionAccept, Timestamp: now, Nonce: newNonce()}
	ecd.Signature, err = ecKey.Sign(ecd.SigningBytes())
	must(t, err)
	garbageID := signed(t, key, "not-a-peer-id", "doc-1", schemas.ActionAccept, "", now)
	future := signed(t, key, who, "doc-1", schemas.ActionAccept, "", now.Add(time.Hour))
	ancient := signed(t, key, who, "doc-1", schemas.ActionAccept, "", now.Add(-30*24*time.Hour))

	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"tampered action", wire(t, schemas.CurationMessage{Decision: &tampered}), ErrForged},
		{"signed by another key", wire(t, schemas.CurationMessage{Decision: impostor}), ErrForged},
		{"unsigned", wire(t, schemas.CurationMessage{Decision: unsigned}), ErrForged},
		{"non-Ed25519 identity", wire(t, schemas.CurationMessage{Decision: ecd}), ErrForged},
		{"signer is not a peer id", wire(t, schemas.CurationMessage{Decision: garbageID}), ErrForged},
		{"dated in the future", wire(t, schemas.CurationMessage{Decision: future}), ErrStale},
		{"too old", wire(t, schemas.CurationMessage{Decision: ancient}), ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Receive(ctx, tt.data); !errors.Is(err, tt.want) {
				t.Fatalf("Receive = %v, want %v", err, tt.want)
			}
			if got := itemState(t, c, "doc-1"); got != StateOpen {
				t.Fatalf("a refused decision changed the item to %s", got)
			}
		})
	}

	// A valid decision counts once; its replay is refused and changes
	// nothing, even after the item settled.
	data := wire(t, schemas.CurationMessage{Decision: valid})
	must(t, c.Receive(ctx, data))
	if got := itemState(t, c, "doc-2"); got != StateSettled {
		t.Fatalf("valid decision under quorum 1: state %s", got)
	}
	if err := c.Receive(ctx, data); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v, want ErrReplay", err)
	}
	// The same vote re-signed with the old nonce but new content is also a
	// replay of the nonce.
	again := *valid
	again.ItemID = "doc-1"
	again.Signature, err = key.Sign(again.SigningBytes())
	must(t, err)
	if err := c.Receive(ctx, wire(t, schemas.CurationMessage{Decision: &again})); !errors.Is(err, ErrReplay) {
		t.Fatalf("reused nonce: %v, want ErrReplay", err)
	}
	if s, _, _ := c.Settled(ctx, 0); len(s) != 1 {
		t.Fatalf("settlements after replays: %d, want 1", len(s))
	}
	if _, err := VerifyMessage(wire(t, schemas.CurationMessage{Decision: &tampered})); !errors.Is(err, ErrForged) {
		t.Errorf("VerifyMessage on a tampered decision: %v", err)
	}
}

func TestUntrustedItemsRulesAndAdjudicators(t *testing.T) {
	ctx := context.Background()
	adjKey, adj := newKey(t)
	strangerKey, stranger := newKey(t)
	voterKey, voter := newKey(t)
	c := openTest(t, Config{Adjudicators: []string{adj}, Trusted: []string{adj, voter}, MaxVotes: 2})

	// An item from a peer that is not an item source.
	body, _ := json.Marshal(testItem("evil", KindReview))
	a := schemas.ItemAnnouncement{Source: stranger, SentAt: time.Now(), Nonce: newNonce(), Item: body}
	a.Signature, _ = strangerKey.Sign(a.SigningBytes())
	if err := c.Receive(ctx, wire(t, schemas.CurationMessage{Item: &a})); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("item from a stranger: %v, want ErrUntrusted", err)
	}
	if _, _, err := c.item(ctx, "evil"); !errors.Is(err, ErrUnknownItem) {
		t.Fatalf("stranger's item was stored: %v", err)
	}

	// An adjudication from someone not on the list.
	must(t, c.Enqueue(ctx, testItem("doc", KindReview)))
	d := signed(t, strangerKey, stranger, "doc", schemas.ActionAccept, "", time.Now())
	d.Adjudication = true
	d.Signature, _ = strangerKey.Sign(d.SigningBytes())
	if err := c.Receive(ctx, wire(t, schemas.CurationMessage{Decision: d})); !errors.Is(err, ErrNotAdjudicator) {
		t.Fatalf("adjudication by a stranger: %v, want ErrNotAdjudicator", err)
	}
	d2 := signed(t, adjKey, adj, "doc", schemas.ActionAccept, "", time.Now())
	d2.Adjudication = true
	d2.Signature, _ = adjKey.Sign(d2.SigningBytes())
	must(t, c.Receive(ctx, wire(t, schemas.CurationMessage{Decision: d2})))
	// Even a listed adjudicator does not settle an open item alone: the
	// adjudication waits until the item has MaxVotes ballots.
	if got := itemState(t, c, "doc"); got != StateOpen {
		t.Fatalf("adjudication of an open item: state %s, want open", got)
	}
	must(t, c.Receive(ctx, wire(t, schemas.CurationMessage{Decision: signed(t, voterKey, voter, "doc", schemas.ActionReject, "spam", time.Now())})))
	must(t, c.Decide(ctx, Input{ItemID: "doc", Action: schemas.ActionAccept}))
	must(t, c.Flush(ctx))
	if got := itemState(t, c, "doc"); got != StateSettled {
		t.Fatalf("listed adjudicator's decision: state %s, want settled", got)
	}

	// A rule signed by one curator but claiming another author.
	r := schemas.ExtractionRule{Version: 1, Domain: "news.example.org", RuleVersion: 1, Body: "article",
		Author: adj, CreatedAt: time.Now(), Nonce: newNonce()}
	r.Signature, _ = strangerKey.Sign(r.SigningBytes())
	if err := c.Receive(ctx, wire(t, schemas.CurationMessage{Rule: &r})); !errors.Is(err, ErrForged) {
		t.Fatalf("rule with a forged author: %v, want ErrForged", err)
	}
	r.Signature, _ = adjKey.Sign(r.SigningBytes())
	must(t, c.Receive(ctx, wire(t, schemas.CurationMessage{Rule: &r})))
	if err := c.Receive(ctx, wire(t, schemas.CurationMessage{Rule: &r})); !errors.Is(err, ErrReplay) {
		t.Fatalf("replayed rule: %v, want ErrReplay", err)
	}
}

func TestSanitizeMakesPagesInert(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		keep      []string
		forbidden []string
	}{
		{"script", `<p>hi</p><script>alert(1)</script><SCRIPT src="x.js"></SCRIPT>`, []string{"<p>hi</p>"}, []string{"script", "alert"}},
		{"event handlers", `<div onclick="steal()" onmouseover='x()'>t</div><img src=x onerror=alert(1) alt="pic">`, []string{"<div>t</div>", `alt="pic"`}, []string{"onclick", "onerror", "onmouseover", "steal", `src=`}},
		{"javascript link", `<a href="javascript:alert(1)">a</a><a href=" JaVaScRiPt:alert(2)">b</a>`, []string{"<a>a</a>", "<a>b</a>"}, []string{"javascript", "href"}},
		{"http link kept inert", `<a href="https://x.example/p">x</a>`, []string{`title="link to https://x.example/p"`}, []string{"href"}},
		{"style and css urls", `<style>body{background:url(http://x)}</style><p style="background:url(http://y)">s</p>`, []string{"<p>s</p>"}, []string{"url(", "style"}},
		{"frames and objects", `<iframe src="http://x"></iframe><object data="x"></object><embed src=x><frameset></frameset>`, nil, []string{"iframe", "object", "embed", "frameset", "http://x"}},
		{"svg and math", `<svg onload="alert(1)"><script>alert(2)</script></svg><math><mi xlink:href="javascript:x">m</mi></math>`, nil, []string{"svg", "onload", "alert", "math", "javascript"}},
		{"meta refresh and base", `<meta http-equiv="refresh" content="0;url=http://x"><base href="http://x/">`, nil, []string{"meta", "refresh", "base"}},
		{"forms", `<form action="http://x"><input name=a value=b><button formaction="javascript:x">go</button></form>`, nil, []string{"form", "input", "javascript", "button"}},
		{"comments", `<!--[if IE]><script>x()</script><![endif]--><p>c</p>`, []string{"<p>c</p>"}, []string{"script", "<!--"}},
		{"data image kept", `<img src="data:image/png;base64,AAAA" alt="d"><img src="data:text/html;base64,PHNjcmlwdD4=">`, []string{`src="data:image/png;base64,AAAA"`}, []string{"data:text"}},
		{"escaped text", `<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>`, []string{"&lt;script&gt;"}, []string{"<script"}},
		{"unclosed", `<div><b>bold`, []string{"<div><b>bold</b></div>"}, nil},
		{"unclosed head and void drops", `<html><head><title>t</title><meta charset=utf-8><body><embed src=x><p>kept</p>`, []string{"<p>kept</p>"}, []string{"embed", "meta"}},
		{"self-closing script", `<script/>alert(1)</script><p>p</p>`, []string{"<p>p</p>"}, []string{"alert"}},
		{"custom element", `<x-widget onclick="a()">w</x-widget><p>after</p>`, []string{"<p>after</p>"}, []string{"x-widget", "onclick"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sanitize(tt.in)
			for _, k := range tt.keep {
				if !strings.Contains(got, k) {
					t.Errorf("Sanitize(%q) = %q, want it to contain %q", tt.in, got, k)
				}
			}
			low := strings.ToLower(got)
			for _, f := range tt.forbidden {
				if strings.Contains(low, strings.ToLower(f)) {
					t.Errorf("Sanitize(%q) = %q still contains %q", tt.in, got, f)
				}
			}
			assertInert(t, got)
		})
	}
	doc := PreviewDocument(`<script>x()</script><p>p</p>`)
	if !strings.Contains(doc, "Content-Security-Policy") || !strings.Contains(doc, "script-src 'none'") || strings.Contains(doc, "x()") {
		t.Errorf("preview document = %q", doc)
	}
}

// assertInert parses sanitised output as a browser would and checks that
// no element or attribute outside the allowlist survived.
func assertInert(t testing.TB, out string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(out))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			if tt == html.CommentToken || tt == html.DoctypeToken {
				t.Fatalf("sanitised output has a %v: %q", tt, out)
			}
			continue
		}
		tok := z.Token()
		if !allowedTags[tok.DataAtom] {
			t.Fatalf("sanitised output has element %q: %q", tok.Data, out)
		}
		for _, a := range tok.Attr {
			ok := allowedAttrs[a.Key] || (a.Key == "src" && tok.Data == "img" && isDataImage(a.Val))
			if !ok {
				t.Fatalf("sanitised output has attribute %s=%q on %s: %q", a.Key, a.Val, tok.Data, out)
			}
		}
	}
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{
		`<p onclick=x>a</p><script>b</script>`,
		`<a href="javascript:x">l</a><svg><p>in</p></svg>`,
		`<textarea><script>x</script></textarea><noscript><img src=x onerror=y></noscript>`,
		`<div><b><i>x</div></b>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Sanitize(in)
		assertInert(t, out)
		// Sanitising is idempotent once inert.
		if again := Sanitize(out); again != out {
			t.Fatalf("not idempotent:\n in:  %q\n out: %q\n again: %q", in, out, again)
		}
	})
}

func TestSanitizeAdversarialNestingIsCheap(t *testing.T) {
	in := strings.Repeat("<b>", 200000) + strings.Repeat("</i>", 200000) + "tail"
	start := time.Now()
	out := Sanitize(in)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("sanitising deep nesting took %s", d)
	}
	if !strings.HasSuffix(out, "tail"+strings.Repeat("</b>", maxSanitizeDepth)) {
		t.Fatalf("unexpected output tail: %q", out[max(0, len(out)-40):])
	}
	assertInert(t, out)
}
