package pipeline

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/swardnet/sward/schemas"
)

// Decision is where a capture goes.
type Decision int

// Decisions.
const (
	Accept Decision = iota
	Reject
	Review
)

// String gives "accept", "reject" or "review".
func (d Decision) String() string {
	switch d {
	case Accept:
		return "accept"
	case Reject:
		return "reject"
	case Review:
		return "review"
	}
	return fmt.Sprintf("decision(%d)", int(d))
}

// Result is the pipeline's verdict on one capture.
type Result struct {
	Decision Decision
	// Doc is filled for Accept and Review, and for Reject whenever
	// extraction succeeded (for the rejects shard).
	Doc *schemas.Document
	// Reasons are stable reason codes, e.g. "quality:gopher_stop_words",
	// "dedup:exact", "lang:low_score", "tdm:reserved", "extract:empty".
	// Review results carry "review:*" reasons.
	Reasons []string
	// Detail says for a human why: the fetch error as the node reported
	// it, the decoder's error, or each failed rule with its measured value
	// (see describe). Empty for a plain accept.
	Detail string
	// Scores holds every measured value by rule name.
	Scores map[string]float64
	// Fields holds the job's structured fields that were found: string,
	// float64, Price or time.Time by declared type.
	Fields map[string]any
	// DedupKey is set when the document entered the dedup index, so a
	// caller can log it and rebuild the index later (RestoreDedup).
	DedupKey *DedupKey
}

// Filters names the stages a dataset's rows passed, in order, for the
// manifest and card: one list for the coordinator and the offline run.
var Filters = []string{
	"extract:trafilatura", "lang:whatlanggo", "quality:gopher_repetition", "quality:gopher_quality",
	"quality:c4", "quality:fineweb", "pii:redact", "dedup:exact", "dedup:minhash_5gram_14x8",
}

// Pipeline runs captures through the stages. Its only state is the dedup
// index, in memory. Safe for concurrent use.
type Pipeline struct {
	cfg   Config
	dedup *Dedup

	mu     sync.Mutex
	jobCfg map[*schemas.JobSpec]*jobConfig
}

type jobConfig struct {
	cfg    Config
	fields []CompiledField
	err    error
}

// New makes a pipeline with cfg (validated).
func New(cfg Config) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Pipeline{
		cfg:    cfg,
		dedup:  NewDedup(cfg.DedupNGram, cfg.DedupBands, cfg.DedupRows),
		jobCfg: map[*schemas.JobSpec]*jobConfig{},
	}, nil
}

// Config returns the pipeline's base configuration.
func (p *Pipeline) Config() Config { return p.cfg }

// Dedup exposes the dedup index (for statistics).
func (p *Pipeline) Dedup() *Dedup { return p.dedup }

// RestoreDedup re-enters a logged key into the dedup index, as Process
// did when it first saw the document; used to resume interrupted runs.
func (p *Pipeline) RestoreDedup(k DedupKey) {
	p.dedup.Add(k, p.cfg.ExactDedup, p.cfg.NearDedup)
}

// ForgetDedup takes a document's text back out of the dedup index (see
// Dedup.Forget).
func (p *Pipeline) ForgetDedup(k DedupKey) { p.dedup.Forget(k) }

// ValidateJob checks a job's pipeline settings (quality overrides and
// field selectors) without processing anything.
func ValidateJob(base Config, job *schemas.JobSpec) error {
	if _, err := base.ForJob(job); err != nil {
		return err
	}
	if job != nil {
		if _, err := CompileFields(job.Fields); err != nil {
			return fmt.Errorf("job %q: %w", job.Name, err)
		}
	}
	return nil
}

