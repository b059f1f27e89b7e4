package pipeline

import (
	"strings"
	"testing"
)

func TestExtractOptionsDefault(t *testing.T) {
	var o ExtractOptions
	o.Default()
	want := ExtractOptions{Fallback: false, MaxDepth: 512, MaxNodes: 200000, MaxTextBytes: 1 << 20}
	if o != want {
		t.Errorf("Default = %+v, want %+v", o, want)
	}
	if got := DefaultExtractOptions(); got != want {
		t.Errorf("DefaultExtractOptions = %+v, want %+v", got, want)
	}
	if got := DefaultConfig().Extract; got != want {
		t.Errorf("DefaultConfig().Extract = %+v, want %+v", got, want)
	}
	own := ExtractOptions{Fallback: true, MaxDepth: 10, MaxNodes: 20, MaxTextBytes: 30}
	kept := own
	kept.Default()
	if kept != own {
		t.Errorf("Default replaced set fields: %+v, want %+v", kept, own)
	}
}

func TestExtractOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    ExtractOptions
		wantErr string
	}{
		{"zero value", ExtractOptions{}, ""},
		{"own values", ExtractOptions{Fallback: true, MaxDepth: 1, MaxNodes: 1, MaxTextBytes: 1}, ""},
		{"negative depth", ExtractOptions{MaxDepth: -1}, "max depth -1"},
		{"negative nodes", ExtractOptions{MaxNodes: -2}, "max nodes -2"},
		{"negative text bytes", ExtractOptions{MaxTextBytes: -3}, "max text bytes -3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Default()
			err := o.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "pipeline extract options") {
				t.Fatalf("Validate = %v, want a pipeline extract options error about %q", err, tc.wantErr)
			}
		})
	}
}
