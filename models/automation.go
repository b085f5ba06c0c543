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

// AutomationRun is one execution of an automation for one event. (Not a Temporal
// run: its workflow has a run ID of its own.)
type AutomationRun struct {
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
