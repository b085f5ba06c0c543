package models

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers wrap them with context; the API maps them to HTTP statuses
// in one place, so every layer can say what went wrong without knowing about HTTP.
var (
	// ErrNotFound means the resource does not exist in the caller's workspace.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the request clashes with the current state (a duplicate key, say).
	ErrConflict = errors.New("conflict")
	// ErrInvalid means the input is malformed or breaks a rule; see ValidationError.
	ErrInvalid = errors.New("invalid input")
	// ErrUnauthenticated means no valid API key was presented.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrUnavailable means a dependency (database, Temporal) cannot be reached right now.
	ErrUnavailable = errors.New("unavailable")
	// ErrInsufficientPoints means a redemption asks for more points than the balance.
	// It matches ErrConflict too (HTTP 409).
	ErrInsufficientPoints = fmt.Errorf("insufficient points: %w", ErrConflict)
)

// ValidationError names the field that is wrong and why. It matches ErrInvalid with
// errors.Is so handlers need only one check.
type ValidationError struct {
	Field   string
	Message string
}

// Error implements error.
func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Message)
}

// Is makes a ValidationError match ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Invalid returns a ValidationError for field.
func Invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}
