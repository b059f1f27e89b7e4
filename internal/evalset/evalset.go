// Package evalset reads labelled page sets from disk for evaluating
// main-content extraction: the article-extraction-benchmark layout and
// the WCXB layout. It is the disk side of `sward pipeline eval` and of the
// pipeline's evaluation tests; scoring stays in the pure pipeline package,
// which this package does not import (so the pipeline's own tests can use
// it), and its Page converts to pipeline.EvalCase field for field.
package evalset

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Page is one labelled page. Its fields are pipeline.EvalCase's, in the
// same order, so pipeline.EvalCase(p) converts it.
type Page struct {
	ID       string
	URL      string
	HTML     []byte
	Expected string
	// PageType is the labelled page type (WCXB), or "" when unlabelled.
	PageType string
}

// Layout names the two labelled-set layouts Load reads.
type Layout string

const (
	// Article is the article-extraction-benchmark layout:
	// ground-truth.json and html/<id>.html.gz, scored with 4-token shingles.
	Article Layout = "article"
	// WCXB is the WCXB layout: ground-truth/<id>.json and
	// html/<id>.html.gz, scored with bag-of-words F1 per page.
	WCXB Layout = "wcxb"
)

// Detect tells which layout dir has, or returns an error saying what was
// expected.
func Detect(dir string) (Layout, error) {
	if st, err := os.Stat(filepath.Join(dir, "ground-truth.json")); err == nil && !st.IsDir() {
		return Article, nil
	}
	if st, err := os.Stat(filepath.Join(dir, "ground-truth")); err == nil && st.IsDir() {
		return WCXB, nil
	}
	return "", fmt.Errorf("%s has neither ground-truth.json (article benchmark) nor ground-truth/ (WCXB): point --data at a labelled set", dir)
}

// Load reads a labelled set in either layout.
func Load(dir string) (Layout, []Page, error) {
	layout, err := Detect(dir)
	if err != nil {
		return "", nil, err
	}
	var pages []Page
	if layout == Article {
		pages, err = LoadArticle(dir)
	} else {
		pages, err = LoadWCXB(dir)
	}
	return layout, pages, err
}

// LoadArticle reads a directory laid out like the article-extraction
// benchmark: ground-truth.json mapping id to {"articleBody", "url"}, and
// html/<id>.html.gz (or html/<id>.html). Pages come back sorted by id.
func LoadArticle(dir string) ([]Page, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "ground-truth.json"))
	if err != nil {
		return nil, fmt.Errorf("loading extraction test set: %w", err)
	}
	var truth map[string]struct {
		ArticleBody string `json:"articleBody"`
		URL         string `json:"url"`
	}
	if err := json.Unmarshal(raw, &truth); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", filepath.Join(dir, "ground-truth.json"), err)
	}
	ids := make([]string, 0, len(truth))
	for id := range truth {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	pages := make([]Page, 0, len(ids))
	for _, id := range ids {
		body, err := readHTML(filepath.Join(dir, "html", id))
		if err != nil {
			return nil, err
		}
		pages = append(pages, Page{ID: id, URL: truth[id].URL, HTML: body, Expected: truth[id].ArticleBody})
	}
	return pages, nil
}

// LoadWCXB reads a directory laid out like WCXB: ground-truth/<id>.json
// holding url, _internal.page_type.primary and ground_truth.main_content,
// and html/<id>.html.gz. Pages come back sorted by id.
func LoadWCXB(dir string) ([]Page, error) {
	entries, err := os.ReadDir(filepath.Join(dir, "ground-truth"))
	if err != nil {
		return nil, fmt.Errorf("loading WCXB set: %w", err)
	}
	var pages []Page
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		id := strings.TrimSuffix(e.Name(), ".json")
		path := filepath.Join(dir, "ground-truth", e.Name())
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("loading WCXB set: %w", err)
		}
		var gt struct {
			URL      string `json:"url"`
			Internal struct {
				PageType struct {
					Primary string `json:"primary"`
				} `json:"page_type"`
			} `json:"_internal"`
			Truth struct {
				Main string `json:"main_content"`
			} `json:"ground_truth"`
		}
		if err := json.Unmarshal(raw, &gt); err != nil {
			return nil, fmt.Errorf("parsing %s: %w (fix or remove the file)", path, err)
		}
		body, err := readHTML(filepath.Join(dir, "html", id))
		if err != nil {
			return nil, err
		}
		pages = append(pages, Page{ID: id, URL: gt.URL, HTML: body, Expected: gt.Truth.Main, PageType: gt.Internal.PageType.Primary})
	}
	sort.Slice(pages, func(i, j int) bool { return pages[i].ID < pages[j].ID })
	return pages, nil
}

// readHTML reads base.html.gz, or base.html when there is no gzipped file.
func readHTML(base string) ([]byte, error) {
	if f, err := os.Open(base + ".html.gz"); err == nil {
		defer f.Close()
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("reading %s.html.gz: %w", base, err)
		}
		defer z.Close()
		b, err := io.ReadAll(z)
		if err != nil {
			return nil, fmt.Errorf("reading %s.html.gz: %w", base, err)
		}
		return b, nil
	}
	b, err := os.ReadFile(base + ".html")
	if err != nil {
		return nil, fmt.Errorf("reading test page: %w", err)
	}
	return b, nil
}
