package models

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDuration reads a duration as users write them in automations: Go's units
// ("90s", "10m", "1h30m") and days ("2d", "1d12h"). Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("want a duration such as \"30s\", \"10m\" or \"2d\"")
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseUint(s[:i], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (write days as a whole number, e.g. \"2d\" or \"1d12h\")", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as \"30s\", \"10m\" or \"2d\"", s)
	}
	return days + d, nil
}
