package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/hookflow/hookflow/models"
)

// memoEventID is the memo key that carries hookflow's event id on an EventWorkflow,
// so a duplicate start can answer with the original id.
const memoEventID = "event_id"

// StartTimeout bounds how long starting an event's workflow may take before the
// caller is told Temporal is unavailable (503).
const StartTimeout = 5 * time.Second

// Starter starts hookflow's workflows. The API holds it behind a small interface.
type Starter struct {
	client    client.Client
	taskQueue string
	eager     bool
}

// NewStarter returns a Starter that puts work on taskQueue.
func NewStarter(c client.Client, taskQueue string) *Starter {
	if taskQueue == "" {
		taskQueue = DefaultTaskQueue
	}
	return &Starter{client: c, taskQueue: taskQueue}
}

// WithEagerStart asks Temporal to hand each new EventWorkflow's first task straight
// back to a worker in this process (eager workflow start), sparing the task queue
// round trip. It only helps when a worker polling taskQueue shares the client; the
// server falls back to a normal start when none is free. It returns s.
func (s *Starter) WithEagerStart() *Starter {
	s.eager = true
	return s
}

// StartEvent starts the event's workflow and returns once Temporal has it: from then
// on the event is durable. If a workflow for the same dedup key exists, it returns the
// original event's id and duplicate=true and starts nothing.
func (s *Starter) StartEvent(ctx context.Context, ev models.Event, onlyEndpointID string) (string, bool, error) {
	// A caller waiting on an unreachable Temporal should hear 503 soon and retry,
	// not hang for the client's default of ten seconds or more.
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	sa := eventTags(ev.WorkspaceID, ev.Type, ev.SourceID, onlyEndpointID)
	id := EventWorkflowID(ev.WorkspaceID, ev.DedupKey)
	_, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                s.taskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    temporal.NewSearchAttributes(sa...),
		Memo:                                     map[string]any{memoEventID: ev.ID},
		EnableEagerStart:                         s.eager,
	}, EventWorkflowName, EventWorkflowInput{Event: EventFrom(ev), DedupKey: ev.DedupKey, OnlyEndpointID: onlyEndpointID,
		FirstAttemptLocal: true, FirstAttemptsBeforeRunsStart: true})
	if err == nil {
		return ev.ID, false, nil
	}
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if !errors.As(err, &started) {
		return "", false, fmt.Errorf("start workflow %s: %w: %w", id, models.ErrUnavailable, err)
	}
	orig, err := s.originalEventID(ctx, id)
	if err != nil {
		return "", false, err
	}
	return orig, true, nil
}

// StartBatch starts batch b's workflow (BatchWorkflowID) and returns once
// Temporal has it. A batch already started under that ID is not an error: the
// intake, a re-send that finds the batch unstarted and the sweep may all start
// it, and it runs once. eventType and sourceID, when every event of the batch
// shares them, tag the workflow as EventWorkflow's tags are; empty when they
// differ.
func (s *Starter) StartBatch(ctx context.Context, b models.EventBatch, eventType, sourceID string) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	id := BatchWorkflowID(b.WorkspaceID, b.ID)
	// A batch that completed claimed its events: it must not run again. One that
	// was terminated before it claimed them may be started again by the sweep.
	err := s.startOnce(ctx, id, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY, eventTags(b.WorkspaceID, eventType, sourceID, ""), s.eager,
		BatchWorkflowName, BatchWorkflowInput{WorkspaceID: b.WorkspaceID, BatchID: b.ID, EventIDs: b.EventIDs})
	if err != nil {
		return fmt.Errorf("start workflow %s: %w: %w", id, models.ErrUnavailable, err)
	}
	return nil
}

// startOnce starts workflow id unless it runs (or ran, by reuse) already: an
// AlreadyStarted answer is success, as a start that is made again is.
func (s *Starter) startOnce(ctx context.Context, id string, reuse enumspb.WorkflowIdReusePolicy, sa []temporal.SearchAttributeUpdate, eager bool, name string, in any) error {
	_, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                s.taskQueue,
		WorkflowIDReusePolicy:                    reuse,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    temporal.NewSearchAttributes(sa...),
		EnableEagerStart:                         eager,
	}, name, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	return err
}

