package schemas

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func validDecision() Decision {
	return Decision{
		Version:   DecisionVersion,
		ItemID:    "doc-1",
		Curator:   "12D3KooWtest",
		Action:    ActionAccept,
		Edits:     map[string]string{"title": "Fixed", "text": "body"},
		Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		Nonce:     strings.Repeat("ab", 16),
	}
}

func TestDecisionValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Decision)
		wantErr string
	}{
		{"valid accept", func(*Decision) {}, ""},
		{"valid reject", func(d *Decision) { d.Action, d.Edits, d.Reason = ActionReject, nil, "boilerplate" }, ""},
		{"valid retract", func(d *Decision) { d.Action, d.Edits = ActionRetract, nil }, ""},
		{"reject without reason", func(d *Decision) { d.Action, d.Edits = ActionReject, nil }, "needs a reason"},
		{"reject with edits", func(d *Decision) { d.Action, d.Reason = ActionReject, "x" }, "only an accept"},
		{"unknown action", func(d *Decision) { d.Action = "maybe" }, "unknown action"},
		{"wrong version", func(d *Decision) { d.Version = 9 }, "version 9"},
		{"no item", func(d *Decision) { d.ItemID = "" }, "missing item"},
		{"no curator", func(d *Decision) { d.Curator = "" }, "missing curator"},
		{"no timestamp", func(d *Decision) { d.Timestamp = time.Time{} }, "missing timestamp"},
		{"short nonce", func(d *Decision) { d.Nonce = "abc" }, "nonce must be"},
		{"non-hex nonce", func(d *Decision) { d.Nonce = strings.Repeat("zz", 16) }, "not hex"},
		{"long reason", func(d *Decision) { d.Reason = strings.Repeat("x", MaxReasonLen+1) }, "reason of"},
		{"huge edits", func(d *Decision) { d.Edits = map[string]string{"text": strings.Repeat("x", MaxEditsBytes)} }, "edits of"},
		{"empty edit key", func(d *Decision) { d.Edits = map[string]string{"": "x"} }, "empty field name"},
		{"retracted adjudication", func(d *Decision) { d.Action, d.Edits, d.Adjudication = ActionRetract, nil, true }, "cannot be retracted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDecision()
			tt.mutate(&d)
			err := d.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecisionSigningBytesCoverEveryField(t *testing.T) {
	base := validDecision()
	ref := base.SigningBytes()
	mutations := map[string]func(*Decision){
		"version":      func(d *Decision) { d.Version++ },
		"item":         func(d *Decision) { d.ItemID = "doc-2" },
		"curator":      func(d *Decision) { d.Curator += "x" },
		"action":       func(d *Decision) { d.Action = ActionReject },
		"reason":       func(d *Decision) { d.Reason = "r" },
		"edit value":   func(d *Decision) { d.Edits = map[string]string{"title": "Other", "text": "body"} },
		"edit key":     func(d *Decision) { d.Edits = map[string]string{"author": "Fixed", "text": "body"} },
		"adjudication": func(d *Decision) { d.Adjudication = true },
		"timestamp":    func(d *Decision) { d.Timestamp = d.Timestamp.Add(time.Nanosecond) },
		"nonce":        func(d *Decision) { d.Nonce = strings.Repeat("cd", 16) },
		// Length prefixes keep a shifted boundary from colliding.
		"boundary": func(d *Decision) { d.ItemID, d.Curator = "doc-112D3KooW", "test" },
	}
	for name, m := range mutations {
		d := validDecision()
		m(&d)
		if bytes.Equal(d.SigningBytes(), ref) {
			t.Errorf("changing %s left the signing bytes unchanged", name)
		}
	}
	sig := base
	sig.Signature = []byte("anything")
	if !bytes.Equal(sig.SigningBytes(), ref) {
		t.Error("the signature must not be covered by the signing bytes")
	}
	// Map order must not matter.
	again := validDecision()
	again.Edits = map[string]string{"text": "body", "title": "Fixed"}
	if !bytes.Equal(again.SigningBytes(), ref) {
		t.Error("signing bytes depend on map order")
	}
}

func validRule() ExtractionRule {
	return ExtractionRule{
		Version:     DecisionVersion,
		Domain:      "news.example.org",
		RuleVersion: 1,
		Body:        "article .content",
		Exclude:     []string{".share"},
		Fields:      []FieldRule{{Name: "title", Selector: "h1", Normalise: []string{"trim"}}},
		Author:      "12D3KooWtest",
		CreatedAt:   time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC),
		Nonce:       strings.Repeat("01", 16),
	}
}

func TestExtractionRuleValidateAndSign(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*ExtractionRule)
		wantErr string
	}{
		{"valid", func(*ExtractionRule) {}, ""},
		{"no domain", func(r *ExtractionRule) { r.Domain = "" }, "missing domain"},
		{"version zero", func(r *ExtractionRule) { r.RuleVersion = 0 }, "rule_version"},
		{"nothing to extract", func(r *ExtractionRule) { r.Body, r.Fields = "", nil }, "needs a body"},
		{"field without selector", func(r *ExtractionRule) { r.Fields[0].Selector = "" }, "needs a name"},
		{"duplicate field", func(r *ExtractionRule) { r.Fields = append(r.Fields, r.Fields[0]) }, "given twice"},
		{"no author", func(r *ExtractionRule) { r.Author = "" }, "missing author"},
		{"bad nonce", func(r *ExtractionRule) { r.Nonce = "1" }, "nonce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRule()
			tt.mutate(&r)
			err := r.Validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate error = %v, want %q", err, tt.wantErr)
			}
		})
	}
	a, b := validRule(), validRule()
	b.Fields[0].Normalise = []string{"lower"}
	if bytes.Equal(a.SigningBytes(), b.SigningBytes()) {
		t.Error("normalisers are not covered by the rule's signing bytes")
	}
}

