package models

import (
	"errors"
	"fmt"
	"strings"
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

// KeyReusedError means an idempotency key of the loyalty ledger came back with a
// different request: another customer or another number of points. Answering the
// first request's result would tell the caller a change happened that did not, so
// it is refused instead. It matches ErrConflict too (HTTP 409).
type KeyReusedError struct {
	// CustomerWas and DeltaWas are the first request's; CustomerNow and DeltaNow this one's.
	CustomerWas, CustomerNow string
	DeltaWas, DeltaNow       int64
}

// Differs names what differs from the first use of the key, e.g.
// `customer_id "cus_1" (this request: "cus_2")`.
func (e *KeyReusedError) Differs() string {
	var d []string
	if e.CustomerWas != e.CustomerNow {
		d = append(d, fmt.Sprintf("customer_id %q (this request: %q)", e.CustomerWas, e.CustomerNow))
	}
	if e.DeltaWas != e.DeltaNow {
		d = append(d, fmt.Sprintf("points %d (this request: %d)", abs(e.DeltaWas), abs(e.DeltaNow)))
	}
	return strings.Join(d, " and ")
}

// Error implements error.
func (e *KeyReusedError) Error() string {
	return "the idempotency key was already used with " + e.Differs() + "; use a new key for a new request"
}

// Is makes a KeyReusedError match ErrConflict.
func (e *KeyReusedError) Is(target error) bool { return target == ErrConflict }

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
