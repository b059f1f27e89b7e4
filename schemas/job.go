package schemas

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// JobSpec is what an ML team submits: where to crawl, how far, how politely,
// and which dataset the result becomes. It is written in YAML.
type JobSpec struct {
	Version  int      `yaml:"version" json:"version"`
	Name     string   `yaml:"name" json:"name"`
	Dataset  string   `yaml:"dataset" json:"dataset"`
	Seeds    []string `yaml:"seeds" json:"seeds"`
	Sitemaps []string `yaml:"sitemaps,omitempty" json:"sitemaps,omitempty"`
	Scope    Scope    `yaml:"scope" json:"scope"`
	// MaxDepth is how many links away from a seed the crawl goes: seeds
	// are at 0, a page's links and a sitemap's entries (child sitemaps
	// too) one deeper than it. Left out of the YAML it is 5; written as
	// 0 it fetches the seeds (and named sitemaps) only.
	MaxDepth int `yaml:"max_depth" json:"max_depth"`
	MaxPages int `yaml:"max_pages" json:"max_pages"`
	// RecrawlInterval re-queues fetched URLs after this long; zero crawls once.
	RecrawlInterval Duration `yaml:"recrawl_interval,omitempty" json:"recrawl_interval,omitempty"`
	// Politeness may only make the crawl stricter than the node defaults.
	Politeness Politeness `yaml:"politeness,omitempty" json:"politeness,omitempty"`
	// TDMPolicy says what to do with pages that reserve AI/TDM use:
	// "skip" (the default) drops them, "record" keeps them and marks them.
	TDMPolicy string `yaml:"tdm_policy,omitempty" json:"tdm_policy,omitempty"`
	// VerifySampleRate is the fraction of captures re-fetched by a second
	// node to check honesty (default 0.05).
	VerifySampleRate float64 `yaml:"verify_sample_rate,omitempty" json:"verify_sample_rate,omitempty"`
	// Languages, when set, lists the ISO 639-1 codes the pipeline keeps.
	Languages []string `yaml:"languages,omitempty" json:"languages,omitempty"`
	// Quality overrides pipeline thresholds by name (see pipeline.Thresholds).
	Quality map[string]float64 `yaml:"quality,omitempty" json:"quality,omitempty"`
	// Fields declares structured fields to extract into typed columns.
	Fields []FieldSpec `yaml:"fields,omitempty" json:"fields,omitempty"`
}

// Scope limits which discovered URLs are followed.
type Scope struct {
	// Domains are host names (with port when not the default) whose URLs are
	// in scope. A leading "*." also admits subdomains.
	Domains []string `yaml:"domains" json:"domains"`
	Include []string `yaml:"include,omitempty" json:"include,omitempty"`
	Exclude []string `yaml:"exclude,omitempty" json:"exclude,omitempty"`
}

// Politeness is a per-host budget: never more than MaxConcurrency requests
// in flight and never two starts closer than MinDelay, across the network.
type Politeness struct {
	MinDelay       Duration `yaml:"min_delay,omitempty" json:"min_delay,omitempty"`
	MaxConcurrency int      `yaml:"max_concurrency,omitempty" json:"max_concurrency,omitempty"`
}

// TDM policies.
const (
	TDMSkip   = "skip"
	TDMRecord = "record"
)

// Duration is a time.Duration written as "250ms" or "1h" in YAML and JSON.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 500ms or 2h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalText writes the duration as a string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// SpecError is an invalid job spec, with the YAML line when known.
type SpecError struct {
	Line   int
	Field  string
	Reason string
}

func (e *SpecError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("job spec line %d: %s: %s", e.Line, e.Field, e.Reason)
	}
	return fmt.Sprintf("job spec: %s: %s", e.Field, e.Reason)
}

// ParseJobSpec decodes and validates a YAML job spec. Unknown fields are
// errors, so a typo does not silently change a crawl.
func ParseJobSpec(data []byte) (*JobSpec, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("job spec: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s JobSpec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("job spec: %w", err)
	}
	// max_depth: 0 written out means the seeds only; left out, the default.
	s.applyDefaults(lineOf(&root, "max_depth") > 0)
	if err := s.Validate(); err != nil {
		var se *SpecError
		if errors.As(err, &se) && se.Line == 0 {
			se.Line = lineOf(&root, se.Field)
		}
		return nil, err
	}
	return &s, nil
}

// lineOf finds the line of a top-level key (or its first path element).
func lineOf(root *yaml.Node, field string) int {
	key := strings.SplitN(field, ".", 2)[0]
	key = strings.SplitN(key, "[", 2)[0]
	if len(root.Content) == 0 {
		return 0
	}
	m := root.Content[0]
	idx := -1
	if _, rest, ok := strings.Cut(field, "["); ok {
		fmt.Sscanf(rest, "%d", &idx)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			if v := m.Content[i+1]; idx >= 0 && v.Kind == yaml.SequenceNode && idx < len(v.Content) {
				return v.Content[idx].Line
			}
			return m.Content[i].Line
		}
	}
	return 0
}

