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

// TestConfigValidatesExtractOptions: a pipeline config is refused with an
// extraction limit Extract would read as none.
func TestConfigValidatesExtractOptions(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for name, set := range map[string]func(*Config){
		"zero depth":         func(c *Config) { c.Extract.MaxDepth = 0 },
		"negative nodes":     func(c *Config) { c.Extract.MaxNodes = -1 },
		"zero text bytes":    func(c *Config) { c.Extract.MaxTextBytes = 0 },
		"negative all three": func(c *Config) { c.Extract = ExtractOptions{MaxDepth: -1, MaxNodes: -1, MaxTextBytes: -1} },
	} {
		c := DefaultConfig()
		set(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "pipeline config: pipeline extract options") {
			t.Errorf("%s: Validate = %v, want the extract options' error", name, err)
		}
	}
}
