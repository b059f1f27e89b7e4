package schemas

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Versions of the curation shapes. They live here rather than in doc.go so
// the curation contract stays in one file.
const (
	// DecisionVersion is the encoding version of Decision and
	// ExtractionRule.
	DecisionVersion = 1
	// CurationWireVersion is the version of CurationMessage.
	CurationWireVersion = 1
)

// TopicDecisions is the gossipsub topic curators exchange CurationMessages
// on: decisions, extraction rules and review items.
const TopicDecisions = "/sward/decisions/1"

// Decision actions. Skip is not an action on the wire: skipping only changes
// what the local curator is shown.
const (
	ActionAccept = "accept"
	ActionReject = "reject"
	// ActionRetract withdraws the curator's earlier vote on an item that
	// has not settled yet (the "undo" of a published decision).
	ActionRetract = "retract"
)

// Limits on curation messages, so a peer cannot make others store
// arbitrarily large values.
const (
	MaxReasonLen   = 1 << 10
	MaxEditsBytes  = 1 << 20
	MaxRuleFields  = 64
	MaxSelectorLen = 1 << 10
	nonceHexLen    = 32
)

// Decision is one curator's signed verdict on one review item. Decisions are
// gossiped; every curator process tallies the same set of decisions and so
// reaches the same settlement. A decision is identified by (Curator, Nonce);
// a second message with the same pair is a replay.
type Decision struct {
	Version int `json:"v"`
	// ItemID names the review item (the Document ID it was enqueued with).
	ItemID string `json:"item"`
	// Curator is the libp2p peer ID (Ed25519) of the signer.
	Curator string `json:"curator"`
	Action  string `json:"action"`
	// Reason is required for a reject and optional otherwise.
	Reason string `json:"reason,omitempty"`
	// Edits maps a field name to its corrected value: "text" and the
	// optional Document fields ("title", "author", "description",
	// "site_name", "language", "published_at"), or "field:NAME" for a job's
	// structured field. Only an accept carries edits.
	Edits map[string]string `json:"edits,omitempty"`
	// Adjudication marks the decision of an adjudicator on an item whose
	// voters disagreed; it settles the item on its own.
	Adjudication bool      `json:"adjudication,omitempty"`
	Timestamp    time.Time `json:"ts"`
	// Nonce is 16 random bytes in lowercase hex.
	Nonce     string `json:"nonce"`
	Signature []byte `json:"sig,omitempty"`
}

// Validate checks a decision's shape (not its signature).
func (d *Decision) Validate() error {
	if err := checkVersion("decision", d.Version, DecisionVersion); err != nil {
		return err
	}
	if d.ItemID == "" {
		return errors.New("decision: missing item id")
	}
	if d.Curator == "" {
		return errors.New("decision: missing curator peer id")
	}
	switch d.Action {
	case ActionAccept:
	case ActionReject:
		if d.Reason == "" {
			return errors.New("decision: a reject needs a reason")
		}
	case ActionRetract:
		if d.Adjudication {
			return errors.New("decision: an adjudication cannot be retracted")
		}
	default:
		return fmt.Errorf("decision: unknown action %q (want accept, reject or retract)", d.Action)
	}
	if len(d.Reason) > MaxReasonLen {
		return fmt.Errorf("decision: reason of %d bytes exceeds %d", len(d.Reason), MaxReasonLen)
	}
	if len(d.Edits) > 0 && d.Action != ActionAccept {
		return errors.New("decision: only an accept may carry edits")
	}
	n := 0
	for k, v := range d.Edits {
		if k == "" {
			return errors.New("decision: edit with an empty field name")
		}
		n += len(k) + len(v)
	}
	if n > MaxEditsBytes {
		return fmt.Errorf("decision: edits of %d bytes exceed %d", n, MaxEditsBytes)
	}
	if d.Timestamp.IsZero() {
		return errors.New("decision: missing timestamp")
	}
	return checkNonce("decision", d.Nonce)
}

