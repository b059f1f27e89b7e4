package schemas

import (
	"fmt"
	"regexp"
)

// FieldSpec declares one structured field a job extracts from each page
// into a typed column, null where the page lacks it.
type FieldSpec struct {
	// Name is the column name: lowercase letters, digits and '_'.
	Name string `yaml:"name" json:"name"`
	// Type is the normaliser and column type: "string", "number"
	// (float64), "price" (amount float64 + ISO 4217 currency), "date"
	// (UTC timestamp) or "url" (absolute URL string).
	Type string `yaml:"type" json:"type"`
	// Selector is a CSS selector; the first match's text (or Attr) is the
	// raw value.
	Selector string `yaml:"selector,omitempty" json:"selector,omitempty"`
	// Attr reads an attribute of the selected element instead of its text.
	Attr string `yaml:"attr,omitempty" json:"attr,omitempty"`
	// JSONLD is a dotted path into the page's schema.org JSON-LD, starting
	// with the object's @type, e.g. "Product.offers.price". Tried before
	// Selector.
	JSONLD string `yaml:"jsonld,omitempty" json:"jsonld,omitempty"`
}

// Field types.
const (
	FieldString = "string"
	FieldNumber = "number"
	FieldPrice  = "price"
	FieldDate   = "date"
	FieldURL    = "url"
)

var fieldNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func validateFields(fs []FieldSpec) error {
	seen := map[string]bool{}
	for i, f := range fs {
		field := fmt.Sprintf("fields[%d]", i)
		if !fieldNamePattern.MatchString(f.Name) {
			return &SpecError{Field: field, Reason: fmt.Sprintf("name %q must be lowercase letters, digits and '_', starting with a letter", f.Name)}
		}
		if seen[f.Name] {
			return &SpecError{Field: field, Reason: fmt.Sprintf("name %q is declared twice", f.Name)}
		}
		seen[f.Name] = true
		switch f.Type {
		case FieldString, FieldNumber, FieldPrice, FieldDate, FieldURL:
		default:
			return &SpecError{Field: field, Reason: fmt.Sprintf("type %q is not string, number, price, date or url", f.Type)}
		}
		if f.Selector == "" && f.JSONLD == "" {
			return &SpecError{Field: field, Reason: "give a CSS selector or a JSON-LD path"}
		}
	}
	return nil
}
