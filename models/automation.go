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
	Version     int     `json:"version"`
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
)

// Run is one execution of an automation for one event.
type Run struct {
	ID                string     `json:"id"`
	WorkspaceID       string     `json:"workspace_id"`
	AutomationID      string     `json:"automation_id"`
	AutomationVersion int        `json:"automation_version"`
	EventID           string     `json:"event_id"`
	WorkflowID        string     `json:"workflow_id"`
	Status            RunStatus  `json:"status"`
	Error             string     `json:"error,omitempty"`
	Steps             []RunStep  `json:"steps"`
	CreatedAt         time.Time  `json:"created_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	FinishedAt        *time.Time `json:"finished_at,omitempty"`
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
	Attempts   int        `json:"attempts"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Tier is a loyalty level reached at MinPoints lifetime points.
type Tier struct {
	Name      string `json:"name"`
	MinPoints int64  `json:"min_points"`
}

// DefaultTiers are the tiers of a workspace that has not set its own.
func DefaultTiers() []Tier {
	return []Tier{{Name: "Bronze", MinPoints: 0}, {Name: "Silver", MinPoints: 500}, {Name: "Gold", MinPoints: 1500}, {Name: "Platinum", MinPoints: 5000}}
}

// TierFor returns the highest tier whose threshold lifetime reaches; tiers must be
// ordered by MinPoints.
func TierFor(tiers []Tier, lifetime int64) string {
	name := ""
	for _, t := range tiers {
		if lifetime >= t.MinPoints {
			name = t.Name
		}
	}
	return name
}

// Member is a loyalty programme member of a workspace.
type Member struct {
	WorkspaceID    string    `json:"workspace_id"`
	CustomerID     string    `json:"customer_id"`
	Name           string    `json:"name,omitempty"`
	Balance        int64     `json:"balance"`
	LifetimePoints int64     `json:"lifetime_points"`
	Tier           string    `json:"tier"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// LedgerEntry is one change to a member's points. IdempotencyKey is unique per
// workspace, so a retried step cannot award twice.
type LedgerEntry struct {
	ID             string    `json:"id"`
	WorkspaceID    string    `json:"workspace_id"`
	CustomerID     string    `json:"customer_id"`
	Delta          int64     `json:"delta"`
	Reason         string    `json:"reason,omitempty"`
	IdempotencyKey string    `json:"idempotency_key"`
	BalanceAfter   int64     `json:"balance_after"`
	TierBefore     string    `json:"tier_before"`
	TierAfter      string    `json:"tier_after"`
	CreatedAt      time.Time `json:"created_at"`
}

// PointsChange is the outcome of awarding or redeeming points.
type PointsChange struct {
	Member       Member      `json:"member"`
	Entry        LedgerEntry `json:"entry"`
	PreviousTier string      `json:"previous_tier"`
	// Applied is false when the idempotency key was already used: the change happened
	// before and Member/Entry describe that earlier result.
	Applied bool `json:"applied"`
}