func checkNonce(kind, n string) error {
	if len(n) != nonceHexLen {
		return fmt.Errorf("%s: nonce must be %d hex characters, got %d", kind, nonceHexLen, len(n))
	}
	if _, err := hex.DecodeString(n); err != nil {
		return fmt.Errorf("%s: nonce is not hex: %w", kind, err)
	}
	return nil
}

// curationEncoder builds canonical signing byte strings: every value is length- or
// varint-prefixed, so no two different messages share an encoding.
type curationEncoder struct{ b []byte }

func (s *curationEncoder) str(v string) {
	s.b = binary.AppendUvarint(s.b, uint64(len(v)))
	s.b = append(s.b, v...)
}
func (s *curationEncoder) num(n int64) { s.b = binary.AppendVarint(s.b, n) }
func (s *curationEncoder) flag(v bool) {
	if v {
		s.b = append(s.b, 1)
	} else {
		s.b = append(s.b, 0)
	}
}
func (s *curationEncoder) strMap(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s.num(int64(len(keys)))
	for _, k := range keys {
		s.str(k)
		s.str(m[k])
	}
}
func (s *curationEncoder) strs(v []string) {
	s.num(int64(len(v)))
	for _, x := range v {
		s.str(x)
	}
}

// SigningBytes is the canonical byte string a curator signs: every field but
// the signature.
func (d *Decision) SigningBytes() []byte {
	var s curationEncoder
	s.str("sward/decision")
	s.num(int64(d.Version))
	s.str(d.ItemID)
	s.str(d.Curator)
	s.str(d.Action)
	s.str(d.Reason)
	s.strMap(d.Edits)
	s.flag(d.Adjudication)
	s.num(d.Timestamp.UnixNano())
	s.str(d.Nonce)
	return s.b
}

// ExtractionRule is a curator-written, per-domain extraction rule: CSS
// selectors for the article body and for fields, each with normalisers. The
// pipeline applies the newest accepted version for a page's host in place of
// (or before) its generic extractor. Rules are signed and gossiped like
// decisions.
type ExtractionRule struct {
	Version int `json:"v"`
	// Domain is the host the rule applies to (with port when not the
	// default), lower case, e.g. "news.example.org".
	Domain string `json:"domain"`
	// RuleVersion counts up per domain; the highest accepted wins.
	RuleVersion int `json:"rule_version"`
	// Body is the CSS selector of the article body; the text of all
	// matches, in document order, is the extracted text.
	Body string `json:"body,omitempty"`
	// Exclude lists selectors removed from the body before its text is
	// taken (bylines, share buttons, ads).
	Exclude []string    `json:"exclude,omitempty"`
	Fields  []FieldRule `json:"fields,omitempty"`
	// Note is the author's free-text explanation.
	Note      string    `json:"note,omitempty"`
	Author    string    `json:"author"`
	CreatedAt time.Time `json:"created_at"`
	Nonce     string    `json:"nonce"`
	Signature []byte    `json:"sig,omitempty"`
}

// FieldRule extracts one field.
type FieldRule struct {
	// Name is a Document field ("title", "author", "published_at",
	// "site_name", "description", "language") or a job's structured field.
	Name     string `json:"name"`
	Selector string `json:"selector"`
	// Attr reads this attribute of the first match instead of its text.
	Attr string `json:"attr,omitempty"`
	// Normalise names normalisers applied in order: trim, space, lower,
	// upper, number, date, url, or "regex:PATTERN" (first capture group).
	Normalise []string `json:"normalise,omitempty"`
}

