package rules

import (
	"fmt"
	"time"

	"github.com/swardnet/sward/schemas"
)

// DocumentFields are the Document fields a rule or a curator's edit may set
// by name; any other name is a job's structured field.
var DocumentFields = []string{"text", "title", "author", "description", "site_name", "language", "published_at"}

// IsDocumentField reports whether name is one of DocumentFields.
func IsDocumentField(name string) bool {
	for _, f := range DocumentFields {
		if f == name {
			return true
		}
	}
	return false
}

// Field returns a Document field by name ("" when unset).
func Field(d *schemas.Document, name string) (string, bool) {
	opt := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	switch name {
	case "text":
		return d.Text, true
	case "title":
		return opt(d.Title), true
	case "author":
		return opt(d.Author), true
	case "description":
		return opt(d.Description), true
	case "site_name":
		return opt(d.SiteName), true
	case "language":
		return d.Language, true
	case "published_at":
		if d.PublishedAt == nil {
			return "", true
		}
		return d.PublishedAt.UTC().Format(time.RFC3339), true
	}
	return "", false
}

// SetField sets a Document field by name. An empty value clears an optional
// field. It reports false for a name that is not a Document field, and an
// error for a value the field cannot hold.
func SetField(d *schemas.Document, name, value string) (bool, error) {
	opt := func(p **string) {
		if value == "" {
			*p = nil
			return
		}
		v := value
		*p = &v
	}
	switch name {
	case "text":
		d.Text = value
	case "title":
		opt(&d.Title)
	case "author":
		opt(&d.Author)
	case "description":
		opt(&d.Description)
	case "site_name":
		opt(&d.SiteName)
	case "language":
		d.Language = value
	case "published_at":
		if value == "" {
			d.PublishedAt = nil
			return true, nil
		}
		s, err := normaliseDate(value, nil)
		if err != nil {
			return true, fmt.Errorf("published_at: %w", err)
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return true, fmt.Errorf("published_at: %w", err)
		}
		d.PublishedAt = &t
	default:
		return false, nil
	}
	return true, nil
}
