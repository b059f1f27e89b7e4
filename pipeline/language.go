package pipeline

import (
	"strings"
	"unicode/utf8"

	"github.com/abadojack/whatlanggo"
)

// langSample bounds how much text language ID reads; the first few
// thousand characters decide as well as the whole page, at a fraction of
// the cost.
const langSample = 600

// DetectLanguage identifies the text's language with whatlanggo and
// returns its ISO 639-1 code (ISO 639-3 when there is none) and a 0..1
// confidence. It returns "" and 0 when no language is recognised.
func DetectLanguage(text string) (string, float64) {
	text = proseSample(text)
	if len(text) > langSample*4 {
		text = text[:langSample*4]
		for len(text) > 0 && !utf8.ValidString(text) {
			text = text[:len(text)-1]
		}
	}
	if n := utf8.RuneCountInString(text); n > langSample {
		i := 0
		for j := range text {
			if i == langSample {
				text = text[:j]
				break
			}
			i++
		}
	}
	info := whatlanggo.Detect(text)
	if info.Lang == -1 || info.Confidence <= 0 {
		return "", 0
	}
	code := info.Lang.Iso6391()
	if code == "" {
		code = info.Lang.Iso6393()
	}
	return code, info.Confidence
}

// languageThreshold is the minimum score for lang.
func (c *Config) languageThreshold(lang string) float64 {
	if v, ok := c.LanguageThresholds[lang]; ok {
		return v
	}
	return c.MinLanguageScore
}

// languageAllowed reports whether lang is in the job's list (all are when
// the list is empty).
func (c *Config) languageAllowed(lang string) bool {
	if len(c.Languages) == 0 {
		return true
	}
	for _, l := range c.Languages {
		if strings.EqualFold(l, lang) {
			return true
		}
	}
	return false
}

// proseWords is the word count from which a line counts as prose.
const proseWords = 6

// proseSample returns the text's prose lines (at least proseWords words)
// when they make up enough of a sample, else the text itself. Catalogue
// and listing pages start with product names, prices and menu entries,
// which the trigram model reads as whatever language they resemble
// (English product lists came out fr, it or nb); their sentences tell
// the language.
func proseSample(text string) string {
	var sb strings.Builder
	for line := range strings.Lines(text) {
		if len(strings.Fields(line)) < proseWords {
			continue
		}
		sb.WriteString(strings.TrimSpace(line))
		sb.WriteByte('\n')
		if sb.Len() >= langSample*4 {
			break
		}
	}
	if utf8.RuneCountInString(sb.String()) < 150 {
		return text
	}
	return sb.String()
}
