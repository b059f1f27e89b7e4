package feed

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
)

// corpus is a small labelled collection: each query below names the
// documents a person would judge relevant, best first.
var corpus = []struct{ id, url, title, text, lang string }{
	{"rust", "https://blog.example.com/rust-ownership", "Understanding ownership in Rust", "Rust's ownership model guarantees memory safety without a garbage collector. Every value has a single owner, and borrowing lets functions use values without taking ownership. The borrow checker enforces these rules at compile time.", "en"},
	{"go-gc", "https://go.example.org/gc-guide", "A guide to the Go garbage collector", "The Go runtime uses a concurrent mark and sweep garbage collector. GOGC controls how often collection runs, trading memory for CPU. Tuning the collector matters for latency-sensitive services.", "en"},
	{"sourdough", "https://food.example.net/sourdough", "Baking sourdough bread at home", "A sourdough starter is a culture of wild yeast and lactic acid bacteria. Feed the starter flour and water daily, then mix the dough, proof it overnight and bake in a hot Dutch oven for a crisp crust.", "en"},
	{"bagels", "https://food.example.net/bagels", "Chewy New York bagels", "Bagels are boiled before baking, which gives them their chewy crust. Use high-gluten flour, a stiff dough and a cold overnight proof.", "en"},
	{"tides", "https://science.example.edu/tides", "Why the ocean has tides", "Tides are caused by the gravitational pull of the moon and the sun on the oceans. Spring tides happen when the sun and moon align; neap tides when they are at right angles.", "en"},
	{"eclipse", "https://science.example.edu/eclipses", "Solar and lunar eclipses explained", "A solar eclipse happens when the moon passes between the sun and the earth, casting a shadow. A lunar eclipse happens when the earth's shadow falls on the moon.", "en"},
	{"marathon", "https://sport.example.com/marathon-training", "Training for your first marathon", "A marathon training plan builds weekly mileage gradually, with one long run each week, easy recovery runs and a taper in the last three weeks before race day.", "en"},
	{"espresso", "https://food.example.net/espresso", "Pulling a good espresso shot", "Espresso is brewed by forcing hot water through finely ground coffee at nine bars of pressure. Grind size, dose and extraction time decide whether a shot tastes sour or bitter.", "en"},
	{"tls", "https://sec.example.org/tls13", "How the TLS 1.3 handshake works", "TLS 1.3 cuts the handshake to one round trip. The client sends key shares in its hello, the server answers with its certificate, and both derive session keys with HKDF.", "en"},
	{"pebble", "https://go.example.org/pebble-lsm", "LSM trees in Pebble", "Pebble is a log-structured merge tree key-value store written in Go. Writes go to a memtable and a write-ahead log, then flush to sorted tables that compaction merges.", "en"},
	{"brot", "https://koch.example.de/brot", "Sauerteigbrot backen", "Ein Sauerteig aus Roggenmehl und Wasser braucht einige Tage. Das Brot wird über Nacht gegärt und im heißen Ofen gebacken.", "de"},
	{"gc-java", "https://jvm.example.com/g1", "The G1 garbage collector in Java", "G1 divides the heap into regions and collects the regions with the most garbage first, aiming at a pause time goal set by the user.", "en"},
}

var labelled = []struct {
	q        string
	relevant []string // all must be in the top len(relevant)+1; the first must be top
}{
	{"rust borrow checker ownership", []string{"rust"}},
	{"garbage collector", []string{"go-gc", "gc-java"}},
	{"sourdough starter", []string{"sourdough"}},
	{"bread dough proof overnight", []string{"sourdough", "bagels"}},
	{"moon tides gravity", []string{"tides"}},
	{"eclipse shadow", []string{"eclipse"}},
	{"marathon long run", []string{"marathon"}},
	{"espresso grind", []string{"espresso"}},
	{"TLS handshake", []string{"tls"}},
	{"LSM compaction memtable", []string{"pebble"}},
}

func loadCorpus(t *testing.T, f *Feed) {
	t.Helper()
	var docs = make([]schemas.Document, 0, len(corpus))
	for i, c := range corpus {
		d := mkDoc(c.id, c.url, c.title, c.text, t0.Add(time.Duration(i)*time.Hour))
		d.Language = c.lang
		docs = append(docs, d)
	}
	if err := f.Add(context.Background(), docs...); err != nil {
		t.Fatalf("Add: %v", err)
	}
}

func TestSearchRelevance(t *testing.T) {
	f := newTestFeed(t, Config{})
	loadCorpus(t, f)
	var rr float64
	for _, tc := range labelled {
		t.Run(tc.q, func(t *testing.T) {
			res, err := f.Search(context.Background(), SearchRequest{Query: tc.q, K: 5})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Hits) == 0 {
				t.Fatal("no hits")
			}
			if res.Hits[0].ID != tc.relevant[0] {
				t.Errorf("top hit %s, want %s (hits %v)", res.Hits[0].ID, tc.relevant[0], ids(res.Hits))
			}
			top := map[string]bool{}
			for i := 0; i < len(res.Hits) && i <= len(tc.relevant); i++ {
				top[res.Hits[i].ID] = true
			}
			for _, want := range tc.relevant {
				if !top[want] {
					t.Errorf("relevant %s not in top %d: %v", want, len(tc.relevant)+1, ids(res.Hits))
				}
			}
			for i, h := range res.Hits {
				if h.ID == tc.relevant[0] {
					rr += 1 / float64(i+1)
				}
			}
		})
	}
	if mrr := rr / float64(len(labelled)); mrr < 0.95 {
		t.Errorf("mean reciprocal rank %.2f, want >= 0.95", mrr)
	}
}

