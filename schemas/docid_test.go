package schemas

import "testing"

// TestDocumentID: one ID per page and scope whatever the spelling of its
// URL, different IDs across scopes and pages, and blank-URL records keyed
// by their record never collide with each other or with a page.
func TestDocumentID(t *testing.T) {
	id := func(scope, raw, rec string) string {
		got, _, _ := PageDocumentID(scope, raw, rec)
		return got
	}
	same := id("job", "http://Example.com:80/a?utm_source=x#top", "r1")
	if same != id("job", "http://example.com/a", "r2") {
		t.Error("two spellings of one page got different IDs")
	}
	if same != DocumentID("job", "http://example.com/a") {
		t.Error("PageDocumentID and DocumentID disagree")
	}
	if len(same) != 32 {
		t.Errorf("ID %q is not 32 hex digits", same)
	}
	tests := []struct{ name, a, b string }{
		{"other scope", id("job", "http://example.com/a", ""), id("other", "http://example.com/a", "")},
		{"other page", id("job", "http://example.com/a", ""), id("job", "http://example.com/b", "")},
		{"two blank records", id("job", "", "warc:<urn:uuid:1>"), id("job", "", "warc:<urn:uuid:2>")},
		{"blank vs page", id("job", "", "http://example.com/a"), id("job", "http://example.com/a", "")},
		{"bad url vs blank", id("job", "not a url", "record:1"), id("job", "", "record:2")},
	}
	for _, tt := range tests {
		if tt.a == tt.b {
			t.Errorf("%s: IDs collide (%s)", tt.name, tt.a)
		}
	}
	if _, _, ok := PageDocumentID("job", "", "record:1"); ok {
		t.Error("blank URL reported as a page")
	}
	if a, b := id("job", "", "record:7"), id("job", "", "record:7"); a != b {
		t.Error("blank-URL ID is not deterministic")
	}
}