// applyDefaults fills the fields left unset; depthGiven says the spec
// named max_depth, so a 0 there is kept rather than defaulted.
func (s *JobSpec) applyDefaults(depthGiven bool) {
	if s.Version == 0 {
		s.Version = JobSpecVersion
	}
	if s.TDMPolicy == "" {
		s.TDMPolicy = TDMSkip
	}
	if s.VerifySampleRate == 0 {
		s.VerifySampleRate = 0.05
	}
	if s.MaxDepth == 0 && !depthGiven {
		s.MaxDepth = 5
	}
	if s.Dataset == "" {
		s.Dataset = s.Name
	}
	if len(s.Scope.Domains) == 0 {
		for _, seed := range s.Seeds {
			if u, err := url.Parse(seed); err == nil && u.Host != "" {
				s.Scope.Domains = appendUnique(s.Scope.Domains, strings.ToLower(u.Host))
			}
		}
	}
}

func appendUnique(xs []string, x string) []string {
	for _, y := range xs {
		if y == x {
			return xs
		}
	}
	return append(xs, x)
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Validate reports the first problem with the spec.
func (s *JobSpec) Validate() error {
	if err := checkVersion("job spec", s.Version, JobSpecVersion); err != nil {
		return &SpecError{Field: "version", Reason: err.Error()}
	}
	if !namePattern.MatchString(s.Name) {
		return &SpecError{Field: "name", Reason: "must be 1-64 lowercase letters, digits, '.', '_' or '-'"}
	}
	if !namePattern.MatchString(s.Dataset) {
		return &SpecError{Field: "dataset", Reason: "must be 1-64 lowercase letters, digits, '.', '_' or '-'"}
	}
	if len(s.Seeds) == 0 && len(s.Sitemaps) == 0 {
		return &SpecError{Field: "seeds", Reason: "give at least one seed URL or sitemap"}
	}
	for i, seed := range append(append([]string{}, s.Seeds...), s.Sitemaps...) {
		field := fmt.Sprintf("seeds[%d]", i)
		if i >= len(s.Seeds) {
			field = fmt.Sprintf("sitemaps[%d]", i-len(s.Seeds))
		}
		if reason := seedProblem(seed); reason != "" {
			return &SpecError{Field: field, Reason: fmt.Sprintf("%q %s", seed, reason)}
		}
	}
	for _, p := range append(append([]string{}, s.Scope.Include...), s.Scope.Exclude...) {
		if _, err := regexp.Compile(p); err != nil {
			return &SpecError{Field: "scope", Reason: fmt.Sprintf("pattern %q: %v", p, err)}
		}
	}
	if s.MaxDepth < 0 || s.MaxDepth > 100 {
		return &SpecError{Field: "max_depth", Reason: "must be between 0 and 100"}
	}
	if s.MaxPages < 0 {
		return &SpecError{Field: "max_pages", Reason: "must not be negative"}
	}
	if s.RecrawlInterval < 0 {
		return &SpecError{Field: "recrawl_interval", Reason: "must not be negative"}
	}
	if s.Politeness.MinDelay < 0 || s.Politeness.MaxConcurrency < 0 {
		return &SpecError{Field: "politeness", Reason: "must not be negative"}
	}
	if s.TDMPolicy != TDMSkip && s.TDMPolicy != TDMRecord {
		return &SpecError{Field: "tdm_policy", Reason: fmt.Sprintf("%q is not %q or %q", s.TDMPolicy, TDMSkip, TDMRecord)}
	}
	if s.VerifySampleRate < 0 || s.VerifySampleRate > 1 {
		return &SpecError{Field: "verify_sample_rate", Reason: "must be between 0 and 1"}
	}
	if err := validateFields(s.Fields); err != nil {
		return err
	}
	return nil
}

// seedProblem says why a seed or sitemap is not a valid absolute http(s)
// URL, or "" when it is. Spaces and control characters are refused rather
// than escaped: in a seed they are almost always a YAML slip (a value run
// into the next line, a comment without "#").
func seedProblem(seed string) string {
	for _, r := range seed {
		if r == ' ' || r == '\t' || r < 0x20 || r == 0x7f {
			return "contains a space or control character; quote one URL per list item"
		}
	}
	u, err := url.Parse(seed)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "is not an absolute http(s) URL"
	}
	if _, err := NormalizeURL(seed); err != nil {
		return "is not a crawlable URL: " + err.Error()
	}
	return ""
}

// InScope reports whether a URL belongs to the job's scope.
func (s *JobSpec) InScope(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	host := strings.ToLower(u.Host)
	ok := false
	for _, d := range s.Scope.Domains {
		d = strings.ToLower(d)
		if host == d || (strings.HasPrefix(d, "*.") && strings.HasSuffix(host, d[1:])) {
			ok = true
			break
		}
	}
	if !ok {
		return false
	}
	if len(s.Scope.Include) > 0 {
		matched := false
		for _, p := range s.Scope.Include {
			if regexp.MustCompile(p).MatchString(raw) {
				matched = true
				break
			}
		}
		if !matched {
			return false
		}
	}
	for _, p := range s.Scope.Exclude {
		if regexp.MustCompile(p).MatchString(raw) {
			return false
		}
	}
	return true
}
