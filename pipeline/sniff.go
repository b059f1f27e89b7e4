package pipeline

import (
	"bytes"
	"encoding/binary"
)

// sniffLen is how much of a body the WHATWG MIME sniffing algorithm looks
// at ("the resource header").
const sniffLen = 512

// hasBinarySignature reports whether body begins like a known binary
// format (image, audio, video, font, archive, PDF, PostScript, wasm) by the
// signature tables of the WHATWG MIME Sniffing Standard, checked after its
// HTML, XML and BOM patterns as the standard orders them. It is the one
// part of sniffing Decode needs (is a body labelled as text really
// something else?), and it agrees with net/http's DetectContentType on
// that question: the differential fuzz test FuzzSniffAgreesWithNetHTTP
// holds it to that. The pipeline's code does not import net/http itself
// (internal/importgraph holds its direct imports to no network package),
// although go-readability, one of its dependencies, links it in.
func hasBinarySignature(body []byte) bool {
	head := body[:min(len(body), sniffLen)]
	if looksTextual(head) {
		return false
	}
	for _, s := range binarySignatures {
		if s.match(head) {
			return true
		}
	}
	return isMP4(head)
}

// htmlTags are the tags (upper case) that mark HTML when they open a body
// after white space and are followed by a space or '>'.
var htmlTags = []string{
	"<!DOCTYPE HTML", "<HTML", "<HEAD", "<SCRIPT", "<IFRAME", "<H1", "<DIV",
	"<FONT", "<TABLE", "<A", "<STYLE", "<TITLE", "<B", "<BODY", "<BR", "<P", "<!--",
}

// textBOMs are the byte-order marks of UTF-16BE, UTF-16LE and UTF-8.
var textBOMs = [][]byte{{0xFE, 0xFF}, {0xFF, 0xFE}, {0xEF, 0xBB, 0xBF}}

// looksTextual reports whether head matches one of the patterns the
// standard checks before the binary ones: an HTML tag or "<?xml" after
// leading white space, or a byte-order mark.
func looksTextual(head []byte) bool {
	for _, bom := range textBOMs {
		if bytes.HasPrefix(head, bom) {
			return true
		}
	}
	rest := bytes.TrimLeft(head, "\t\n\x0c\r ")
	if bytes.HasPrefix(rest, []byte("<?xml")) {
		return true
	}
	for _, tag := range htmlTags {
		if len(rest) > len(tag) && upperASCIIPrefix(rest, tag) && (rest[len(tag)] == ' ' || rest[len(tag)] == '>') {
			return true
		}
	}
	return false
}

// upperASCIIPrefix reports whether b starts with tag, comparing ASCII
// letters without regard to case (tag is upper case).
func upperASCIIPrefix(b []byte, tag string) bool {
	for i := range len(tag) {
		c := b[i]
		if 'A' <= tag[i] && tag[i] <= 'Z' {
			c &^= 0x20
		}
		if c != tag[i] {
			return false
		}
	}
	return true
}

// signature is a byte pattern at a fixed offset of a body; a second part,
// when set, must also appear at its own offset (RIFF and FORM containers
// name their kind eight bytes in).
type signature struct {
	at   int
	pat  string
	at2  int
	pat2 string
}

func (s signature) match(head []byte) bool {
	part := func(at int, pat string) bool {
		return len(head) >= at+len(pat) && string(head[at:at+len(pat)]) == pat
	}
	return part(s.at, s.pat) && (s.pat2 == "" || part(s.at2, s.pat2))
}

// binarySignatures are the standard's image, audio and video, font and
// archive patterns, and PDF, PostScript and WebAssembly (MP4 needs a
// parse of its first box: isMP4).
var binarySignatures = []signature{
	{pat: "%PDF-"}, {pat: "%!PS-Adobe-"},
	// Images: ICO, CUR, BMP, GIF, WebP, PNG, JPEG.
	{pat: "\x00\x00\x01\x00"}, {pat: "\x00\x00\x02\x00"}, {pat: "BM"},
	{pat: "GIF87a"}, {pat: "GIF89a"}, {pat: "RIFF", at2: 8, pat2: "WEBPVP"},
	{pat: "\x89PNG\r\n\x1a\n"}, {pat: "\xFF\xD8\xFF"},
	// Audio and video: AIFF, MP3 with ID3, Ogg, MIDI, AVI, WAVE, WebM.
	{pat: "FORM", at2: 8, pat2: "AIFF"}, {pat: "ID3"}, {pat: "OggS\x00"},
	{pat: "MThd\x00\x00\x00\x06"}, {pat: "RIFF", at2: 8, pat2: "AVI "},
	{pat: "RIFF", at2: 8, pat2: "WAVE"}, {pat: "\x1A\x45\xDF\xA3"},
	// Fonts: Embedded OpenType ("LP" at 34), TrueType, OpenType,
	// collections, WOFF, WOFF2.
	{at: 34, pat: "LP"}, {pat: "\x00\x01\x00\x00"}, {pat: "OTTO"}, {pat: "ttcf"},
	{pat: "wOFF"}, {pat: "wOF2"},
	// Archives: gzip, zip, RAR 4 and 5; WebAssembly.
	{pat: "\x1F\x8B\x08"}, {pat: "PK\x03\x04"}, {pat: "Rar!\x1A\x07\x00"},
	{pat: "Rar!\x1A\x07\x01\x00"}, {pat: "\x00asm"},
}

// isMP4 applies the standard's MP4 rule: a first box of type "ftyp", no
// longer than what was read and a multiple of four bytes, whose major or
// one of whose compatible brands starts with "mp4".
func isMP4(head []byte) bool {
	if len(head) < 12 {
		return false
	}
	size := int(binary.BigEndian.Uint32(head[:4]))
	if size > len(head) || size%4 != 0 || string(head[4:8]) != "ftyp" {
		return false
	}
	for at := 8; at < size; at += 4 {
		if at == 12 {
			continue // the minor version, not a brand
		}
		if string(head[at:at+3]) == "mp4" {
			return true
		}
	}
	return false
}
