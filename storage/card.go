package storage

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/swardnet/sward/schemas"
	"gopkg.in/yaml.v3"
)

// cardHeader is the Hugging Face dataset card front matter: `configs` with
// `data_files` tells `datasets.load_dataset` where each table's shards are.
type cardHeader struct {
	License     string       `yaml:"license"`
	LicenseName string       `yaml:"license_name,omitempty"`
	LicenseLink string       `yaml:"license_link,omitempty"`
	Language    []string     `yaml:"language,omitempty"`
	PrettyName  string       `yaml:"pretty_name"`
	SizeCats    []string     `yaml:"size_categories"`
	Tags        []string     `yaml:"tags"`
	TaskCats    []string     `yaml:"task_categories"`
	Configs     []cardConfig `yaml:"configs"`
	DatasetInfo []cardInfo   `yaml:"dataset_info"`
}

// cardInfo is one config's `dataset_info` entry: its columns and their
// Hugging Face dtypes, and the size of its one split.
type cardInfo struct {
	ConfigName   string        `yaml:"config_name"`
	Features     []cardFeature `yaml:"features"`
	Splits       []cardSplit   `yaml:"splits"`
	DownloadSize int64         `yaml:"download_size"`
}

type cardFeature struct {
	Name  string `yaml:"name"`
	Dtype string `yaml:"dtype"`
}

type cardSplit struct {
	Name        string `yaml:"name"`
	NumExamples int64  `yaml:"num_examples"`
}

// DefaultLicenseName and DefaultLicenseLink describe the licence of a
// dataset whose VersionMeta names none: the pages keep their publishers'
// terms (the card's "Licence" section says so).
const (
	DefaultLicenseName = "publishers-terms"
	DefaultLicenseLink = "https://github.com/swardnet/sward/blob/main/docs/FORMATS.md#licence"
)

// hfDtype is the Hugging Face `datasets` dtype of an Arrow type, as the
// Hub writes it in `dataset_info`.
func hfDtype(t arrow.DataType) string {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING:
		return "string"
	case arrow.BOOL:
		return "bool"
	}
	return t.String() // float64, int64, int32, timestamp[us, tz=UTC]
}

func features(schema *arrow.Schema) []cardFeature {
	out := make([]cardFeature, 0, schema.NumFields())
	for _, f := range schema.Fields() {
		out = append(out, cardFeature{Name: f.Name, Dtype: hfDtype(f.Type)})
	}
	return out
}

func tableInfo(config string, schema *arrow.Schema, shards []schemas.Shard) cardInfo {
	var rows int64
	for _, sh := range shards {
		rows += sh.Rows
	}
	return cardInfo{
		ConfigName: config, Features: features(schema),
		Splits: []cardSplit{{Name: "train", NumExamples: rows}}, DownloadSize: shardBytes(shards),
	}
}

// sizeCategory is the Hub's size_categories bucket for n rows.
func sizeCategory(n int64) string {
	bounds := []struct {
		max  int64
		name string
	}{
		{1e3, "n<1K"}, {1e4, "1K<n<10K"}, {1e5, "10K<n<100K"}, {1e6, "100K<n<1M"},
		{1e7, "1M<n<10M"}, {1e8, "10M<n<100M"}, {1e9, "100M<n<1B"}, {1e10, "1B<n<10B"},
		{1e11, "10B<n<100B"}, {1e12, "100B<n<1T"},
	}
	for _, b := range bounds {
		if n < b.max {
			return b.name
		}
	}
	return "n>1T"
}

type cardConfig struct {
	ConfigName string          `yaml:"config_name"`
	Default    bool            `yaml:"default,omitempty"`
	DataFiles  []cardDataFiles `yaml:"data_files"`
}

type cardDataFiles struct {
	Split string `yaml:"split"`
	Path  string `yaml:"path"`
}

