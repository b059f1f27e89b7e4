package schemas

import (
	"encoding/json"
	"fmt"
	"time"
)

// Manifest describes one dataset version. It is stored as manifest.json at
// the root of the version's UnixFS directory, whose CID names the version.
type Manifest struct {
	Version int    `json:"version"`
	Dataset string `json:"dataset"`
	// Parent is the CID of the previous version, empty for the first.
	Parent    string    `json:"parent,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	JobID     string    `json:"job_id,omitempty"`
	// Schema lists the document table's columns.
	Schema []ColumnInfo `json:"schema"`
	Shards []Shard      `json:"shards"`
	// Tables beyond the main one (for example "chunks" and "rejects").
	Tables   map[string][]Shard `json:"tables,omitempty"`
	Rows     int64              `json:"rows"`
	Rejected int64              `json:"rejected"`
	// Retracted counts the parent's rows (documents and rejects) this
	// version leaves out: pages of a node convicted of lying and pages
	// taken down on request.
	Retracted int64 `json:"retracted,omitempty"`
	// Languages and Hosts count rows by value.
	Languages  map[string]int64 `json:"languages,omitempty"`
	Hosts      map[string]int64 `json:"hosts,omitempty"`
	CrawlStart *time.Time       `json:"crawl_start,omitempty"`
	CrawlEnd   *time.Time       `json:"crawl_end,omitempty"`
	Filters    []string         `json:"filters,omitempty"`
	TDMPolicy  string           `json:"tdm_policy,omitempty"`
}

// ColumnInfo names one column and its Arrow type.
type ColumnInfo struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

// Shard is one Parquet file of a version.
type Shard struct {
	Path   string `json:"path"` // relative to the version root, e.g. data/train-00000-of-00001.parquet
	CID    string `json:"cid"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// DocumentColumns describes DocumentSchema for a manifest.
func DocumentColumns() []ColumnInfo {
	out := make([]ColumnInfo, 0, len(DocumentSchema.Fields()))
	for _, f := range DocumentSchema.Fields() {
		out = append(out, ColumnInfo{Name: f.Name, Type: f.Type.String(), Nullable: f.Nullable})
	}
	return out
}

// ParseManifest decodes and checks a manifest.json.
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if err := checkVersion("manifest", m.Version, ManifestVersion); err != nil {
		return nil, err
	}
	var rows int64
	for _, s := range m.Shards {
		if s.Path == "" || s.CID == "" {
			return nil, fmt.Errorf("manifest: shard without path or cid")
		}
		rows += s.Rows
	}
	if rows != m.Rows {
		return nil, fmt.Errorf("manifest: shards hold %d rows but manifest says %d", rows, m.Rows)
	}
	return &m, nil
}
