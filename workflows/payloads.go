package workflows

import (
	"encoding/json"
	"time"

	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/sdk/hookflow"
)

// This file holds every payload that crosses Temporal: workflow inputs and results
// are beside their workflows; these are the activities' inputs and results, which
// the activity packages (activities/delivery, activities/runs) implement. They are
// the workflows' own types, not models': saved histories and runs in flight hold
// their JSON, so a field is added deliberately, never renamed (the Go field name is
// the JSON name where there is no tag), and TestActivityPayloadsMatchHistories
// decodes the saved histories' payloads into them. AutomationRunID fields keep the
// JSON key RunID they were recorded with: an automation run is not a Temporal run.

// Event is an accepted event as the payloads carry it. Its JSON keys are those
// models.Event had when the histories in testdata were recorded, and every key
// recorded decodes back to its value (TestEventPayloadMatchesHistories); the
// order of the fields is free, as JSON objects are.
type Event struct {
	ID             string            `json:"id"`
	WorkspaceID    string            `json:"workspace_id"`
	Type           string            `json:"type"`
	ExternalID     string            `json:"external_id,omitempty"`
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
	SourceID       string            `json:"source_id,omitempty"`
	Data           json.RawMessage   `json:"data"`
	Depth          int               `json:"depth"`
	RootID         string            `json:"root_id,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	Headers        map[string]string `json:"headers,omitempty"`
}

// EventFrom is ev as a payload. The dedup key is not part of it: it travels beside
// it (EventWorkflowInput.DedupKey, PrepareEventInput.DedupKey).
func EventFrom(ev models.Event) Event {
	return Event{
		ID: ev.ID, WorkspaceID: ev.WorkspaceID, Type: ev.Type,
		ExternalID: ev.ExternalID, IdempotencyKey: ev.IdempotencyKey, SourceID: ev.SourceID,
		Data: ev.Data, Headers: ev.Headers, Depth: ev.Depth, RootID: ev.RootID, CreatedAt: ev.CreatedAt,
	}
}

// Model is e as the domain sees it, with its dedup key.
func (e Event) Model(dedupKey string) models.Event {
	return models.Event{
		ID: e.ID, WorkspaceID: e.WorkspaceID, Type: e.Type,
		ExternalID: e.ExternalID, IdempotencyKey: e.IdempotencyKey, DedupKey: dedupKey, SourceID: e.SourceID,
		Data: e.Data, Headers: e.Headers, Depth: e.Depth, RootID: e.RootID, CreatedAt: e.CreatedAt,
	}
}

// PrepareEventInput is the event as accepted. OnlyEndpointID, when set, targets
// that one endpoint (a test ping) instead of matching subscriptions.
type PrepareEventInput struct {
	Event          Event
	DedupKey       string
	OnlyEndpointID string
}

// PlannedDelivery names one delivery the workflow must make.
type PlannedDelivery struct {
	DeliveryID string
	EndpointID string
}

// PlannedRun names one automation run the event starts.
type PlannedRun struct {
	AutomationRunID string `json:"RunID"`
	AutomationID    string
	WorkflowID      string
	// Key is the run's rate-limit key, if any: the run carries it as HookflowKey.
	Key string `json:",omitempty"`
}

// PrepareEventResult lists the deliveries to make and the runs to start. Duplicate
// is true when the store already held another event with the same dedup key (a
// re-send after Temporal's retention forgot the first workflow); nothing is
// delivered then.
type PrepareEventResult struct {
	Duplicate  bool
	OriginalID string
	Deliveries []PlannedDelivery
	Runs       []PlannedRun
}

// PrepareBatchInput names a batch to claim and plan (BatchWorkflowInput).
type PrepareBatchInput struct {
	WorkspaceID string
	BatchID     string
	EventIDs    []string
}

// PlannedEvent is one event of a batch with what it causes. Error, when set, is
// why the event could not be planned (its data cannot be read by filters); it
// causes nothing then, and fails the batch by name.
type PlannedEvent struct {
	EventID    string
	EventType  string
	Deliveries []PlannedDelivery `json:",omitempty"`
	Runs       []PlannedRun      `json:",omitempty"`
	Error      string            `json:",omitempty"`
}

// PrepareBatchResult is the batch's events as planned, in the order accepted;
// events another batch or workflow already holds are not among them.
type PrepareBatchResult struct {
	Events []PlannedEvent
}

// StartDeliveryInput is a delivery a batch hands on to a workflow of its own
// (DeliveryWorkflowID), with what tags it; NotBefore is when its next attempt
// is due (zero: at once, for a delivery the batch did not attempt).
type StartDeliveryInput struct {
	DeliveryID  string
	WorkspaceID string
	EventType   string
	EndpointID  string
	NotBefore   time.Time `json:",omitzero"`
}

// DeliverInput names the delivery to attempt. Force sends even to a disabled
// endpoint (test pings); manual retries of a disabled endpoint's deliveries do not.
type DeliverInput struct {
	DeliveryID string
	Force      bool
	// BaseAttempts is how many attempts the delivery had before this run of it (a
	// manual retry starts the schedule over); the schedule counts the rest.
	BaseAttempts int `json:",omitempty"`
	// NotBefore, when set, is when the attempt is due (the schedule's delay after a
	// first attempt made as a local activity); see NotDue.
	NotBefore time.Time `json:",omitzero"`
}

// DeliverResult is what the successful attempt saw.
type DeliverResult struct {
	Attempt    int
	StatusCode int
}

// LoadRunInput names an automation run.
type LoadRunInput struct {
	AutomationRunID string `json:"RunID"`
}

// LoadRunResult is what the run workflow needs: the event, the steps, and where to
// start (a retried run resumes at its first unfinished step with earlier outputs).
type LoadRunResult struct {
	Event        Event
	AutomationID string
	StepIDs      []string
	StartAt      int
	Outputs      map[string]any
	// Cancelled is set (LoadRunCancelled) for a run cancelled before it
	// started: the workflow ends at once.
	Cancelled string `json:",omitempty"`
}

// RunStepInput is one step to run with the outputs of the steps before it.
type RunStepInput struct {
	AutomationRunID string `json:"RunID"`
	Index           int
	Event           Event
	Outputs         map[string]any
	// NotBefore, when set, is when the attempt is due (after a failed first
	// attempt made as a local activity); see NotDue.
	NotBefore time.Time `json:",omitzero"`
}

// RunStepResult is how the step went. Delay is set for delay steps: the workflow
// sleeps it durably. Wait is set for a wait_for_event step that waits: the
// workflow waits for the SignalWaitMatched signal naming it, or Until.
type RunStepResult struct {
	Skipped bool
	Output  map[string]any
	Delay   time.Duration
	Wait    *StepWait `json:",omitempty"`
	// Child is set for a workflow.run step: the workflow starts it as a
	// child, waits for it and records its outcome (FinishChildStep).
	Child *ChildRun `json:",omitempty"`
}

// ChildRun is the developer's workflow a workflow.run step starts.
type ChildRun struct {
	WorkflowType string
	TaskQueue    string
	WorkflowID   string
	Timeout      time.Duration
	Input        hookflow.Input
}

// FinishChildStepInput is how a workflow.run step's workflow ended: its
// result (Output) or its failure's message (Error).
type FinishChildStepInput struct {
	AutomationRunID string `json:"RunID"`
	Index           int
	Output          any    `json:",omitempty"`
	Error           string `json:",omitempty"`
}

// StepWait is a wait_for_event step's wait, recorded in the app database
// (models.RunWait): the run waits for a WaitSignal with WaitID until Until,
// then closes the wait (CloseWaitActivity), which decides how it ended.
type StepWait struct {
	WaitID    string
	EventType string
	Until     time.Time
}

// WaitSignal (SignalWaitMatched) says that EventID took the wait WaitID.
type WaitSignal struct {
	WaitID  string
	EventID string
}

// CloseWaitInput ends step Index's wait WaitID of a run.
type CloseWaitInput struct {
	AutomationRunID string `json:"RunID"`
	Index           int
	WaitID          string
}

// FinishRunInput is a run's outcome. Cancelled is a run whose workflow was
// cancelled (a cancel_on event, or a cancel request in Temporal).
type FinishRunInput struct {
	AutomationRunID string `json:"RunID"`
	Failed          bool
	Error           string
	Cancelled       bool `json:",omitempty"`
}

// LoadRunCancelled is LoadRunResult.Cancelled's reason: the run was cancelled
// before it started (while it waited for its turn).
const LoadRunCancelled = "cancelled"

// FlowSignal (SignalFlowEvent) hands an entity an event of its key: for count
// and debounce, the event to count or the latest of the burst; for concurrency
// and throttle, the run already recorded for it, waiting for its turn.
type FlowSignal struct {
	EventID           string
	EventType         string
	AutomationVersion int
	CreatedAt         time.Time
	AutomationRunID   string `json:"RunID,omitempty"`
	WorkflowID        string `json:",omitempty"`
}

// FlowInput is an entity workflow's input: which automation and key it paces,
// its settings (Limit, Period, Threshold, Within as the automation said), and
// what it carries over a continue-as-new.
type FlowInput struct {
	WorkspaceID  string
	AutomationID string
	Key          string
	Limit        int           `json:",omitempty"`
	Threshold    int           `json:",omitempty"`
	Period       time.Duration `json:",omitempty"`
	// Carried over a continue-as-new: events not yet acted on (count: the
	// window; concurrency, throttle: the queue; debounce: the latest) and, for
	// throttle, when its recent runs started.
	Pending []FlowSignal `json:",omitempty"`
	Started []time.Time  `json:",omitempty"`
	// Counted, for count, is the events of the window already counted into
	// a run: remembered until they leave the window, so that a duplicate
	// signal of one does not count again after a continue-as-new.
	Counted []FlowSignal `json:",omitempty"`
}

// StartFlowRunInput asks for the run of Event: recorded now (count, debounce;
// Count is what the count trigger reached) or already recorded (RunID set),
// to be let go.
type StartFlowRunInput struct {
	WorkspaceID  string
	AutomationID string
	Key          string
	Event        FlowSignal
	Count        int `json:",omitempty"`
}

// StartFlowRunResult is the run to start as a child; empty when there is none
// (it was cancelled, or skipped).
type StartFlowRunResult struct {
	Run PlannedRun
}

// RetryDue, the details of a retryable attempt failure (RetryLater), is when the
// next attempt is due by the attempt's own clock. A first attempt made as a local
// activity may run well after the workflow task began, so the workflow's clock is
// no base for the delay; this is.
type RetryDue struct {
	At time.Time
}
