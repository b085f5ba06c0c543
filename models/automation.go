package models

import (
	"encoding/json"
	"time"
)

// Automation is a trigger→action rule: when an event matches Trigger, its Steps run
// in order as one durable run.
type Automation struct {
	ID          string  `json:"id"`
	WorkspaceID string  `json:"workspace_id"`
	Name        string  `json:"name"`
	Enabled     bool    `json:"enabled"`
	Trigger     Trigger `json:"trigger"`
	Steps       []Step  `json:"steps"`
	// CancelOn ends a run as cancelled when a matching later event arrives,
	// wherever the run is (waiting, delaying, between steps).
	CancelOn []EventMatch `json:"cancel_on,omitempty"`
	// Flow control (docs/AUTOMATIONS.md): at most one of Concurrency, Throttle
	// and Debounce, and a trigger Count excludes them; RateLimit combines with any.
	Concurrency *Concurrency  `json:"concurrency,omitempty"`
	Throttle    *PeriodLimit  `json:"throttle,omitempty"`
	RateLimit   *PeriodLimit  `json:"rate_limit,omitempty"`
	Debounce    *DebounceSpec `json:"debounce,omitempty"`
	Version     int           `json:"version"`
	// SigningSecret signs the requests of the automation's webhook.post steps
	// (Standard Webhooks), unless a step gives its own params.secret.
	SigningSecret string    `json:"signing_secret,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Trigger says which events start an automation: their type, optionally their
// source, and an optional CEL filter over `event`.
type Trigger struct {
	EventType string `json:"event_type"`
	SourceID  string `json:"source_id,omitempty"`
	Filter    string `json:"filter,omitempty"`
	// Count, when set, starts one run when Threshold matching events with the
	// same key have arrived within Within, carrying the last of them.
	Count *CountTrigger `json:"count,omitempty"`
}

// EventMatch names a later event a run reacts to (a wait_for_event step's params
// or a cancel_on entry): its type, and either Match, a dot path (such as
// "data.order_id") that must be equal on the run's event and the later one, or
// If, a CEL condition over event, async (the later event) and steps.
type EventMatch struct {
	EventType string `json:"event_type"`
	Match     string `json:"match,omitempty"`
	If        string `json:"if,omitempty"`
}

// CountTrigger is a trigger that fires on the Threshold-th event of a key
// (a CEL expression over event) within the Within window ("7d", "1h").
type CountTrigger struct {
	Key       string `json:"key"`
	Threshold int    `json:"threshold"`
	Within    string `json:"within"`
}

// Concurrency runs at most Limit runs of one key at once; the rest wait their
// turn in arrival order. Key is a CEL expression over event (empty: one key).
type Concurrency struct {
	Key   string `json:"key,omitempty"`
	Limit int    `json:"limit"`
}

// PeriodLimit is Limit runs per Period ("1m") and key: a throttle spreads the
// starts out, a rate limit skips the excess.
type PeriodLimit struct {
	Key    string `json:"key,omitempty"`
	Limit  int    `json:"limit"`
	Period string `json:"period"`
}

// DebounceSpec starts one run, with the last event, once a key has been quiet
// for Period.
type DebounceSpec struct {
	Key    string `json:"key,omitempty"`
	Period string `json:"period"`
}

// Step is one action of an automation. Params are JSON whose strings are Go
// templates over .event and .steps, and whose {"$expr": "<CEL>"} objects are
// evaluated keeping their type. If, when set, is a CEL condition over event and steps.
type Step struct {
	ID     string          `json:"id"`
	Action string          `json:"action"`
	Params json.RawMessage `json:"params,omitempty"`
	If     string          `json:"if,omitempty"`
}

// RunStatus is where an automation run stands.
type RunStatus string

// Run and step statuses.
const (
	RunRunning   RunStatus = "running"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
	RunSkipped   RunStatus = "skipped"
	RunPending   RunStatus = "pending"
	// RunWaiting is a step waiting for an event, or a run waiting for its turn
	// (concurrency, throttle).
	RunWaiting RunStatus = "waiting"
	// RunCancelled is a run ended by a cancel_on event (or a cancel request).
	RunCancelled RunStatus = "cancelled"
)

// AutomationRun is one execution of an automation for one event. (Not a Temporal
// run: its workflow has a run ID of its own.)
type AutomationRun struct {
	ID                string    `json:"id"`
	WorkspaceID       string    `json:"workspace_id"`
	AutomationID      string    `json:"automation_id"`
	AutomationVersion int       `json:"automation_version"`
	EventID           string    `json:"event_id"`
	WorkflowID        string    `json:"workflow_id"`
	Status            RunStatus `json:"status"`
	Error             string    `json:"error,omitempty"`
	// Reason says why a run was skipped (a rate limit) or cancelled.
	Reason string `json:"reason,omitempty"`
	// WaitingFor says what a waiting run waits for (a concurrency slot, its
	// throttled turn).
	WaitingFor string `json:"waiting_for,omitempty"`
	// Key is the run's flow-control or count key, when its automation has one.
	Key string `json:"key,omitempty"`
	// Count is how many events a count trigger had counted when it fired.
	Count      int        `json:"count,omitempty"`
	Steps      []RunStep  `json:"steps"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// RunStep is how one step of a run went.
type RunStep struct {
	ID     string          `json:"id"`
	Action string          `json:"action"`
	Status RunStatus       `json:"status"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
	// Attempts is how many attempts of the step's action have been made in this
	// run of its schedule (a retry of the run starts it over); 0 for a step not
	// run, skipped or a delay.
	Attempts int `json:"attempts"`
	// WaitingFor and Until say what a waiting step waits for and until when.
	WaitingFor string     `json:"waiting_for,omitempty"`
	Until      *time.Time `json:"until,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Kinds of RunWait.
const (
	WaitEvent  = "event"
	WaitCancel = "cancel"
)

// RunWait is a run waiting for a later event: a wait_for_event step (Kind
// WaitEvent, at StepIndex) or one of its automation's cancel_on entries (Kind
// WaitCancel, StepIndex the entry's index). An event of EventType matches when
// its value at MatchPath, as canonical JSON, is MatchValue, or, for a wait with
// no path, when Cond (CEL over event, async and steps, whose values are Scope)
// holds. Only events accepted at or after BeganAt count.
type RunWait struct {
	ID             string
	WorkspaceID    string
	RunID          string
	WorkflowID     string
	Kind           string
	StepIndex      int
	EventType      string
	MatchPath      string
	MatchValue     string
	Cond           string
	Scope          json.RawMessage
	BeganAt        time.Time
	ExpiresAt      *time.Time
	MatchedEventID string
}

// RunLimit is a rate limit a new run must take a token from: Limit runs per
// Period and Key of the automation, a token bucket refilled continuously. A run
// that finds the bucket empty is recorded skipped, with Reason.
type RunLimit struct {
	Key    string
	Limit  int
	Period time.Duration
	Now    time.Time
	Reason string
}

// Credential is a named secret of a workspace that step params reference
// ({{ secret "crm_token" }} or {"$secret": "crm_token"}). Value is never shown
// by the API; it is resolved inside the activity that runs the step.
type Credential struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspace_id"`
	Name        string    `json:"name"`
	Value       string    `json:"-"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}
