package node

import (
	"fmt"
	"strings"
	"time"
)

// ActiveHours is a set of daily local-time windows in which the node may
// fetch. The zero value (no windows) means always active.
type ActiveHours struct {
	windows []window
}

// window is [start, end) in minutes after midnight; end < start wraps past
// midnight.
type window struct{ start, end int }

// ParseActiveHours parses "22:00-07:00" or several windows separated by
// commas ("12:00-13:00, 22:00-06:00"). An empty string means always.
func ParseActiveHours(s string) (ActiveHours, error) {
	var ah ActiveHours
	if strings.TrimSpace(s) == "" {
		return ah, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		a, b, ok := strings.Cut(part, "-")
		if !ok {
			return ActiveHours{}, fmt.Errorf("active hours %q: want HH:MM-HH:MM", part)
		}
		start, err := parseClock(a)
		if err != nil {
			return ActiveHours{}, fmt.Errorf("active hours %q: %w", part, err)
		}
		end, err := parseClock(b)
		if err != nil {
			return ActiveHours{}, fmt.Errorf("active hours %q: %w", part, err)
		}
		if start == end {
			return ActiveHours{}, fmt.Errorf("active hours %q: empty window; leave active hours unset to run always", part)
		}
		ah.windows = append(ah.windows, window{start, end})
	}
	return ah, nil
}

func parseClock(s string) (int, error) {
	s = strings.TrimSpace(s)
	t, err := time.Parse("15:04", s)
	if err != nil {
		if s == "24:00" {
			return 24 * 60, nil
		}
		return 0, fmt.Errorf("time %q is not HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Always reports whether there is no restriction.
func (ah ActiveHours) Always() bool { return len(ah.windows) == 0 }

// Contains reports whether t falls in a window (t's own location is used).
func (ah ActiveHours) Contains(t time.Time) bool {
	if ah.Always() {
		return true
	}
	m := t.Hour()*60 + t.Minute()
	for _, w := range ah.windows {
		if w.start < w.end {
			if m >= w.start && m < w.end {
				return true
			}
		} else if m >= w.start || m < w.end {
			return true
		}
	}
	return false
}

// Next returns the next time at or after t that falls in a window; t itself
// when t is inside one.
func (ah ActiveHours) Next(t time.Time) time.Time {
	if ah.Contains(t) {
		return t
	}
	best := time.Time{}
	base := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	for day := 0; day <= 1; day++ {
		for _, w := range ah.windows {
			c := base.AddDate(0, 0, day).Add(time.Duration(w.start) * time.Minute)
			if c.After(t) && (best.IsZero() || c.Before(best)) {
				best = c
			}
		}
	}
	return best
}
