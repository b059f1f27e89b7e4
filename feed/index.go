package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"
)

// Index field names. _source holds the whole Record as JSON (stored, not
// indexed) so the index is the feed's only document store.
const (
	fieldTitle     = "title"
	fieldText      = "text"
	fieldURL       = "url"
	fieldDomains   = "domains"
	fieldLanguage  = "language"
	fieldFetchedAt = "fetched_at"
	fieldChange    = "change"
	fieldSource    = "_source"
	titleBoost     = 2.0
	snippetRunes   = 240
)

// index is the bleve index of the latest record of every URL.
type index struct {
	b        bleve.Index
	analyzer analysis.Analyzer
}

func newMapping() *mapping.IndexMappingImpl {
	text := func() *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Analyzer = standard.Name
		f.Store = false
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		f.DocValues = false
		return f
	}
	kw := func(store bool) *mapping.FieldMapping {
		f := bleve.NewKeywordFieldMapping()
		f.Analyzer = keyword.Name
		f.Store = store
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		return f
	}
	date := bleve.NewDateTimeFieldMapping()
	date.Store = false
	date.IncludeInAll = false
	source := bleve.NewTextFieldMapping()
	source.Index = false
	source.Store = true
	source.IncludeInAll = false
	source.IncludeTermVectors = false
	source.DocValues = false

	doc := bleve.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt(fieldTitle, text())
	doc.AddFieldMappingsAt(fieldText, text())
	doc.AddFieldMappingsAt(fieldURL, kw(false))
	doc.AddFieldMappingsAt(fieldDomains, kw(false))
	doc.AddFieldMappingsAt(fieldLanguage, kw(false))
	doc.AddFieldMappingsAt(fieldChange, kw(false))
	doc.AddFieldMappingsAt(fieldFetchedAt, date)
	doc.AddFieldMappingsAt(fieldSource, source)

	m := bleve.NewIndexMapping()
	m.DefaultMapping = doc
	m.DefaultAnalyzer = standard.Name
	m.StoreDynamic = false
	m.IndexDynamic = false
	m.DocValuesDynamic = false
	return m
}

// openIndex opens the index in dir, creating it when missing; dir "" keeps
// it in memory (scorch without persistence, much faster than bleve's
// default in-memory store).
func openIndex(dir string) (*index, error) {
	var (
		b   bleve.Index
		err error
	)
	switch {
	case dir == "":
		b, err = bleve.NewUsing("", newMapping(), scorch.Name, scorch.Name, nil)
	default:
		path := filepath.Join(dir, "feed.bleve")
		if _, statErr := os.Stat(path); statErr == nil {
			b, err = bleve.Open(path)
		} else {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("creating index dir %s: %w", dir, err)
			}
			b, err = bleve.NewUsing(path, newMapping(), scorch.Name, scorch.Name, nil)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening search index %q: %w", dir, err)
	}
	an := b.Mapping().AnalyzerNamed(standard.Name)
	if an == nil {
		_ = b.Close()
		return nil, errors.New("opening search index: standard analyzer missing")
	}
	return &index{b: b, analyzer: an}, nil
}

func (ix *index) close() error { return ix.b.Close() }

// domains lists host and its parent domains ("a.b.c" -> a.b.c, b.c), so a
// domain filter matches subdomains; a lone top-level label is left out.
func domains(host string) []string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" {
		return nil
	}
	out := []string{host}
	for {
		i := strings.IndexByte(host, '.')
		if i < 0 {
			break
		}
		host = host[i+1:]
		if !strings.Contains(host, ".") {
			break
		}
		out = append(out, host)
	}
	return out
}

func indexFields(r *Record) (map[string]any, error) {
	src, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding record %s: %w", r.ID, err)
	}
	return map[string]any{
		fieldTitle:     title(&r.Document),
		fieldText:      r.Text,
		fieldURL:       r.URL,
		fieldDomains:   domains(r.Host),
		fieldLanguage:  r.Language,
		fieldFetchedAt: r.FetchedAt,
		fieldChange:    string(r.Change.Status),
		fieldSource:    string(src),
	}, nil
}