// renderCard writes README.md: YAML front matter and a human summary of the
// schema, counts, languages, hosts, crawl dates, filters, TDM policy and
// provenance. It depends only on m and meta, so it is reproducible.
func renderCard(m *schemas.Manifest, meta VersionMeta) ([]byte, error) {
	license := meta.License
	if license == "" {
		license = "other"
	}
	hdr := cardHeader{
		License:     license,
		LicenseName: meta.LicenseName,
		LicenseLink: meta.LicenseLink,
		PrettyName:  m.Dataset,
		SizeCats:    []string{sizeCategory(m.Rows)},
		Tags:        []string{"sward", "web-crawl", "parquet"},
		TaskCats:    []string{"text-generation"},
	}
	if license == "other" {
		if hdr.LicenseName == "" {
			hdr.LicenseName = DefaultLicenseName
		}
		if hdr.LicenseLink == "" {
			hdr.LicenseLink = DefaultLicenseLink
		}
	}
	tables := []struct {
		config, dir string
		schema      *arrow.Schema
		shards      []schemas.Shard
	}{
		{"default", dataDir, schemas.DocumentSchema, m.Shards},
		{"markdown", markdownDir, schemas.MarkdownSchema, m.Tables[markdownDir]},
		{"chunks", chunksDir, ChunkSchema, m.Tables[chunksDir]},
		{"rejects", rejectsDir, RejectSchema, m.Tables[rejectsDir]},
	}
	for _, t := range tables {
		if len(t.shards) == 0 {
			continue // rejects only when there are any
		}
		hdr.Configs = append(hdr.Configs, cardConfig{
			ConfigName: t.config, Default: t.config == "default",
			DataFiles: []cardDataFiles{{Split: "train", Path: t.dir + "/train-*.parquet"}},
		})
		hdr.DatasetInfo = append(hdr.DatasetInfo, tableInfo(t.config, t.schema, t.shards))
	}
	for _, kv := range topCounts(m.Languages, 0) {
		if kv.key != "" && kv.key != "unknown" {
			hdr.Language = append(hdr.Language, kv.key)
		}
	}
	y, err := yaml.Marshal(&hdr)
	if err != nil {
		return nil, fmt.Errorf("rendering dataset card: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "---\n%s---\n\n# %s\n\n", y, m.Dataset)
	if meta.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(meta.Description))
	}
	fmt.Fprintf(&b, "A web-crawl dataset built by [sward](https://github.com/swardnet/sward). "+
		"This version is content-addressed: its directory CID names it, and every block is verified on download.\n\n")
	b.WriteString("## Loading\n\n```python\nfrom datasets import load_dataset\nds = load_dataset(\"parquet\", data_files=\"data/*.parquet\", split=\"train\")\n```\n\n")
	b.WriteString("```sql\n-- DuckDB\nSELECT * FROM 'data/*.parquet' LIMIT 10;\n```\n\n")
	b.WriteString("```python\nimport polars as pl\ndf = pl.read_parquet(\"data/*.parquet\")\n```\n\n")

	b.WriteString("## Contents\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n| documents | %d |\n| rejected pages | %d |\n| shards | %d |\n| bytes | %d |\n",
		m.Rows, m.Rejected, len(m.Shards), shardBytes(m.Shards))
	fmt.Fprintf(&b, "| chunks shards | %d |\n", len(m.Tables[chunksDir]))
	if m.CrawlStart != nil {
		fmt.Fprintf(&b, "| crawl start | %s |\n", m.CrawlStart.UTC().Format(time.RFC3339))
	}
	if m.CrawlEnd != nil {
		fmt.Fprintf(&b, "| crawl end | %s |\n", m.CrawlEnd.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&b, "| created | %s |\n\n", m.CreatedAt.UTC().Format(time.RFC3339))

	b.WriteString("### Languages\n\n| language | documents |\n|---|---|\n")
	for _, kv := range topCounts(m.Languages, 50) {
		fmt.Fprintf(&b, "| %s | %d |\n", mdEscape(kv.key), kv.n)
	}
	b.WriteString("\n### Hosts\n\n| host | documents |\n|---|---|\n")
	hosts := topCounts(m.Hosts, 50)
	for _, kv := range hosts {
		fmt.Fprintf(&b, "| %s | %d |\n", mdEscape(kv.key), kv.n)
	}
	if len(m.Hosts) > len(hosts) {
		fmt.Fprintf(&b, "| (%d more hosts) | |\n", len(m.Hosts)-len(hosts))
	}

	b.WriteString("\n## Schema\n\nThe first columns match FineWeb's (`text`, `id`, `url`, `date`, `language`, `language_score`, `token_count`).\n\n| column | type | nullable |\n|---|---|---|\n")
	for _, c := range m.Schema {
		fmt.Fprintf(&b, "| %s | %s | %v |\n", c.Name, c.Type, c.Nullable)
	}
	b.WriteString("\nThe `markdown` config holds each document's article as Markdown (`id`, `markdown`), apart from the default config so a training download carries the article once; join on `id`.\n")
	b.WriteString("\nThe `chunks` config holds retrieval passages: `document_id`, `chunk_index`, `text`, `char_start`, `char_end` (code-point offsets into the document text), `token_estimate`, `url`, `title`, `language`.\n")

	b.WriteString("\n## Curation\n\n")
	if len(m.Filters) == 0 {
		b.WriteString("Filters applied: none recorded.\n")
	} else {
		b.WriteString("Filters applied:\n\n")
		for _, f := range m.Filters {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}
	policy := m.TDMPolicy
	if policy == "" {
		policy = schemas.TDMSkip
	}
	fmt.Fprintf(&b, "\nTDM / AI opt-out policy: `%s`. ", policy)
	if policy == schemas.TDMSkip {
		b.WriteString("Pages that reserved text-and-data mining or AI use (robots noai, TDMRep, Content-Usage) were not included.\n")
	} else {
		b.WriteString("Pages that reserved text-and-data mining or AI use were kept and are marked; respect their reservation.\n")
	}

	b.WriteString("\n## Licence\n\n")
	if license == "other" {
		fmt.Fprintf(&b, "`%s` ([terms](%s)): ", hdr.LicenseName, hdr.LicenseLink)
		b.WriteString("each page remains under its publisher's copyright and terms; this dataset grants no licence to the text. The crawl metadata (ids, URLs, dates, provenance) is free to use.\n")
	} else {
		fmt.Fprintf(&b, "`%s`", license)
		if hdr.LicenseLink != "" {
			fmt.Fprintf(&b, " ([terms](%s))", hdr.LicenseLink)
		}
		b.WriteString(".\n")
	}

	b.WriteString("\n## Provenance\n\n")
	if m.JobID != "" {
		fmt.Fprintf(&b, "- crawl job: `%s`\n", m.JobID)
	}
	if m.Parent != "" {
		fmt.Fprintf(&b, "- parent version: `%s`\n", m.Parent)
		if m.Retracted > 0 {
			fmt.Fprintf(&b, "- retracted: %d rows of the parent version are left out (pages of a node convicted of lying, which an honest re-fetch may replace, and pages taken down on request)\n", m.Retracted)
		}
	} else {
		b.WriteString("- parent version: none (first version)\n")
	}
	b.WriteString("- every document carries `capture_cid` (the signed capture it came from) and `node_peer_id` (the peer that fetched it)\n")
	b.WriteString("- `manifest.json` lists every shard with its CID, row count, size and SHA-256\n")
	return b.Bytes(), nil
}

type kv struct {
	key string
	n   int64
}

// topCounts sorts counts by descending count then key; limit 0 means all.
func topCounts(m map[string]int64, limit int) []kv {
	out := make([]kv, 0, len(m))
	for k, n := range m {
		out = append(out, kv{k, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].n != out[j].n {
			return out[i].n > out[j].n
		}
		return out[i].key < out[j].key
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

func shardBytes(shards []schemas.Shard) int64 {
	var n int64
	for _, s := range shards {
		n += s.Bytes
	}
	return n
}

func mdEscape(s string) string {
	if s == "" {
		return "(none)"
	}
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}
