package storage

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/swardnet/sward/schemas"
	"gopkg.in/yaml.v3"
)

// frontMatter is the part of a Hugging Face dataset card's YAML header the
// tests read, decoded independently of the types that wrote it.
type frontMatter struct {
	License        string   `yaml:"license"`
	LicenseName    string   `yaml:"license_name"`
	LicenseLink    string   `yaml:"license_link"`
	SizeCategories []string `yaml:"size_categories"`
	Configs        []struct {
		ConfigName string `yaml:"config_name"`
		Default    bool   `yaml:"default"`
		DataFiles  []struct {
			Split string `yaml:"split"`
			Path  string `yaml:"path"`
		} `yaml:"data_files"`
	} `yaml:"configs"`
	DatasetInfo []struct {
		ConfigName string `yaml:"config_name"`
		Features   []struct {
			Name  string `yaml:"name"`
			Dtype string `yaml:"dtype"`
		} `yaml:"features"`
		Splits []struct {
			Name        string `yaml:"name"`
			NumExamples int64  `yaml:"num_examples"`
		} `yaml:"splits"`
		DownloadSize int64 `yaml:"download_size"`
	} `yaml:"dataset_info"`
}

// parseFrontMatter splits README.md into its YAML header and decodes it.
func parseFrontMatter(t *testing.T, card []byte) frontMatter {
	t.Helper()
	rest, ok := bytes.CutPrefix(card, []byte("---\n"))
	if !ok {
		t.Fatalf("card does not start with a YAML front matter:\n%s", card)
	}
	header, _, ok := bytes.Cut(rest, []byte("\n---\n"))
	if !ok {
		t.Fatal("card's front matter is not closed by ---")
	}
	var fm frontMatter
	if err := yaml.Unmarshal(header, &fm); err != nil {
		t.Fatalf("front matter is not YAML: %v\n%s", err, header)
	}
	return fm
}