// forJob caches the job's effective config and compiled fields.
func (p *Pipeline) forJob(job *schemas.JobSpec) *jobConfig {
	if job == nil {
		return &jobConfig{cfg: p.cfg}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if jc, ok := p.jobCfg[job]; ok {
		return jc
	}
	jc := &jobConfig{}
	jc.cfg, jc.err = p.cfg.ForJob(job)
	if jc.err == nil {
		jc.fields, jc.err = CompileFields(job.Fields)
	}
	if len(p.jobCfg) > 1024 {
		clear(p.jobCfg)
	}
	p.jobCfg[job] = jc
	return jc
}

// reasonOf turns a stage error into its reason code (the text before the
// first ": " of the wrapped sentinel).
func reasonOf(err error) string {
	for _, e := range []error{ErrEmptyBody, ErrBinaryBody, ErrInvalidUTF8, ErrCharset, ErrExtractEmpty, ErrExtractParse, ErrTooDeep, ErrTooLarge} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "extract:error"
}

// Process turns one capture into a Result. Pure: no network, no disk.
// Safe for concurrent use. Never panics on bad input.
func (p *Pipeline) Process(c *schemas.Capture, job *schemas.JobSpec) (res Result) {
	res.Scores = map[string]float64{}
	// detail, when set, is the error text behind the reasons.
	var detail string
	reject := func(reasons ...string) Result {
		res.Decision = Reject
		res.Reasons = append(res.Reasons, reasons...)
		res.Detail = describe(res.Reasons, res.Scores, detail)
		return res
	}
	defer func() {
		if r := recover(); r != nil {
			res.Decision = Reject
			res.Reasons = append(res.Reasons, fmt.Sprintf("internal:panic: %v", r))
			res.Detail = describe(res.Reasons, res.Scores, "")
		}
	}()
	if c == nil {
		return reject("capture:missing")
	}
	jc := p.forJob(job)
	if jc.err != nil {
		return reject("job:invalid_settings")
	}
	cfg := &jc.cfg
	if c.Error != "" {
		detail = c.Error
		return reject(fetchReason(c.Error))
	}
	if c.Status < 200 || c.Status > 299 {
		detail = fmt.Sprintf("HTTP status %d", c.Status)
		return reject(fmt.Sprintf("fetch:status_%d", c.Status))
	}
	policy := schemas.TDMSkip
	if job != nil && job.TDMPolicy != "" {
		policy = job.TDMPolicy
	}
	if policy == schemas.TDMSkip && c.OptOut.Reserved() {
		return reject("tdm:reserved")
	}
	if len(c.Body) == 0 {
		return reject(ErrEmptyBody.Error())
	}
	ct := strings.ToLower(c.ContentType)
	if ct == "" {
		ct = strings.ToLower(c.Headers["Content-Type"])
	}
	if ct != "" && !strings.Contains(ct, "html") && !strings.Contains(ct, "text/plain") && !strings.Contains(ct, "xml") {
		detail = "content type " + ct
		return reject("decode:content_type")
	}
	page, err := Decode(c.Body, ct)
	if err != nil {
		detail = err.Error()
		return reject(reasonOf(err))
	}
	pageURL := c.FinalURL
	if pageURL == "" {
		pageURL = c.URL
	}
	var ex *Extracted
	if strings.Contains(ct, "text/plain") {
		ex = &Extracted{Text: page, Markdown: page, Confidence: 1}
	} else {
		ex, err = Extract(page, pageURL, cfg.Extract)
		if err != nil {
			detail = err.Error()
			return reject(reasonOf(err))
		}
	}
	res.Scores["extract_confidence"] = ex.Confidence
	text := Normalize(ex.Text)
	markdown := Normalize(ex.Markdown)
	res.Doc = p.document(c, job, ex, pageURL)
	if strings.TrimSpace(text) == "" {
		res.Doc.Text = text
		return reject(ErrExtractEmpty.Error())
	}

	// Language.
	lang, score := DetectLanguage(text)
	res.Doc.Language, res.Doc.LanguageScore = lang, score
	res.Scores["language_score"] = score
	var reasons []string
	switch {
	case lang == "":
		reasons = append(reasons, "lang:unknown")
	case !cfg.languageAllowed(lang):
		reasons = append(reasons, "lang:not_wanted")
	case score < cfg.languageThreshold(lang):
		reasons = append(reasons, "lang:low_score")
	}

	// Quality: Gopher on the extracted text, then C4 line filtering, then
	// C4 page rules and FineWeb's filter on what is left (FineWeb's order).
	chk := &checker{scores: res.Scores, margin: cfg.ReviewQualityMargin}
	st := newTextStats(text)
	gopherRepetition(st, cfg, chk)
	gopherQuality(st, lang, cfg, chk)
	filtered, removed := c4Lines(text, lang, cfg)
	res.Scores["c4_lines_removed"] = float64(removed)
	c4Document(filtered, cfg, chk)
	finewebQuality(filtered, cfg, chk)
	reasons = append(reasons, chk.reasons...)
	if strings.TrimSpace(filtered) != "" {
		text = filtered
	}

	// PII.
	if cfg.RedactPII {
		var n, nm PIICounts
		text, n = RedactPII(text)
		markdown, nm = RedactPII(markdown)
		res.Doc.PIIRedactions = int32(max(n.Total(), nm.Total()))
		res.Scores["pii_redactions"] = float64(res.Doc.PIIRedactions)
	}
	res.Doc.Text = text
	if markdown != "" {
		res.Doc.Markdown = &markdown
	}
	res.Doc.ContentSHA256 = schemas.SHA256Hex([]byte(text))
	res.Doc.TokenCount = int64(ApproxTokens(text))
	res.Doc.DupClusterSize = 1

	if len(jc.fields) > 0 {
		res.Fields = ExtractFields(jc.fields, ex)
	}
	if len(reasons) > 0 {
		return reject(reasons...)
	}

	// Dedup only documents that would be kept, so rejects do not shadow
	// later good copies.
	if cfg.ExactDedup || cfg.NearDedup {
		key := p.dedup.Key(text)
		res.DedupKey = &key
		d := p.dedup.Add(key, cfg.ExactDedup, cfg.NearDedup)
		res.Doc.DupClusterSize = int32(d.ClusterSize)
		res.Scores["dup_cluster_size"] = float64(d.ClusterSize)
		switch {
		case d.Exact:
			return reject("dedup:exact")
		case d.Near:
			return reject("dedup:near")
		}
	}

	// Route.
	res.Decision = Accept
	if ex.Confidence < cfg.ReviewConfidence {
		res.Reasons = append(res.Reasons, "review:low_confidence")
	}
	if th := cfg.languageThreshold(lang); score < th+cfg.ReviewMargin {
		res.Reasons = append(res.Reasons, "review:borderline_language")
	}
	if c.Truncated {
		res.Reasons = append(res.Reasons, "review:truncated_body")
	}
	if len(chk.near) > 0 {
		res.Reasons = append(res.Reasons, "review:borderline_quality")
		res.Scores["borderline_rules"] = float64(len(chk.near))
	}
	if cfg.AuditFraction > 0 && auditDraw(pageURL) < cfg.AuditFraction {
		res.Reasons = append(res.Reasons, "review:audit")
	}
	if len(res.Reasons) > 0 {
		res.Decision = Review
		res.Detail = describe(res.Reasons, res.Scores, "")
	}
	return res
}

// fetchReason gives the reason code of a failed fetch. Capture.Error is
// "code: detail"; a robots.txt refusal is its own reason, since it is the
// site's choice, not a failure.
func fetchReason(captureErr string) string {
	code, _, _ := strings.Cut(captureErr, ":")
	if strings.TrimSpace(code) == "robots" {
		return "robots:disallowed"
	}
	return "fetch:error"
}

// reasonScores maps the reasons whose rule is not named after its score
// to the scores that decided them.
var reasonScores = map[string][]string{
	"lang:low_score":             {"language_score"},
	"lang:not_wanted":            {"language_score"},
	"dedup:exact":                {"dup_cluster_size"},
	"dedup:near":                 {"dup_cluster_size"},
	"review:low_confidence":      {"extract_confidence"},
	"review:borderline_language": {"language_score"},
	"review:borderline_quality":  {"borderline_rules"},
	"extract:empty":              {"extract_confidence"},
}

// describe writes the human detail of a verdict: every reason in order,
// each with the scores that decided it ("quality:gopher_stop_words
// (gopher_stop_words=1)"), then the error text when there is one.
func describe(reasons []string, scores map[string]float64, errText string) string {
	var b strings.Builder
	for i, r := range reasons {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r)
		names := reasonScores[r]
		if rule, ok := strings.CutPrefix(r, "quality:"); ok {
			names = []string{rule}
		}
		var parts []string
		for _, n := range names {
			if v, ok := scores[n]; ok {
				parts = append(parts, fmt.Sprintf("%s=%.4g", n, v))
			}
		}
		if len(parts) > 0 {
			b.WriteString(" (" + strings.Join(parts, ", ") + ")")
		}
	}
	if errText != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(errText)
	}
	return b.String()
}