// apply indexes puts and deletes dels in one batch.
func (ix *index) apply(puts []*Record, dels []string) error {
	batch := ix.b.NewBatch()
	for _, id := range dels {
		batch.Delete(id)
	}
	for _, r := range puts {
		f, err := indexFields(r)
		if err != nil {
			return err
		}
		if err := batch.Index(r.ID, f); err != nil {
			return fmt.Errorf("indexing document %s: %w", r.ID, err)
		}
	}
	if err := ix.b.Batch(batch); err != nil {
		return fmt.Errorf("writing index batch of %d documents: %w", len(puts), err)
	}
	return nil
}

// get returns the record with id, or nil when it is not in the index.
func (ix *index) get(ctx context.Context, id string) (*Record, error) {
	req := bleve.NewSearchRequestOptions(bleve.NewDocIDQuery([]string{id}), 1, 0, false)
	req.Fields = []string{fieldSource}
	res, err := ix.b.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("looking up document %s: %w", id, err)
	}
	if len(res.Hits) == 0 {
		return nil, nil
	}
	return decodeSource(res.Hits[0].Fields)
}

func decodeSource(fields map[string]any) (*Record, error) {
	s, ok := fields[fieldSource].(string)
	if !ok {
		return nil, errors.New("index entry has no stored source")
	}
	var r Record
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, fmt.Errorf("decoding stored record: %w", err)
	}
	return &r, nil
}

// hitSource is the part of a stored record a search hit needs; decoding
// only it skips the markdown and diff.
type hitSource struct {
	ID            string    `json:"id"`
	Title         string    `json:"title"`
	URL           string    `json:"url"`
	Host          string    `json:"host"`
	Language      string    `json:"language"`
	Text          string    `json:"text"`
	FetchedAt     time.Time `json:"fetched_at"`
	ContentSHA256 string    `json:"content_sha256"`
	CaptureCID    string    `json:"capture_cid"`
	NodePeerID    string    `json:"node_peer_id"`
	Change        struct {
		Status ChangeStatus `json:"status"`
	} `json:"change"`
}

func decodeHit(fields map[string]any) (*hitSource, error) {
	s, ok := fields[fieldSource].(string)
	if !ok {
		return nil, errors.New("index entry has no stored source")
	}
	var h hitSource
	if err := json.Unmarshal([]byte(s), &h); err != nil {
		return nil, fmt.Errorf("decoding stored record: %w", err)
	}
	return &h, nil
}

// filterQuery builds the filters shared by search, export and the feed.
func filterQuery(lang, domain string, since time.Time, changes []ChangeStatus) []query.Query {
	var qs []query.Query
	if lang != "" {
		q := bleve.NewTermQuery(strings.ToLower(lang))
		q.SetField(fieldLanguage)
		qs = append(qs, q)
	}
	if domain != "" {
		q := bleve.NewTermQuery(strings.ToLower(strings.TrimSuffix(domain, ".")))
		q.SetField(fieldDomains)
		qs = append(qs, q)
	}
	if !since.IsZero() {
		q := bleve.NewDateRangeQuery(since, time.Time{})
		q.SetField(fieldFetchedAt)
		qs = append(qs, q)
	}
	if len(changes) > 0 {
		var or []query.Query
		for _, c := range changes {
			q := bleve.NewTermQuery(string(c))
			q.SetField(fieldChange)
			or = append(or, q)
		}
		qs = append(qs, bleve.NewDisjunctionQuery(or...))
	}
	return qs
}

// search runs a BM25 query over title (boosted) and text with filters.
func (ix *index) search(ctx context.Context, sr SearchRequest, k int) (*SearchResponse, error) {
	tq := bleve.NewMatchQuery(sr.Query)
	tq.SetField(fieldTitle)
	tq.SetBoost(titleBoost)
	text := bleve.NewMatchQuery(sr.Query)
	text.SetField(fieldText)
	must := []query.Query{bleve.NewDisjunctionQuery(tq, text)}
	must = append(must, filterQuery(sr.Lang, sr.Domain, sr.Since, nil)...)
	req := bleve.NewSearchRequestOptions(bleve.NewConjunctionQuery(must...), k, 0, false)
	req.Fields = []string{fieldSource}
	res, err := ix.b.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("searching %q: %w", sr.Query, err)
	}
	terms := ix.terms(sr.Query)
	out := &SearchResponse{Query: sr.Query, Total: res.Total, Hits: make([]Hit, 0, len(res.Hits)), TookMS: float64(res.Took.Microseconds()) / 1000}
	for _, h := range res.Hits {
		r, err := decodeHit(h.Fields)
		if err != nil {
			return nil, fmt.Errorf("search hit %s: %w", h.ID, err)
		}
		out.Hits = append(out.Hits, Hit{
			ID:            r.ID,
			Title:         r.Title,
			Snippet:       ix.snippet(r.Text, terms),
			URL:           r.URL,
			Host:          r.Host,
			Language:      r.Language,
			FetchedAt:     r.FetchedAt,
			ContentSHA256: r.ContentSHA256,
			CaptureCID:    r.CaptureCID,
			NodePeerID:    r.NodePeerID,
			Change:        r.Change.Status,
			Score:         h.Score,
		})
	}
	return out, nil
}