// Validate checks a rule's shape (not its signature, nor whether its
// selectors parse: that needs a CSS parser, which schemas does not carry).
func (r *ExtractionRule) Validate() error {
	if err := checkVersion("extraction rule", r.Version, DecisionVersion); err != nil {
		return err
	}
	if r.Domain == "" {
		return errors.New("extraction rule: missing domain")
	}
	if r.RuleVersion < 1 {
		return errors.New("extraction rule: rule_version must be at least 1")
	}
	if r.Body == "" && len(r.Fields) == 0 {
		return errors.New("extraction rule: needs a body selector or at least one field")
	}
	if len(r.Body) > MaxSelectorLen || len(r.Exclude) > MaxRuleFields || len(r.Fields) > MaxRuleFields {
		return errors.New("extraction rule: too many or too long selectors")
	}
	seen := map[string]bool{}
	for i, f := range r.Fields {
		if f.Name == "" || f.Selector == "" {
			return fmt.Errorf("extraction rule: field %d needs a name and a selector", i)
		}
		if len(f.Selector) > MaxSelectorLen {
			return fmt.Errorf("extraction rule: field %q selector too long", f.Name)
		}
		if seen[f.Name] {
			return fmt.Errorf("extraction rule: field %q given twice", f.Name)
		}
		seen[f.Name] = true
	}
	if r.Author == "" {
		return errors.New("extraction rule: missing author")
	}
	if r.CreatedAt.IsZero() {
		return errors.New("extraction rule: missing created_at")
	}
	return checkNonce("extraction rule", r.Nonce)
}

// SigningBytes is the canonical byte string a rule's author signs.
func (r *ExtractionRule) SigningBytes() []byte {
	var s curationEncoder
	s.str("sward/extraction-rule")
	s.num(int64(r.Version))
	s.str(r.Domain)
	s.num(int64(r.RuleVersion))
	s.str(r.Body)
	s.strs(r.Exclude)
	s.num(int64(len(r.Fields)))
	for _, f := range r.Fields {
		s.str(f.Name)
		s.str(f.Selector)
		s.str(f.Attr)
		s.strs(f.Normalise)
	}
	s.str(r.Note)
	s.str(r.Author)
	s.num(r.CreatedAt.UnixNano())
	s.str(r.Nonce)
	return s.b
}

// ItemAnnouncement carries a review item from the process that enqueued it
// (usually a coordinator) to curator processes. Item is the curator
// package's JSON encoding of the item; the signature covers its bytes.
type ItemAnnouncement struct {
	Source    string          `json:"source"`
	SentAt    time.Time       `json:"sent_at"`
	Nonce     string          `json:"nonce"`
	Item      json.RawMessage `json:"item"`
	Signature []byte          `json:"sig,omitempty"`
}

// Validate checks an announcement's shape.
func (a *ItemAnnouncement) Validate() error {
	if a.Source == "" {
		return errors.New("item announcement: missing source peer id")
	}
	if a.SentAt.IsZero() {
		return errors.New("item announcement: missing sent_at")
	}
	if len(a.Item) == 0 {
		return errors.New("item announcement: missing item")
	}
	return checkNonce("item announcement", a.Nonce)
}

// SigningBytes is the canonical byte string the source signs.
func (a *ItemAnnouncement) SigningBytes() []byte {
	var s curationEncoder
	s.str("sward/item")
	s.str(a.Source)
	s.num(a.SentAt.UnixNano())
	s.str(a.Nonce)
	s.str(SHA256Hex(a.Item))
	return s.b
}

// CurationMessage is what travels on TopicDecisions: exactly one of
// Decision, Rule or Item.
type CurationMessage struct {
	Version  int               `json:"v"`
	Decision *Decision         `json:"decision,omitempty"`
	Rule     *ExtractionRule   `json:"rule,omitempty"`
	Item     *ItemAnnouncement `json:"item,omitempty"`
}

// DecodeCurationMessage parses a curation message and checks its shape.
// Signatures are checked by the receiver, which knows how to read peer IDs.
func DecodeCurationMessage(data []byte) (*CurationMessage, error) {
	if len(data) > MaxMessageSize {
		return nil, fmt.Errorf("curation message of %d bytes exceeds %d", len(data), MaxMessageSize)
	}
	var m CurationMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("curation message: %w", err)
	}
	if err := checkVersion("curation message", m.Version, CurationWireVersion); err != nil {
		return nil, err
	}
	n := 0
	if m.Decision != nil {
		n++
		if err := m.Decision.Validate(); err != nil {
			return nil, err
		}
	}
	if m.Rule != nil {
		n++
		if err := m.Rule.Validate(); err != nil {
			return nil, err
		}
	}
	if m.Item != nil {
		n++
		if err := m.Item.Validate(); err != nil {
			return nil, err
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("curation message: carries %d payloads, want exactly 1", n)
	}
	return &m, nil
}
