package network

import (
	"strings"
	"testing"
	"time"
)

// TestJobsConfigDefaultValidate: a zero JobsConfig gets DefaultJobsTTL; a
// negative TTL is refused naming the field.
func TestJobsConfigDefaultValidate(t *testing.T) {
	var c JobsConfig
	c.Default()
	if c.TTL != DefaultJobsTTL {
		t.Errorf("default TTL %s, want %s", c.TTL, DefaultJobsTTL)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	c.TTL = -time.Second
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "TTL") {
		t.Errorf("negative TTL: %v, want an error naming the TTL", err)
	}
}
