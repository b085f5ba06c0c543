package models

import (
	"strings"
	"unicode/utf8"
)

// Limits on user input; generous for real use, small enough to keep rows and
// workflow inputs bounded.
const (
	MaxEventTypeLen   = 128
	MaxEventTypes     = 100
	MaxDescriptionLen = 1024
	MaxURLLen         = 2048
	MaxFilterLen      = 4096
	MaxExternalIDLen  = 255
)

// ValidateEventType checks an event type name such as "review.created": 1–128
// characters of letters, digits and . _ - : (the wildcard is not an event type).
func ValidateEventType(field, t string) error {
	if t == "" {
		return Invalid(field, "is required")
	}
	if len(t) > MaxEventTypeLen {
		return Invalid(field, "must be at most %d characters", MaxEventTypeLen)
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-:", r)) {
			return Invalid(field, "%q may only contain letters, digits and . _ - :", t)
		}
	}
	return nil
}

// ValidateEventTypes checks an endpoint's subscription list: at least one entry,
// each an event type or "*".
func ValidateEventTypes(types []string) error {
	if len(types) == 0 {
		return Invalid("event_types", "must list at least one event type (or \"*\")")
	}
	if len(types) > MaxEventTypes {
		return Invalid("event_types", "must list at most %d event types", MaxEventTypes)
	}
	for i, t := range types {
		if t == "*" {
			continue
		}
		if err := ValidateEventType("event_types", t); err != nil {
			return Invalid("event_types", "item %d: %s", i, err.(*ValidationError).Message)
		}
	}
	return nil
}

// ValidateText checks a free-text field for length and valid UTF-8.
func ValidateText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return Invalid(field, "must be valid UTF-8")
	}
	if len(s) > max {
		return Invalid(field, "must be at most %d bytes", max)
	}
	return nil
}
