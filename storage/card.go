package storage

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/swardnet/sward/schemas"
	"gopkg.in/yaml.v3"
)

// cardHeader is the Hugging Face dataset card front matter: `configs` with
// `data_files` tells `datasets.load_dataset` where each table's shards are.
type cardHeader struct {
	License    string       `yaml:"license"`
	Language   []string     `yaml:"language,omitempty"`
	PrettyName string       `yaml:"pretty_name"`
	Tags       []string     `yaml:"tags"`
	TaskCats   []string     `yaml:"task_categories"`
	Configs    []cardConfig `yaml:"configs"`
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
		License:    license,
		PrettyName: m.Dataset,
		Tags:       []string{"sward", "web-crawl", "parquet"},
		TaskCats:   []string{"text-generation"},
		Configs: []cardConfig{{
			ConfigName: "default", Default: true,
			DataFiles: []cardDataFiles{{Split: "train", Path: dataDir + "/train-*.parquet"}},
		}, {
			ConfigName: "chunks",
			DataFiles:  []cardDataFiles{{Split: "train", Path: chunksDir + "/train-*.parquet"}},
		}},
	}
	if len(m.Tables[rejectsDir]) > 0 {
		hdr.Configs = append(hdr.Configs, cardConfig{
			ConfigName: "rejects",
			DataFiles:  []cardDataFiles{{Split: "train", Path: rejectsDir + "/train-*.parquet"}},
		})
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
	b.WriteString("\nThe `chunks` config holds retrieval passages: `document_id`, `chunk_index`, `text`, `char_start`, `char_end` (code-point offsets into the document text), `token_estimate`, `url`.\n")

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

	b.WriteString("\n## Provenance\n\n")
	if m.JobID != "" {
		fmt.Fprintf(&b, "- crawl job: `%s`\n", m.JobID)
	}
	if m.Parent != "" {
		fmt.Fprintf(&b, "- parent version: `%s`\n", m.Parent)
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