func TestDecodeCurationMessage(t *testing.T) {
	d := validDecision()
	r := validRule()
	item := ItemAnnouncement{Source: "12D3KooWsrc", SentAt: time.Now(), Nonce: strings.Repeat("99", 16), Item: json.RawMessage(`{"id":"x"}`)}
	enc := func(m CurationMessage) []byte {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"decision", enc(CurationMessage{Version: 1, Decision: &d}), ""},
		{"rule", enc(CurationMessage{Version: 1, Rule: &r}), ""},
		{"item", enc(CurationMessage{Version: 1, Item: &item}), ""},
		{"empty", enc(CurationMessage{Version: 1}), "carries 0 payloads"},
		{"two payloads", enc(CurationMessage{Version: 1, Decision: &d, Rule: &r}), "carries 2 payloads"},
		{"future version", enc(CurationMessage{Version: 2, Decision: &d}), "version 2"},
		{"not json", []byte("{"), "curation message"},
		{"too big", make([]byte, MaxMessageSize+1), "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeCurationMessage(tt.data)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if m.Decision != nil && !bytes.Equal(m.Decision.SigningBytes(), d.SigningBytes()) {
					t.Fatal("decision changed in a JSON round trip")
				}
				if m.Rule != nil && !bytes.Equal(m.Rule.SigningBytes(), r.SigningBytes()) {
					t.Fatal("rule changed in a JSON round trip")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("decode error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzDecodeCurationMessage(f *testing.F) {
	d := validDecision()
	b, _ := json.Marshal(CurationMessage{Version: 1, Decision: &d})
	f.Add(b)
	f.Add([]byte(`{"v":1,"rule":{"v":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeCurationMessage(data)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode and decode to the same signing bytes.
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := DecodeCurationMessage(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if m.Decision != nil && !bytes.Equal(m.Decision.SigningBytes(), m2.Decision.SigningBytes()) {
			t.Fatal("decision signing bytes changed across a round trip")
		}
	})
}
