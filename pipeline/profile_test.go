package pipeline

import (
	"strings"
	"testing"
)

// wordBlocks returns one paragraph block of n four-letter words.
func wordBlocks(n int) []block {
	return []block{{kind: blockPara, text: strings.TrimSpace(strings.Repeat("word ", n))}}
}

func TestChooseBlocks(t *testing.T) {
	tests := []struct {
		name      string
		pageType  string
		primary   int // words in trafilatura's text
		readable  int
		dom       int
		visible   int // word characters on the page
		want      string
		readCalls int
	}{
		{"article kept when strong", PageArticle, 500, 5000, 5000, 2000, SourceTrafilatura, 0},
		{"weak article, readability has 5x more", PageArticle, 50, 600, 0, 10000, SourceReadability, 1},
		{"weak article, readability only a little more", PageArticle, 100, 300, 0, 10000, SourceTrafilatura, 1},
		{"empty article takes readability", PageArticle, 0, 100, 0, 10000, SourceReadability, 1},
		{"near-empty article takes a much longer DOM text", PageArticle, 10, 0, 800, 10000, SourceDOM, 1},
		{"weak article keeps readability over a slightly longer DOM text", PageArticle, 10, 600, 800, 10000, SourceReadability, 1},
		{"listing takes the longer DOM text", PageListing, 300, 0, 400, 2000, SourceDOM, 0},
		{"listing keeps trafilatura when DOM finds nothing more", PageListing, 300, 0, 250, 2000, SourceTrafilatura, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			c := candidates{
				primary: nil,
				visible: tt.visible * 4,
				dom:     func() []block { return nonEmpty(tt.dom) },
				readable: func() []block {
					calls++
					return nonEmpty(tt.readable)
				},
			}
			c.primary = nonEmpty(tt.primary)
			_, got := chooseBlocks(tt.pageType, c)
			if got != tt.want {
				t.Errorf("source %q, want %q", got, tt.want)
			}
			if calls != tt.readCalls {
				t.Errorf("readability run %d times, want %d", calls, tt.readCalls)
			}
		})
	}
}

func nonEmpty(n int) []block {
	if n == 0 {
		return nil
	}
	return wordBlocks(n)
}
