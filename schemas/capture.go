package schemas

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"time"
)

// Capture is one fetch of one URL by one node: what the server said, what it
// sent, and who fetched it. It is signed by the node so that anyone can later
// check which peer vouched for the bytes.
type Capture struct {
	Version  int    `json:"v"`
	JobID    string `json:"job"`
	URL      string `json:"url"`
	FinalURL string `json:"final_url,omitempty"`
	Depth    int    `json:"depth"`
	Status   int    `json:"status"`
	// Headers holds the selected response headers sward keeps (canonical
	// names; see KeptHeaders).
	Headers     map[string]string `json:"headers,omitempty"`
	ContentType string            `json:"content_type,omitempty"`
	// Charset names the encoding the body was decoded from; nodes store
	// text bodies as UTF-8 (optional, added after version 1 shipped).
	Charset string `json:"charset,omitempty"`
	// Body is the response body as received (after transfer decoding), at
	// most the node's size limit. It may be empty when BodyCID names a block
	// to fetch instead.
	Body       []byte   `json:"body,omitempty"`
	BodySize   int64    `json:"body_size"`
	BodySHA256 string   `json:"body_sha256"`
	BodyCID    string   `json:"body_cid,omitempty"`
	Truncated  bool     `json:"truncated,omitempty"`
	Outlinks   []string `json:"outlinks,omitempty"`
	// OutlinkLastMod gives, for a sitemap, the <lastmod> of the outlinks
	// that state one (keys are entries of Outlinks), so the frontier can
	// fetch recently changed pages first (optional, added after version 1
	// shipped).
	OutlinkLastMod map[string]time.Time `json:"outlink_lastmod,omitempty"`
	FetchedAt      time.Time            `json:"fetched_at"`
	NodePeerID     string               `json:"node"`
	OptOut         OptOut               `json:"opt_out"`
	// Error is set when the fetch failed; it is a short, stable reason code
	// followed by detail, e.g. "robots: disallowed".
	Error     string `json:"error,omitempty"`
	Signature []byte `json:"sig,omitempty"`
}

// OptOut records the AI/TDM opt-out signals a page carried.
type OptOut struct {
	NoAI         bool   `json:"noai,omitempty"`
	NoIndex      bool   `json:"noindex,omitempty"`
	TDMReserved  bool   `json:"tdm_reserved,omitempty"`
	TDMPolicy    string `json:"tdm_policy,omitempty"`
	ContentUsage string `json:"content_usage,omitempty"`
}

// Reserved reports whether any signal reserves the page from AI training or
// text-and-data mining.
func (o OptOut) Reserved() bool {
	return o.NoAI || o.TDMReserved || contentUsageForbidsAI(o.ContentUsage)
}

func contentUsageForbidsAI(v string) bool {
	// Content-Usage (IETF aipref draft): e.g. "train-ai=n" or "ai=n".
	for _, tok := range []string{"train-ai=n", "ai=n", "train-genai=n"} {
		if containsToken(v, tok) {
			return true
		}
	}
	return false
}

func containsToken(s, tok string) bool {
	for i := 0; i+len(tok) <= len(s); i++ {
		if s[i:i+len(tok)] == tok && (i == 0 || s[i-1] == ' ' || s[i-1] == ',' || s[i-1] == ';') {
			end := i + len(tok)
			if end == len(s) || s[end] == ' ' || s[end] == ',' || s[end] == ';' {
				return true
			}
		}
	}
	return false
}

// KeptHeaders are the response headers a capture keeps.
var KeptHeaders = []string{
	"Content-Type", "Content-Language", "Last-Modified", "Etag",
	"X-Robots-Tag", "Tdm-Reservation", "Tdm-Policy", "Content-Usage",
	"Retry-After", "Location",
}

// MaxCaptureBody bounds the body a capture may carry inline.
const MaxCaptureBody = 10 << 20

// Validate checks the fields every capture must have.
func (c *Capture) Validate() error {
	if err := checkVersion("capture", c.Version, CaptureVersion); err != nil {
		return err
	}
	if c.URL == "" {
		return errors.New("capture: missing url")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("capture: url %q is not an absolute http(s) URL", c.URL)
	}
	if c.NodePeerID == "" {
		return errors.New("capture: missing node peer id")
	}
	if c.FetchedAt.IsZero() {
		return errors.New("capture: missing fetched_at")
	}
	if len(c.Body) > MaxCaptureBody {
		return fmt.Errorf("capture: body of %d bytes exceeds %d", len(c.Body), MaxCaptureBody)
	}
	if len(c.Body) > 0 {
		if got := SHA256Hex(c.Body); got != c.BodySHA256 {
			return fmt.Errorf("capture: body hash %s does not match declared %s", got, c.BodySHA256)
		}
	}
	if len(c.OutlinkLastMod) > len(c.Outlinks) {
		return fmt.Errorf("capture: %d outlink lastmods for %d outlinks", len(c.OutlinkLastMod), len(c.Outlinks))
	}
	if len(c.OutlinkLastMod) > 0 {
		links := make(map[string]bool, len(c.Outlinks))
		for _, l := range c.Outlinks {
			links[l] = true
		}
		for l := range c.OutlinkLastMod {
			if !links[l] {
				return fmt.Errorf("capture: lastmod for %q, which is not an outlink", l)
			}
		}
	}
	return nil
}

// SHA256Hex returns the lowercase hex SHA-256 of b.
func SHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// SigningBytes is the canonical byte string a node signs. It covers every
// field except the signature itself and the inline body (the body is covered
// by its hash), so a capture stays verifiable after its body moves to a
// block store.
func (c *Capture) SigningBytes() []byte {
	var b []byte
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	num := func(n int64) { b = binary.AppendVarint(b, n) }
	flag := func(v bool) {
		if v {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	str("sward/capture")
	num(int64(c.Version))
	str(c.JobID)
	str(c.URL)
	str(c.FinalURL)
	num(int64(c.Depth))
	num(int64(c.Status))
	keys := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	num(int64(len(keys)))
	for _, k := range keys {
		str(k)
		str(c.Headers[k])
	}
	str(c.ContentType)
	num(c.BodySize)
	str(c.BodySHA256)
	str(c.BodyCID)
	flag(c.Truncated)
	num(int64(len(c.Outlinks)))
	for _, l := range c.Outlinks {
		str(l)
	}
	num(c.FetchedAt.UnixNano())
	str(c.NodePeerID)
	flag(c.OptOut.NoAI)
	flag(c.OptOut.NoIndex)
	flag(c.OptOut.TDMReserved)
	str(c.OptOut.TDMPolicy)
	str(c.OptOut.ContentUsage)
	str(c.Error)
	// Optional fields added later are covered only when set, so captures
	// signed before they existed still verify.
	if c.Charset != "" {
		str("charset")
		str(c.Charset)
	}
	if len(c.OutlinkLastMod) > 0 {
		str("outlink_lastmod")
		links := make([]string, 0, len(c.OutlinkLastMod))
		for l := range c.OutlinkLastMod {
			links = append(links, l)
		}
		sort.Strings(links)
		num(int64(len(links)))
		for _, l := range links {
			str(l)
			num(c.OutlinkLastMod[l].UnixNano())
		}
	}
	return b
}