// TestCardFrontMatter: every table of a published version is a config whose
// dataset_info lists each Parquet column with its Hugging Face dtype and
// the table's row count; size_categories and the licence are set.
func TestCardFrontMatter(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := s.OpenDataset(ctx, "card", DatasetOptions{RowGroupBytes: 8 << 10, ShardBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	docs := testDocs("c", 1200)
	if err := w.Add(ctx, docs...); err != nil {
		t.Fatal(err)
	}
	if err := w.AddRejects(ctx, NewReject("r1", "http://127.0.0.1/r", Verdict{Reasons: []string{"lang"}}, time.Unix(0, 0))); err != nil {
		t.Fatal(err)
	}
	root, m, err := w.Publish(ctx, VersionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	fm := parseFrontMatter(t, readStoreFile(t, s, root, "README.md"))

	if fm.License != "other" || fm.LicenseName != DefaultLicenseName || !strings.HasPrefix(fm.LicenseLink, "https://") {
		t.Errorf("licence: %q %q %q", fm.License, fm.LicenseName, fm.LicenseLink)
	}
	if len(fm.SizeCategories) != 1 || fm.SizeCategories[0] != "1K<n<10K" {
		t.Errorf("size_categories = %v, want [1K<n<10K] for 1200 documents", fm.SizeCategories)
	}
	tables := map[string][]schemas.Shard{"default": m.Shards, "markdown": m.Tables["markdown"], "chunks": m.Tables["chunks"], "rejects": m.Tables["rejects"]}
	dirs := map[string]string{"default": "data", "markdown": "markdown", "chunks": "chunks", "rejects": "rejects"}
	if len(fm.Configs) != len(tables) || len(fm.DatasetInfo) != len(tables) {
		t.Fatalf("%d configs and %d dataset_info entries, want %d each", len(fm.Configs), len(fm.DatasetInfo), len(tables))
	}
	for i, c := range fm.Configs {
		if c.Default != (c.ConfigName == "default") || len(c.DataFiles) != 1 || c.DataFiles[0].Path != dirs[c.ConfigName]+"/train-*.parquet" {
			t.Errorf("config %+v", c)
		}
		if fm.DatasetInfo[i].ConfigName != c.ConfigName {
			t.Errorf("dataset_info %d is %q, config %q", i, fm.DatasetInfo[i].ConfigName, c.ConfigName)
		}
	}
	// The dtype the Hub writes for each Arrow type sward uses.
	dtype := map[string]string{
		"utf8": "string", "float64": "float64", "int64": "int64", "int32": "int32",
		"timestamp[us, tz=UTC]": "timestamp[us, tz=UTC]",
	}
	for _, info := range fm.DatasetInfo {
		shards := tables[info.ConfigName]
		if len(shards) == 0 {
			t.Fatalf("dataset_info for %q, which has no shards", info.ConfigName)
		}
		var rows int64
		for _, sh := range shards {
			rows += sh.Rows
		}
		if len(info.Splits) != 1 || info.Splits[0].Name != "train" || info.Splits[0].NumExamples != rows {
			t.Errorf("%s: splits %+v, want train with %d rows", info.ConfigName, info.Splits, rows)
		}
		if info.DownloadSize != shardBytes(shards) {
			t.Errorf("%s: download_size %d, want %d", info.ConfigName, info.DownloadSize, shardBytes(shards))
		}
		// Features must be exactly the columns stored in the shard.
		sc := shardSchema(t, s, root, shards[0].Path)
		if len(info.Features) != sc.NumFields() {
			t.Fatalf("%s: %d features, shard has %d columns", info.ConfigName, len(info.Features), sc.NumFields())
		}
		for j, f := range sc.Fields() {
			got := info.Features[j]
			if got.Name != f.Name || got.Dtype != dtype[f.Type.String()] {
				t.Errorf("%s feature %d = %s %s, want %s %s", info.ConfigName, j, got.Name, got.Dtype, f.Name, dtype[f.Type.String()])
			}
		}
	}
	for _, name := range []string{"title", "language"} {
		found := false
		for _, f := range fm.DatasetInfo[2].Features {
			found = found || f.Name == name
		}
		if !found {
			t.Errorf("chunks config lacks %s", name)
		}
	}
}

func TestCardLicence(t *testing.T) {
	tests := []struct {
		name             string
		meta             VersionMeta
		license, nm, lnk string
	}{
		{"default", VersionMeta{}, "other", DefaultLicenseName, DefaultLicenseLink},
		{"own other licence", VersionMeta{License: "other", LicenseName: "site-terms", LicenseLink: "https://127.0.0.1/terms"}, "other", "site-terms", "https://127.0.0.1/terms"},
		{"SPDX id", VersionMeta{License: "cc-by-4.0"}, "cc-by-4.0", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			card, err := renderCard(&schemas.Manifest{Dataset: "d"}, tc.meta)
			if err != nil {
				t.Fatal(err)
			}
			fm := parseFrontMatter(t, card)
			if fm.License != tc.license || fm.LicenseName != tc.nm || fm.LicenseLink != tc.lnk {
				t.Errorf("licence %q %q %q, want %q %q %q", fm.License, fm.LicenseName, fm.LicenseLink, tc.license, tc.nm, tc.lnk)
			}
			if !bytes.Contains(card, []byte("## Licence")) {
				t.Error("card has no Licence section")
			}
		})
	}
}

func TestSizeCategory(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "n<1K"}, {999, "n<1K"}, {1000, "1K<n<10K"}, {9999, "1K<n<10K"}, {10000, "10K<n<100K"},
		{999_999, "100K<n<1M"}, {1_000_000, "1M<n<10M"}, {5e9, "1B<n<10B"}, {2e12, "n>1T"},
	}
	for _, tc := range tests {
		if got := sizeCategory(tc.n); got != tc.want {
			t.Errorf("sizeCategory(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
