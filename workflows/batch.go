package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// BatchWorkflowInput names a batch of events the intake accepted together
// (micro-batching at ingest, docs/BATCHING.md). The events are in the app
// database, inserted by the intake before it started this workflow; the input
// carries their ids only, so no event data is copied into Temporal.
type BatchWorkflowInput struct {
	WorkspaceID string
	BatchID     string
	EventIDs    []string
}

// BatchWorkflowResult counts what the batch's first attempts did; the retries
// and the runs go on in workflows of their own.
type BatchWorkflowResult struct {
	Events    int
	Delivered int
	// Retrying lists the deliveries whose first attempt failed retryably: each
	// goes on in its own DeliveryRetryWorkflow (DeliveryWorkflowID).
	Retrying []string          `json:",omitempty"`
	Runs     int               `json:",omitempty"`
	Failed   []DeliveryOutcome `json:",omitempty"`
}

// MaxBatchFirstAttempts bounds the first attempts one batch workflow makes
// itself, so a batch of wide fan-outs keeps a small history: deliveries past it
// start at once as workflows of their own.
const MaxBatchFirstAttempts = 1000

// BatchWorkflow is several accepted events as one workflow: what spares the
// engine one workflow per event. It claims and plans the whole batch in one
// local activity (PrepareBatch), starts each automation run as a child
// AutomationRunWorkflow, and makes every delivery's first attempt as a local
// activity. A delivery whose first attempt failed retryably continues as its
// own DeliveryRetryWorkflow (started by the StartDelivery local activity, due
// when the attempt said), with the workspace, event type and endpoint search
// attributes, so each failing delivery is a workflow of its own in the Web UI;
// the batch then completes without waiting for it. A delivery that failed for
// good fails the batch, naming it, as EventWorkflow fails for its event.
//
// As in EventWorkflow (deliverThenAwaitRuns), the children's starts are
// commands of the task that makes the first attempts, and the batch waits for
// them to start before it completes: the task holding the attempts' results
// cannot also close the workflow, so a child's completion cannot make Temporal
// refuse it and replay the attempts.
func BatchWorkflow(ctx workflow.Context, in BatchWorkflowInput) (BatchWorkflowResult, error) {
	var plan PrepareBatchResult
	err := workflow.ExecuteLocalActivity(localOptions(ctx), PrepareBatchActivity, PrepareBatchInput(in)).Get(ctx, &plan)
	if err != nil {
		return BatchWorkflowResult{}, fmt.Errorf("prepare batch %s: %w", in.BatchID, err)
	}
	res := BatchWorkflowResult{Events: len(plan.Events)}
	var runs []PlannedRun
	var started []workflow.ChildWorkflowFuture
	for _, ev := range plan.Events {
		if len(ev.Runs) > 0 {
			runs = append(runs, ev.Runs...)
			started = append(started, startRuns(ctx, in.WorkspaceID, ev.EventType, ev.Runs)...)
		}
	}
	res.Runs = len(runs)
	b := &batchDeliveries{wg: workflow.NewWaitGroup(ctx), workspaceID: in.WorkspaceID}
	for _, ev := range plan.Events {
		for _, d := range ev.Deliveries {
			b.deliver(ctx, ev.EventType, d)
		}
	}
	awaitRunsStarted(ctx, runs, started)
	b.wg.Wait(ctx)
	res.Delivered, res.Retrying, res.Failed = b.delivered, b.retrying, b.failed
	for _, ev := range plan.Events {
		if ev.Error != "" {
			res.Failed = append(res.Failed, DeliveryOutcome{Error: fmt.Sprintf("event %s: %s", ev.EventID, ev.Error)})
		}
	}
	if len(res.Failed) > 0 {
		return res, temporal.NewNonRetryableApplicationError(failedMessage(res.Failed), ErrTypeDeliveriesFailed, nil, res)
	}
	return res, nil
}

// maxFailuresNamed bounds the failures a batch's failure message names (every
// one is in its result and in the app database), so a batch whose receivers all
// refuse keeps a short message in the Web UI and the history.
const maxFailuresNamed = 10

func failedMessage(failed []DeliveryOutcome) string {
	var msgs []string
	for _, f := range failed[:min(len(failed), maxFailuresNamed)] {
		m := f.Error
		if f.DeliveryID != "" {
			m = fmt.Sprintf("%s (%s): %s", f.EndpointID, f.DeliveryID, f.Error)
		}
		msgs = append(msgs, m)
	}
	if more := len(failed) - maxFailuresNamed; more > 0 {
		msgs = append(msgs, fmt.Sprintf("and %d more", more))
	}
	return fmt.Sprintf("%d of the batch's deliveries failed: %s", len(failed), strings.Join(msgs, "; "))
}

// batchDeliveries is a batch's deliveries under way: each first attempt, then,
// for one that failed retryably, the start of its own workflow.
type batchDeliveries struct {
	wg          workflow.WaitGroup
	workspaceID string
	attempts    int
	delivered   int
	retrying    []string
	failed      []DeliveryOutcome
}

func (b *batchDeliveries) deliver(ctx workflow.Context, eventType string, d PlannedDelivery) {
	b.wg.Add(1)
	if b.attempts >= MaxBatchFirstAttempts {
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer b.wg.Done()
			b.handOff(ctx, eventType, d, time.Time{})
		})
		return
	}
	b.attempts++
	in := DeliverInput{DeliveryID: d.DeliveryID}
	first := workflow.ExecuteLocalActivity(firstAttemptOptions(ctx), DeliverActivity, in)
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer b.wg.Done()
		err := first.Get(ctx, nil)
		switch {
		case err == nil:
			b.delivered++
		case retryable(err, ErrTypeDeliveryFinal):
			b.handOff(ctx, eventType, d, dueAt(ctx, err))
		default:
			b.failed = append(b.failed, outcome(d, err))
		}
	})
}

// handOff starts the delivery's own workflow, tagged with its workspace, event
// type and endpoint, and waits until it has started. The start is a local
// activity through the client, not a child workflow: a batch may hand on
// hundreds of deliveries at once (a receiver that is down, a wide fan-out),
// and Temporal serialises a parent's child starts through its one history,
// where independent starts run in parallel. The workflow ID makes a start
// that is made again (a replayed task) start nothing.
func (b *batchDeliveries) handOff(ctx workflow.Context, eventType string, d PlannedDelivery, notBefore time.Time) {
	in := StartDeliveryInput{DeliveryID: d.DeliveryID, WorkspaceID: b.workspaceID, EventType: eventType, EndpointID: d.EndpointID, NotBefore: notBefore}
	if err := workflow.ExecuteLocalActivity(localOptions(ctx), StartDeliveryActivity, in).Get(ctx, nil); err != nil {
		b.failed = append(b.failed, outcome(d, fmt.Errorf("start its retries: %w", err)))
		return
	}
	b.retrying = append(b.retrying, d.DeliveryID)
}