// scan calls fn for every record matching the filters, oldest fetch first,
// paging through the index so memory stays bounded.
func (ix *index) scan(ctx context.Context, filters []query.Query, page int, fn func([]*Record) error) error {
	var q query.Query = bleve.NewMatchAllQuery()
	if len(filters) > 0 {
		q = bleve.NewConjunctionQuery(filters...)
	}
	var after []string
	for {
		req := bleve.NewSearchRequestOptions(q, page, 0, false)
		req.Fields = []string{fieldSource}
		req.SortBy([]string{fieldFetchedAt, "_id"})
		if after != nil {
			req.SearchAfter = after
		}
		res, err := ix.b.SearchInContext(ctx, req)
		if err != nil {
			return fmt.Errorf("scanning index: %w", err)
		}
		if len(res.Hits) == 0 {
			return nil
		}
		recs := make([]*Record, 0, len(res.Hits))
		for _, h := range res.Hits {
			r, err := decodeSource(h.Fields)
			if err != nil {
				return fmt.Errorf("scanning index at %s: %w", h.ID, err)
			}
			recs = append(recs, r)
		}
		if err := fn(recs); err != nil {
			return err
		}
		if len(res.Hits) < page {
			return nil
		}
		after = res.Hits[len(res.Hits)-1].Sort
	}
}

// terms analyses q the way the index analyses text.
func (ix *index) terms(q string) map[string]bool {
	out := map[string]bool{}
	for _, t := range ix.analyzer.Analyze([]byte(q)) {
		out[string(t.Term)] = true
	}
	return out
}

// matches reports whether text contains every term of the analysed query.
func (ix *index) matches(terms map[string]bool, texts ...string) bool {
	if len(terms) == 0 {
		return true
	}
	found := map[string]bool{}
	for _, text := range texts {
		for _, t := range ix.analyzer.Analyze([]byte(text)) {
			if terms[string(t.Term)] {
				found[string(t.Term)] = true
			}
		}
	}
	return len(found) == len(terms)
}

// snippet returns about snippetRunes of text around the first query term,
// cut on word boundaries, with "…" where text was cut. It scans words with
// a light tokenizer (letters and digits, lowercased) and stops at the first
// match, instead of running the full analyzer over the whole text.
func (ix *index) snippet(text string, terms map[string]bool) string {
	start := 0
	if len(terms) > 0 {
		start = firstTerm(text, terms)
	}
	// Back up a little so the term has some context before it.
	from := start
	for n := 0; from > 0 && n < snippetRunes/4; n++ {
		_, size := utf8.DecodeLastRuneInString(text[:from])
		from -= size
	}
	if from > 0 {
		if i := strings.IndexAny(text[from:start], " \n\t"); i >= 0 {
			from += i + 1
		}
	}
	to := from
	for n := 0; to < len(text) && n < snippetRunes; n++ {
		_, size := utf8.DecodeRuneInString(text[to:])
		to += size
	}
	if to < len(text) {
		if i := strings.LastIndexAny(text[from:to], " \n\t"); i > 0 {
			to = from + i
		}
	}
	s := strings.Join(strings.Fields(text[from:to]), " ")
	if from > 0 {
		s = "…" + s
	}
	if to < len(text) {
		s += "…"
	}
	return s
}

// firstTerm returns the byte offset of the first word of text whose
// lowercase form is in terms, or 0.
func firstTerm(text string, terms map[string]bool) int {
	var buf []byte
	i := 0
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		if !isWordRune(r) {
			i += size
			continue
		}
		start := i
		buf = buf[:0]
		for i < len(text) {
			r, size = utf8.DecodeRuneInString(text[i:])
			if !isWordRune(r) {
				break
			}
			buf = utf8.AppendRune(buf, unicode.ToLower(r))
			i += size
		}
		if terms[string(buf)] {
			return start
		}
	}
	return 0
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}
