package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/transform"
)

// Decode errors carry stable reason codes.
var (
	ErrEmptyBody   = errors.New("decode:empty")
	ErrBinaryBody  = errors.New("decode:binary")
	ErrInvalidUTF8 = errors.New("decode:invalid_utf8")
	ErrCharset     = errors.New("decode:charset")
)

// maxInvalidFraction is the share of undecodable bytes above which a body
// labelled as text is treated as corrupt rather than repaired.
const maxInvalidFraction = 0.005

// Decode turns a response body into UTF-8 text. The charset comes from the
// Content-Type header, a BOM or a <meta> declaration, in that order of
// strength (the WHATWG sniffing algorithm); an undeclared body that is valid
// UTF-8 is taken as UTF-8. Binary content labelled as text and bodies with
// many invalid byte sequences are refused with a reason-coded error.
func Decode(body []byte, contentType string) (string, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return "", ErrEmptyBody
	}
	if isBinary(body) {
		return "", ErrBinaryBody
	}
	enc, name, certain := charset.DetermineEncoding(body, contentType)
	declared := certain || strings.Contains(strings.ToLower(contentType), "charset=")
	if name == "utf-8" || (!declared && utf8.Valid(body)) {
		return repairUTF8(body)
	}
	if name == "windows-1252" && !declared && utf8.Valid(body) {
		return string(body), nil
	}
	out, _, err := transform.Bytes(enc.NewDecoder(), body)
	if err != nil {
		return "", fmt.Errorf("%w: decoding %s: %v", ErrCharset, name, err)
	}
	return repairUTF8(out)
}

// repairUTF8 drops invalid sequences from nearly valid UTF-8 and refuses
// text where they are frequent.
func repairUTF8(b []byte) (string, error) {
	if utf8.Valid(b) {
		return string(b), nil
	}
	bad := 0
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			bad++
		}
		i += max(n, 1)
	}
	if float64(bad) > maxInvalidFraction*float64(len(b)) {
		return "", fmt.Errorf("%w: %d invalid byte sequences in %d bytes", ErrInvalidUTF8, bad, len(b))
	}
	return strings.ToValidUTF8(string(b), ""), nil
}

// isBinary sniffs the first bytes: a known binary signature, or many
// control bytes, marks content that is not text whatever its label says.
func isBinary(body []byte) bool {
	if hasBinarySignature(body) {
		return true
	}
	// Text with stray control bytes has no signature, so judge it by
	// counting them.
	head := body[:min(len(body), 1024)]
	ctrl := 0
	for _, c := range head {
		if c == 0 {
			return true
		}
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' {
			ctrl++
		}
	}
	return ctrl*20 > len(head)
}