// eventTags are the search attributes of an event's or a batch's workflow: the
// workspace, and those of the rest that are known.
func eventTags(workspaceID, eventType, sourceID, endpointID string) []temporal.SearchAttributeUpdate {
	sa := []temporal.SearchAttributeUpdate{SAWorkspace.ValueSet(workspaceID)}
	for _, t := range []struct {
		key   temporal.SearchAttributeKeyKeyword
		value string
	}{{SAEventType, eventType}, {SASource, sourceID}, {SAEndpoint, endpointID}} {
		if t.value != "" {
			sa = append(sa, t.key.ValueSet(t.value))
		}
	}
	return sa
}

func (s *Starter) originalEventID(ctx context.Context, workflowID string) (string, error) {
	desc, err := s.client.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return "", fmt.Errorf("describe workflow %s: %w: %w", workflowID, models.ErrUnavailable, err)
	}
	field := desc.GetWorkflowExecutionInfo().GetMemo().GetFields()[memoEventID]
	var id string
	if field == nil {
		return "", fmt.Errorf("workflow %s has no %s memo", workflowID, memoEventID)
	}
	if err := converter.GetDefaultDataConverter().FromPayload(field, &id); err != nil {
		return "", fmt.Errorf("decode memo of %s: %w", workflowID, err)
	}
	return id, nil
}

// StartDelivery starts the workflow a batch hands a delivery on to
// (DeliveryWorkflowID): a DeliveryRetryWorkflow that runs the rest of its
// schedule, due at in.NotBefore. One already started under that ID is no error.
func (s *Starter) StartDelivery(ctx context.Context, in StartDeliveryInput) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	id := DeliveryWorkflowID(in.DeliveryID)
	err := s.startOnce(ctx, id, enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE, eventTags(in.WorkspaceID, in.EventType, "", in.EndpointID), false,
		DeliveryRetryWorkflowName, DeliveryRetryInput{DeliveryID: in.DeliveryID, NotBefore: in.NotBefore})
	if err != nil {
		return fmt.Errorf("start workflow %s: %w: %w", id, models.ErrUnavailable, err)
	}
	return nil
}

// RetryDelivery starts a manual retry of d (same webhook-id). It returns
// models.ErrConflict when a retry of the same delivery is already running.
func (s *Starter) RetryDelivery(ctx context.Context, d models.Delivery) error {
	id := DeliveryRetryWorkflowID(d.ID, d.AttemptCount)
	_, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                s.taskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SAWorkspace.ValueSet(d.WorkspaceID),
			SAEventType.ValueSet(d.EventType),
			SAEndpoint.ValueSet(d.EndpointID),
		),
	}, DeliveryRetryWorkflowName, DeliveryRetryInput{DeliveryID: d.ID, BaseAttempts: d.AttemptCount})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return fmt.Errorf("a retry of %s is already running: %w", d.ID, models.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("start retry of %s: %w: %w", d.ID, models.ErrUnavailable, err)
	}
	return nil
}

// RetryRun starts a failed automation run again; the run resumes at its first step
// that did not succeed. Its workflow ID derives from the failed state (see
// RunRetryWorkflowID), so a second click on the same failed run finds the first
// retry already running and starts nothing: it returns nil, as the run is being
// retried as asked.
func (s *Starter) RetryRun(ctx context.Context, r models.AutomationRun) error {
	id := RunRetryWorkflowID(r.WorkflowID, runFailedAt(r))
	_, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: s.taskQueue,
		// A closed retry of the same state (one that ended without recording a new
		// failure) may start again; an open one may not.
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SAWorkspace.ValueSet(r.WorkspaceID),
			SAAutomation.ValueSet(r.AutomationID),
		),
	}, AutomationRunWorkflowName, RunWorkflowInput{AutomationRunID: r.ID, FirstAttemptLocal: true, RetryWaitsInActivity: true})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("start retry of run %s: %w: %w", r.ID, models.ErrUnavailable, err)
	}
	return nil
}

// runFailedAt is when the run's failure was recorded: FinishedAt, which every
// failure sets, else UpdatedAt for a row that lacks it.
func runFailedAt(r models.AutomationRun) time.Time {
	if r.FinishedAt != nil {
		return *r.FinishedAt
	}
	return r.UpdatedAt
}

// Ping checks that Temporal answers.
func (s *Starter) Ping(ctx context.Context) error {
	if _, err := s.client.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	return nil
}
