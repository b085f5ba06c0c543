// Package actions holds what an automation step can do: the Action interface, the
// Registry of actions by name, and the built-in actions (webhook.post, slack.post,
// teams.post, http.request, loyalty.*, event.emit; delay is the workflow's own
// timer). Adding an action is one
// file here with a type implementing Action, its registration in the worker's
// wiring (cmd/hookflow), a unit test, and its params in docs/ACTIONS.md.
package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
)

// RetryKind says how a step's action is retried: HTTP actions follow the delivery
// schedule (a receiver may be down for hours); internal ones retry quickly (a
// database blip).
type RetryKind int

// Retry kinds.
const (
	RetryInternal RetryKind = iota
	RetryHTTP
)

// StepContext is what an action knows about the step it runs in. Key is unique per
// (run, step): actions with effects use it to make them happen once, however often
// the step is retried.
type StepContext struct {
	WorkspaceID     string
	AutomationRunID string
	StepID          string
	EventID         string
	// Depth is the chain depth of the event that started the run, and RootID
	// the event that started its chain ("" when that event is the root).
	Depth     int
	RootID    string
	EventType string
	// Attempt is this try (1-based); MaxAttempts is when the step gives up.
	Attempt     int
	MaxAttempts int
	Key         string
	// SigningSecret is the automation's secret for signing outbound requests.
	SigningSecret string
}

// Action is one kind of automation step.
type Action interface {
	// Name is how automations refer to it, e.g. "slack.post".
	Name() string
	// Retry is how a failing step is retried.
	Retry() RetryKind
	// Run performs the step with rendered params and returns its output, which
	// later steps see as .steps.<id>. Return Final(err) for failures that retrying
	// cannot fix.
	Run(ctx context.Context, sc StepContext, params map[string]any) (map[string]any, error)
}

// Registry holds the actions by name.
type Registry struct {
	actions map[string]Action
}

// NewRegistry returns a registry of the given actions.
func NewRegistry(actions ...Action) *Registry {
	r := &Registry{actions: map[string]Action{}}
	for _, a := range actions {
		r.actions[a.Name()] = a
	}
	return r
}

// Get returns the named action.
func (r *Registry) Get(name string) (Action, bool) {
	a, ok := r.actions[name]
	return a, ok
}

// Known reports whether name is a registered action (or a built-in step: delay,
// wait_for_event).
func (r *Registry) Known(name string) bool {
	if name == DelayAction || name == WaitAction || name == WorkflowRunAction {
		return true
	}
	_, ok := r.actions[name]
	return ok
}

// Names lists the registered actions, sorted.
func (r *Registry) Names() []string {
	out := []string{DelayAction, WaitAction, WorkflowRunAction}
	for n := range r.actions {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// DelayAction is the durable timer step; the workflow itself sleeps, so it has no Run.
const DelayAction = "delay"

// WaitAction is the step that waits for a later event (automation.WaitAction);
// the workflow waits, so it has no Run either.
const WaitAction = "wait_for_event"

// WorkflowRunAction is the step that runs a developer's workflow as a child
// (params workflow_type, task_queue, input, timeout); the workflow starts it.
const WorkflowRunAction = "workflow.run"

// MaxDelay bounds a delay step.
const MaxDelay = 90 * 24 * time.Hour

// ParseDelay reads a delay step's rendered params: {"duration":"10m"}.
func ParseDelay(params map[string]any) (time.Duration, error) {
	s, ok := params["duration"].(string)
	if !ok || s == "" {
		return 0, fmt.Errorf("params.duration: want a duration such as \"10m\"")
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > MaxDelay {
		return 0, fmt.Errorf("params.duration: %q is not a duration between 0s and %s", s, MaxDelay)
	}
	return d, nil
}

// finalError marks a failure that retrying cannot fix.
type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

// Final wraps err so the step fails at once instead of retrying.
func Final(err error) error { return &finalError{err} }

// IsFinal reports whether err (or what it wraps) was marked Final.
func IsFinal(err error) bool {
	var fe *finalError
	return errors.As(err, &fe)
}

// RetryAfterOf is the delay err asks for (RetryAfter), or zero.
func RetryAfterOf(err error) time.Duration {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return ra.after
	}
	return 0
}

// retryAfterError asks for the next attempt no sooner than After.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter wraps err with the delay the other side asked for (HTTP Retry-After).
func RetryAfter(err error, after time.Duration) error { return &retryAfterError{err, after} }

// str reads a string param.
func str(params map[string]any, key string, required bool) (string, error) {
	v, ok := params[key]
	if !ok || v == nil {
		if required {
			return "", Final(fmt.Errorf("params.%s is required", key))
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", Final(fmt.Errorf("params.%s must be a string, not %T", key, v))
	}
	if required && s == "" {
		return "", Final(fmt.Errorf("params.%s is empty", key))
	}
	return s, nil
}

// integer reads a whole-number param given as a number or a numeric string. A
// string must be a base-10 integer with an optional sign and nothing else: a
// lenient scan read "0x10" as 16, "12abc" as 12 and "1e3" as 1, awarding points
// nobody asked for.
func integer(params map[string]any, key string) (int64, error) {
	switch v := params[key].(type) {
	case int64:
		return v, nil
	case int:
		return int64(v), nil
	case float64:
		// ±2^63 is where int64 ends; a float at or past it has no int64 value.
		if v != math.Trunc(v) || v >= 1<<63 || v < -(1<<63) {
			return 0, Final(fmt.Errorf("params.%s must be a whole number, not %v", key, v))
		}
		return int64(v), nil
	case json.Number:
		return parseInteger(key, string(v))
	case string:
		return parseInteger(key, v)
	case nil:
		return 0, Final(fmt.Errorf("params.%s is required", key))
	default:
		return 0, Final(fmt.Errorf("params.%s must be a number, not %T", key, v))
	}
}

// parseInteger is the strict reading of a whole number written as text.
func parseInteger(key, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, Final(fmt.Errorf("params.%s must be a whole number in base 10 (such as 50 or -5), not %q", key, v))
	}
	return n, nil
}