// auditDraw maps a URL to a fixed number in [0, 1), so the audit sample is
// reproducible.
func auditDraw(u string) float64 {
	h := sha256.Sum256([]byte("sward/audit\x00" + u))
	return float64(binary.BigEndian.Uint64(h[:8])>>11) / float64(uint64(1)<<53)
}

// document fills the Document fields known before the text is final.
func (p *Pipeline) document(c *schemas.Capture, job *schemas.JobSpec, ex *Extracted, pageURL string) *schemas.Document {
	fetched := c.FetchedAt.UTC()
	// CaptureCID names the stored signed capture; only the caller that
	// stores it (coordinator or offline run) knows it, and sets it.
	d := &schemas.Document{
		URL:        c.URL,
		Date:       fetched.Format(time.RFC3339),
		FetchedAt:  fetched,
		NodePeerID: c.NodePeerID,
		JobID:      c.JobID,
	}
	if d.JobID == "" && job != nil {
		d.JobID = job.Name
	}
	// The one document-ID function of both paths (schemas.DocumentID); a
	// capture without a usable URL is named by its body.
	d.ID, _, _ = schemas.PageDocumentID(d.JobID, pageURL, "body:"+c.BodySHA256)
	if u, err := url.Parse(pageURL); err == nil {
		d.Host = strings.ToLower(u.Hostname())
	}
	opt := func(s string) *string {
		if s = strings.TrimSpace(Normalize(s)); s == "" {
			return nil
		}
		return &s
	}
	d.Title, d.Author, d.SiteName = opt(ex.Title), opt(ex.Author), opt(ex.SiteName)
	d.Description, d.CanonicalURL = opt(ex.Description), opt(ex.CanonicalURL)
	d.PublishedAt = ex.PublishedAt
	d.PageType = ex.PageType
	if len(ex.JSONLD) > 0 || len(ex.OpenGraph) > 0 {
		sd := map[string]any{}
		if len(ex.JSONLD) > 0 {
			sd["jsonld"] = ex.JSONLD
		}
		if og := openGraphOnly(ex.OpenGraph); len(og) > 0 {
			sd["opengraph"] = og
		}
		if len(sd) > 0 {
			if raw, err := json.Marshal(sd); err == nil {
				s := string(raw)
				d.StructuredData = &s
			}
		}
	}
	return d
}

// openGraphOnly drops the helper keys pageMetadata adds (link:*).
func openGraphOnly(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if !strings.HasPrefix(k, "link:") && v != "" {
			out[k] = v
		}
	}
	return out
}

// ApproxTokens estimates a GPT-2-style token count without a vocabulary:
// every punctuation mark is a token, and a word is one token per started
// four characters beyond the first four (long words split into pieces).
// Unspaced scripts count one token per character.
func ApproxTokens(s string) int {
	n, run := 0, 0
	flush := func() {
		if run > 0 {
			n += 1 + (run-1)/4
			run = 0
		}
	}
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Thai, r):
			flush()
			n++
		case isWordRune(r):
			run++
		case unicode.IsSpace(r):
			flush()
		default:
			flush()
			n++ // punctuation, symbols and other marks
		}
	}
	flush()
	return n
}