func ids(hits []Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

func TestSearchFiltersAndProvenance(t *testing.T) {
	f := newTestFeed(t, Config{})
	loadCorpus(t, f)
	srv := newTestServer(t, f)
	tests := []struct {
		name  string
		query url.Values
		want  []string // exact set of ids
		code  int
	}{
		{"lang filter", url.Values{"q": {"sourdough sauerteig brot"}, "lang": {"de"}}, []string{"brot"}, 200},
		{"domain filter matches subdomains", url.Values{"q": {"garbage collector"}, "domain": {"example.org"}}, []string{"go-gc"}, 200},
		{"exact host", url.Values{"q": {"baking"}, "domain": {"food.example.net"}}, []string{"bagels", "sourdough"}, 200},
		{"since filter", url.Values{"q": {"garbage collector"}, "since": {t0.Add(5 * time.Hour).Format(time.RFC3339)}}, []string{"gc-java"}, 200},
		{"k limits", url.Values{"q": {"the sun"}, "k": {"1"}}, nil, 200},
		{"missing q", url.Values{}, nil, 400},
		{"bad k", url.Values{"q": {"x"}, "k": {"-1"}}, nil, 400},
		{"k too large", url.Values{"q": {"x"}, "k": {"1000"}}, nil, 400},
		{"bad since", url.Values{"q": {"x"}, "since": {"yesterday"}}, nil, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var res SearchResponse
			code := getJSON(t, srv.Client(), srv.URL+"/v1/search?"+tc.query.Encode(), nil, &res)
			if code != tc.code {
				t.Fatalf("status %d, want %d", code, tc.code)
			}
			if code != 200 {
				return
			}
			if tc.query.Get("k") == "1" {
				if len(res.Hits) != 1 || res.Total < 2 {
					t.Fatalf("k=1: %d hits of %d", len(res.Hits), res.Total)
				}
				return
			}
			got := map[string]bool{}
			for _, h := range res.Hits {
				got[h.ID] = true
				if h.URL == "" || h.ContentSHA256 == "" || h.CaptureCID != "bafkrei"+h.ID || h.NodePeerID == "" || h.FetchedAt.IsZero() || h.Title == "" {
					t.Errorf("hit %s lacks provenance: %+v", h.ID, h)
				}
				if h.Snippet == "" {
					t.Errorf("hit %s has no snippet", h.ID)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("hits %v, want %v", ids(res.Hits), tc.want)
			}
			for _, w := range tc.want {
				if !got[w] {
					t.Errorf("missing %s in %v", w, ids(res.Hits))
				}
			}
		})
	}
}

func TestSnippet(t *testing.T) {
	f := newTestFeed(t, Config{})
	long := strings.Repeat("filler words go here ", 40) + "the needle sits in this sentence " + strings.Repeat("more trailing words ", 40)
	tests := []struct {
		name, text, q string
		wantSub       string
		prefix        bool
	}{
		{"term in the middle", long, "needle", "needle sits", true},
		{"short text kept whole", "just a short text", "short", "just a short text", false},
		{"no match starts at beginning", long, "absent", "filler words", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := f.idx.snippet(tc.text, f.idx.terms(tc.q))
			if !strings.Contains(s, tc.wantSub) {
				t.Errorf("snippet %q lacks %q", s, tc.wantSub)
			}
			if strings.HasPrefix(s, "…") != tc.prefix {
				t.Errorf("snippet %q: leading ellipsis %v, want %v", s, !tc.prefix, tc.prefix)
			}
			if n := len([]rune(s)); n > snippetRunes+2 {
				t.Errorf("snippet is %d runes", n)
			}
		})
	}
}

func TestDocumentEndpoint(t *testing.T) {
	f := newTestFeed(t, Config{})
	loadCorpus(t, f)
	srv := newTestServer(t, f)
	var r Record
	if code := getJSON(t, srv.Client(), srv.URL+"/v1/documents/tls", nil, &r); code != 200 {
		t.Fatalf("status %d", code)
	}
	if r.ID != "tls" || !strings.Contains(r.Text, "round trip") || r.Markdown == nil || !strings.HasPrefix(*r.Markdown, "# How the TLS") {
		t.Errorf("document: %+v", r)
	}
	if r.ContentSHA256 == "" || r.CaptureCID == "" || r.NodePeerID == "" || r.Change.Status != ChangeNew {
		t.Errorf("provenance/change missing: %+v", r)
	}
	if code := getJSON(t, srv.Client(), srv.URL+"/v1/documents/nope", nil, nil); code != 404 {
		t.Errorf("unknown id: status %d, want 404", code)
	}
}
