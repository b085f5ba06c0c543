package models

import (
	"encoding/json"
	"time"
)

// DefaultWorkspaceID is the workspace that exists from the first migration on; the
// key given in HOOKFLOW_API_KEY belongs to it.
const DefaultWorkspaceID = "ws_default"

// Workspace is a tenant. Every other resource belongs to exactly one.
type Workspace struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// APIKey authenticates calls to /v1 for one workspace. Only a hash of the key is
// kept; the key itself is shown once, when it is created.
type APIKey struct {
	ID          string     `json:"id"`
	WorkspaceID string     `json:"workspace_id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"`
	Hash        string     `json:"-"`
	CreatedAt   time.Time  `json:"created_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// Secret is one signing secret of an endpoint. During a rotation the previous
// secret keeps signing until ExpiresAt, so receivers can switch without a gap.
type Secret struct {
	Value     string     `json:"value"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// ActiveSecrets returns the values of the secrets that still sign at now, newest first.
func ActiveSecrets(secrets []Secret, now time.Time) []string {
	out := make([]string, 0, len(secrets))
	for i := len(secrets) - 1; i >= 0; i-- {
		s := secrets[i]
		if s.ExpiresAt != nil && !now.Before(*s.ExpiresAt) {
			continue
		}
		out = append(out, s.Value)
	}
	return out
}

// RotateSecrets adds fresh as the newest secret at now. Secrets still active keep
// signing (or verifying) until now+overlap at the latest, so the other side can
// switch without a gap; expired ones are dropped. It returns the new list and when
// the old secrets stop working.
func RotateSecrets(secrets []Secret, fresh string, now time.Time, overlap time.Duration) ([]Secret, time.Time) {
	expires := now.Add(overlap)
	kept := make([]Secret, 0, len(secrets)+1)
	for _, old := range secrets {
		if old.ExpiresAt != nil && !now.Before(*old.ExpiresAt) {
			continue
		}
		if old.ExpiresAt == nil || old.ExpiresAt.After(expires) {
			old.ExpiresAt = &expires
		}
		kept = append(kept, old)
	}
	return append(kept, Secret{Value: fresh, CreatedAt: now}), expires
}

// Endpoint is a subscription: a URL that receives signed deliveries of the events
// whose type it lists (or "*") and that pass its optional CEL filter.
type Endpoint struct {
	ID             string   `json:"id"`
	WorkspaceID    string   `json:"workspace_id"`
	URL            string   `json:"url"`
	Description    string   `json:"description"`
	EventTypes     []string `json:"event_types"`
	Filter         string   `json:"filter,omitempty"`
	Enabled        bool     `json:"enabled"`
	DisabledReason string   `json:"disabled_reason,omitempty"`
	// RateLimitPerSecond paces deliveries to the endpoint (0: no limit). Deliveries
	// over the rate wait for a slot; none is dropped.
	RateLimitPerSecond int        `json:"rate_limit_per_second"`
	Secrets            []Secret   `json:"-"`
	FailingSince       *time.Time `json:"failing_since,omitempty"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
}

// Subscribes reports whether the endpoint lists eventType (or the wildcard "*").
func (e *Endpoint) Subscribes(eventType string) bool {
	for _, t := range e.EventTypes {
		if t == "*" || t == eventType {
			return true
		}
	}
	return false
}

// Event is something that happened, as hookflow received it.
type Event struct {
	ID             string            `json:"id"`
	WorkspaceID    string            `json:"workspace_id"`
	Type           string            `json:"type"`
	ExternalID     string            `json:"external_id,omitempty"`
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
	DedupKey       string            `json:"-"`
	SourceID       string            `json:"source_id,omitempty"`
	Data           json.RawMessage   `json:"data"`
	Headers        map[string]string `json:"headers,omitempty"`
	Depth          int               `json:"depth"`
	// RootID is the event that started the chain this one belongs to; empty for
	// a root (an event from outside).
	RootID string `json:"root_id,omitempty"`
	// BatchID is the batch the event was accepted in (micro-batching at ingest);
	// empty for an event accepted alone.
	BatchID   string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// EventBatch is events accepted together and started as one workflow
// (docs/BATCHING.md). Its record lives from the events' insert until the
// workflow claims it.
type EventBatch struct {
	ID          string
	WorkspaceID string
	EventIDs    []string
	CreatedAt   time.Time
}

// Root is the id of the event that started ev's chain: ev's own for a root.
func (ev *Event) Root() string {
	if ev.RootID != "" {
		return ev.RootID
	}
	return ev.ID
}

// Chain limits. An automation may trigger itself, directly or through another
// automation or an endpoint aimed at a /hooks URL; these stop it.
const (
	// MaxChainDepth is how deep events may cause events.
	MaxChainDepth = 8
	// DefaultMaxChainEvents is how many events one root event may cause in all
	// (HOOKFLOW_MAX_CHAIN_EVENTS): depth alone allows 20^8 with 20 emit steps.
	DefaultMaxChainEvents = 100
)

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliverySucceeded DeliveryStatus = "succeeded"
	DeliveryFailed    DeliveryStatus = "failed"
)

// Valid reports whether s is a known status.
func (s DeliveryStatus) Valid() bool {
	switch s {
	case DeliveryPending, DeliverySucceeded, DeliveryFailed:
		return true
	}
	return false
}

// Delivery is one event going to one endpoint. MessageID is the webhook-id header:
// the same on every attempt and every manual retry, so receivers can deduplicate.
type Delivery struct {
	ID            string         `json:"id"`
	WorkspaceID   string         `json:"workspace_id"`
	EventID       string         `json:"event_id"`
	EventType     string         `json:"event_type"`
	EndpointID    string         `json:"endpoint_id"`
	MessageID     string         `json:"message_id"`
	Status        DeliveryStatus `json:"status"`
	AttemptCount  int            `json:"attempt_count"`
	LastError     string         `json:"last_error,omitempty"`
	LastAttemptAt *time.Time     `json:"last_attempt_at,omitempty"`
	NextAttemptAt *time.Time     `json:"next_attempt_at,omitempty"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	Attempts      []Attempt      `json:"attempts,omitempty"`
}

// AttemptOutcome classifies one try.
type AttemptOutcome string

// Attempt outcomes.
const (
	// AttemptSucceeded: a 2xx answer.
	AttemptSucceeded AttemptOutcome = "succeeded"
	// AttemptRetrying: failed, another attempt is scheduled.
	AttemptRetrying AttemptOutcome = "retrying"
	// AttemptFailed: failed and final (a 4xx, the schedule exhausted, endpoint gone).
	AttemptFailed AttemptOutcome = "failed"
	// AttemptBlocked: the SSRF guard refused the destination; final.
	AttemptBlocked AttemptOutcome = "blocked"
)

// Attempt is one HTTP request of a delivery, recorded by the activity that made it.
type Attempt struct {
	ID              string         `json:"id"`
	DeliveryID      string         `json:"delivery_id"`
	Number          int            `json:"number"`
	At              time.Time      `json:"at"`
	DurationMS      int64          `json:"duration_ms"`
	StatusCode      int            `json:"status_code,omitempty"`
	ResponseExcerpt string         `json:"response_excerpt,omitempty"`
	Error           string         `json:"error,omitempty"`
	Outcome         AttemptOutcome `json:"outcome"`
}

// Page is a window of a listing; NextCursor is empty on the last page.
type Page struct {
	Cursor string
	Limit  int
}

// Normalize clamps the page size to [1, 250] with a default of 50.
func (p Page) Normalize() Page {
	switch {
	case p.Limit <= 0:
		p.Limit = 50
	case p.Limit > 250:
		p.Limit = 250
	}
	return p
}

// DeliveryFilter narrows a delivery listing.
type DeliveryFilter struct {
	EndpointID string
	EventID    string
	Status     DeliveryStatus
	// Since keeps deliveries created at or after it.
	Since *time.Time
}
