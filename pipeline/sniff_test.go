package pipeline

import (
	"net/http"
	"strings"
	"testing"
)

// netHTTPSaysBinary is the rule Decode used while it called net/http: a
// type DetectContentType names that is neither text, XML, JSON nor its
// "don't know" answer is binary. The pipeline's own code no longer
// imports net/http (its dependency go-readability still does); its tests
// hold the sniffer to the same answers.
func netHTTPSaysBinary(body []byte) bool {
	ct := http.DetectContentType(body[:min(len(body), 1024)])
	return !strings.HasPrefix(ct, "text/") && !strings.Contains(ct, "xml") && !strings.Contains(ct, "json") &&
		ct != "application/octet-stream"
}

// sniffSeeds are one body per signature and the text patterns that win
// over them, including the cases where only the order decides.
var sniffSeeds = []struct {
	body   string
	binary bool
}{
	{"", false},
	{"plain words", false},
	{"<!DOCTYPE html><p>x</p>", false},
	{"  \n<HtMl lang=en>", false},
	{"<html", false}, // no tag-terminating byte: not HTML, but not binary either
	{"<?xml version='1.0'?>", false},
	{"\xEF\xBB\xBFtext", false},
	{"\xFE\xFF\x00t", false},
	{"\xFF\xFEt\x00", false},
	{"%PDF-1.7", true},
	{"%!PS-Adobe-3.0", true},
	{"\x00\x00\x01\x00icon", true},
	{"\x00\x00\x02\x00cursor", true},
	{"BMP-ish", true},
	{"GIF87a...", true},
	{"GIF89a...", true},
	{"RIFF\x10\x00\x00\x00WEBPVP8 ", true},
	{"RIFF\x10\x00\x00\x00WEBP", false}, // too short for "WEBPVP"
	{"\x89PNG\r\n\x1a\n", true},
	{"\xFF\xD8\xFF\xE0", true},
	{"FORM\x00\x00\x00\x00AIFF", true},
	{"ID3\x04", true},
	{"OggS\x00\x02", true},
	{"MThd\x00\x00\x00\x06", true},
	{"RIFF\x00\x00\x00\x00AVI LIST", true},
	{"RIFF\x00\x00\x00\x00WAVEfmt ", true},
	{"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp41isom", true},
	{"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isomiso2", false},
	{"\x00\x00\x00\x14ftypisom\x00\x00\x00\x00mp41", true},
	{"\x00\x00\x04\x00ftypmp42\x00\x00\x00\x00mp41isom", false}, // box longer than the body
	{"\x1A\x45\xDF\xA3", true},
	{strings.Repeat("a", 34) + "LP", true},
	{"<html>" + strings.Repeat("a", 28) + "LP", false}, // HTML is checked first
	{"\xEF\xBB\xBF" + strings.Repeat("a", 31) + "LP", false},
	{"\x00\x01\x00\x00", true},
	{"OTTO", true},
	{"ttcf", true},
	{"wOFF", true},
	{"wOF2", true},
	{"\x1F\x8B\x08\x00", true},
	{"PK\x03\x04", true},
	{"Rar!\x1A\x07\x00", true},
	{"Rar!\x1A\x07\x01\x00", true},
	{"\x00asm\x01\x00\x00\x00", true},
	{strings.Repeat(" ", 600) + "BM", false}, // beyond the sniffed header
}

func TestHasBinarySignature(t *testing.T) {
	for _, c := range sniffSeeds {
		if got := hasBinarySignature([]byte(c.body)); got != c.binary {
			t.Errorf("hasBinarySignature(%q) = %v, want %v", c.body, got, c.binary)
		}
		if want := netHTTPSaysBinary([]byte(c.body)); want != c.binary {
			t.Errorf("test case %q: net/http says binary=%v; fix the case", c.body, want)
		}
	}
}

// FuzzSniffAgreesWithNetHTTP: on any body, the pipeline's sniffer finds a
// binary signature exactly when net/http's DetectContentType names a
// binary type, so dropping net/http changed no Decode outcome.
func FuzzSniffAgreesWithNetHTTP(f *testing.F) {
	for _, c := range sniffSeeds {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if got, want := hasBinarySignature(body), netHTTPSaysBinary(body); got != want {
			t.Fatalf("hasBinarySignature(%q) = %v, net/http says %v (%s)", body, got, want, http.DetectContentType(body))
		}
	})
}
