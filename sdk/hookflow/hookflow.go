// Package hookflow is for developers' own Temporal workers: the input a
// workflow started by an automation's workflow.run step receives, and
// helpers to use hookflow from inside it (emit an event) as activities that
// run on hookflow's workers, so they are durable and deduplicated. It
// imports only the Temporal SDK: no hookflow internals.
//
// A step
//
//	{"id": "fulfil", "action": "workflow.run", "params": {"workflow_type": "FulfilOrder",
//	  "task_queue": "orders", "input": {"warehouse": "{{ .event.data.warehouse }}"}, "timeout": "1h"}}
//
// starts FulfilOrder on task queue "orders" as a child of the run, with an
// Input; what it returns is the step's output (later steps read
// steps.fulfil.<field>), and its failure fails the step with its message.
package hookflow

import (
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Input is what a workflow started by a workflow.run step receives.
type Input struct {
	// Event is the event that triggered the run.
	Event Event `json:"event"`
	// Run says which automation run and step started the workflow.
	Run Run `json:"run"`
	// Params is the step's params.input, rendered (templates and $expr
	// evaluated over the event and earlier steps' outputs).
	Params json.RawMessage `json:"input,omitempty"`
	// HookflowTaskQueue is where hookflow's workers poll: the task queue of
	// the activities this package's helpers run (EmitEvent).
	HookflowTaskQueue string `json:"hookflow_task_queue"`
}

// Event is an accepted event.
type Event struct {
	ID          string          `json:"id"`
	WorkspaceID string          `json:"workspace_id"`
	Type        string          `json:"type"`
	SourceID    string          `json:"source_id,omitempty"`
	Data        json.RawMessage `json:"data"`
	// Depth and RootID place the event in its chain; events the workflow
	// emits continue it (hookflow bounds a chain's depth and size).
	Depth     int       `json:"depth"`
	RootID    string    `json:"root_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Run names the automation run and its step.
type Run struct {
	ID           string `json:"id"`
	AutomationID string `json:"automation_id"`
	StepID       string `json:"step_id"`
}

// EmitEventActivity is the name of the activity hookflow's workers run for
// EmitEvent.
const EmitEventActivity = "hookflow.EmitEvent"

// EmitEventInput is an event a developer's workflow emits into the
// workspace of the event that started it.
type EmitEventInput struct {
	WorkspaceID string `json:"workspace_id"`
	// Parent is the event the emitted one follows (its chain).
	ParentID     string `json:"parent_id"`
	ParentDepth  int    `json:"parent_depth"`
	ParentRootID string `json:"parent_root_id,omitempty"`
	// Key makes the emit idempotent: the same key emits one event, however
	// often the activity runs.
	Key  string         `json:"key"`
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
}

// EmitEventResult is the emitted event's id.
type EmitEventResult struct {
	EventID string `json:"event_id"`
}

// EmitEvent emits an event of eventType with data into in's workspace, after
// in.Event, from inside a workflow: an activity on hookflow's task queue,
// retried until hookflow accepts it, and deduplicated by name (one event per
// workflow and name, however often it is retried or replayed).
func EmitEvent(ctx workflow.Context, in Input, name, eventType string, data map[string]any) (EmitEventResult, error) {
	info := workflow.GetInfo(ctx)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           in.HookflowTaskQueue,
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{"EmitRefused"},
		},
	})
	req := EmitEventInput{
		WorkspaceID: in.Event.WorkspaceID, ParentID: in.Event.ID, ParentDepth: in.Event.Depth, ParentRootID: in.Event.RootID,
		Key: fmt.Sprintf("%s/%s", info.WorkflowExecution.ID, name), Type: eventType, Data: data,
	}
	var res EmitEventResult
	err := workflow.ExecuteActivity(actx, EmitEventActivity, req).Get(ctx, &res)
	return res, err
}
