package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// EventWorkflowInput is the accepted event. OnlyEndpointID targets one endpoint
// (a test ping) instead of the subscriptions.
type EventWorkflowInput struct {
	Event Event
	// DedupKey is the event's dedup key (Event, like models.Event, does not carry it).
	DedupKey       string
	OnlyEndpointID string
	// FirstAttemptLocal makes each delivery's first attempt a local activity (see
	// deliverAllLocalFirst). The Starter sets it on every new run; runs started
	// before it existed lack it and replay on the path they took. It is input rather
	// than workflow.GetVersion because a version marker also upserts a search
	// attribute, a visibility write per event that this path exists to save (the
	// versioning rule in contract.go).
	FirstAttemptLocal bool `json:",omitempty"`
	// FirstAttemptsBeforeRunsStart makes the first attempts in the task that
	// planned them, before the automation runs' children start (see
	// deliverThenAwaitRuns). The Starter sets it with FirstAttemptLocal; runs
	// started before it wait for the children first.
	FirstAttemptsBeforeRunsStart bool `json:",omitempty"`
}

// DeliveryOutcome is how one delivery of the event ended.
type DeliveryOutcome struct {
	DeliveryID string
	EndpointID string
	Succeeded  bool
	Error      string `json:",omitempty"`
}

// EventWorkflowResult summarises the event's deliveries.
type EventWorkflowResult struct {
	EventID    string
	Duplicate  bool `json:",omitempty"`
	Deliveries []DeliveryOutcome
	Runs       []string `json:",omitempty"`
}

// EventWorkflow records an event, plans its deliveries and makes them concurrently.
// It fails, naming the endpoints, when any delivery fails for good, so failed events
// stand out in the Web UI; each delivery's attempts are in the store either way.
func EventWorkflow(ctx workflow.Context, in EventWorkflowInput) (EventWorkflowResult, error) {
	res := EventWorkflowResult{EventID: in.Event.ID}
	var plan PrepareEventResult
	err := workflow.ExecuteLocalActivity(localOptions(ctx), PrepareEventActivity, PrepareEventInput{
		Event:          in.Event,
		DedupKey:       in.DedupKey,
		OnlyEndpointID: in.OnlyEndpointID,
	}).Get(ctx, &plan)
	if err != nil {
		return res, fmt.Errorf("prepare event %s: %w", in.Event.ID, err)
	}
	if plan.Duplicate {
		res.Duplicate = true
		return res, nil
	}
	for _, r := range plan.Runs {
		res.Runs = append(res.Runs, r.AutomationRunID)
	}
	var outcomes []DeliveryOutcome
	if in.FirstAttemptsBeforeRunsStart {
		outcomes = deliverThenAwaitRuns(ctx, in, plan)
	} else {
		if len(plan.Runs) > 0 {
			awaitRunsStarted(ctx, plan.Runs, startRuns(ctx, in.Event.WorkspaceID, in.Event.Type, plan.Runs))
		}
		tagEndpoint(ctx, plan.Deliveries)
		if in.FirstAttemptLocal {
			outcomes = deliverAllLocalFirst(ctx, plan.Deliveries, in.OnlyEndpointID != "")
		} else {
			outcomes = deliverAll(ctx, plan.Deliveries, in.OnlyEndpointID != "")
		}
	}
	var failed []string
	for _, out := range outcomes {
		if !out.Succeeded {
			failed = append(failed, fmt.Sprintf("%s (%s): %s", out.EndpointID, out.DeliveryID, out.Error))
		}
		res.Deliveries = append(res.Deliveries, out)
	}
	if len(failed) > 0 {
		return res, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%d of %d deliveries failed: %s", len(failed), len(plan.Deliveries), strings.Join(failed, "; ")),
			ErrTypeDeliveriesFailed, nil, res)
	}
	return res, nil
}

// deliverThenAwaitRuns makes the first attempts in the workflow task that planned
// them, with the runs' child starts buffered as commands of that same task, and
// only then waits for the children to start. The task holding the first attempts'
// results therefore cannot also close the workflow: if it did, a child run that
// finished meanwhile (its completion is an event in this history) would make
// Temporal refuse that completion, and the replayed task would make the first
// attempts again, delivering the event twice. The children start when that task
// completes, once the first attempts are done.
func deliverThenAwaitRuns(ctx workflow.Context, in EventWorkflowInput, plan PrepareEventResult) []DeliveryOutcome {
	var started []workflow.ChildWorkflowFuture
	if len(plan.Runs) > 0 {
		started = startRuns(ctx, in.Event.WorkspaceID, in.Event.Type, plan.Runs)
	}
	tagEndpoint(ctx, plan.Deliveries)
	first := deliverFirstAttempts(ctx, plan.Deliveries, in.OnlyEndpointID != "")
	if len(plan.Runs) > 0 {
		awaitRunsStarted(ctx, plan.Runs, started)
	}
	return first.wait(ctx)
}

// tagEndpoint tags the workflow with its endpoint when there is one, so the Web UI
// finds it by endpoint.
func tagEndpoint(ctx workflow.Context, planned []PlannedDelivery) {
	if len(planned) == 1 {
		_ = workflow.UpsertTypedSearchAttributes(ctx, SAEndpoint.ValueSet(planned[0].EndpointID))
	}
}

// deliverAll makes every delivery as a regular activity, concurrently: the path of
// runs started without FirstAttemptLocal (all runs started before it existed).
func deliverAll(ctx workflow.Context, planned []PlannedDelivery, force bool) []DeliveryOutcome {
	dctx := deliverOptions(ctx)
	futures := make([]workflow.Future, len(planned))
	for i, d := range planned {
		futures[i] = workflow.ExecuteActivity(dctx, DeliverActivity, DeliverInput{DeliveryID: d.DeliveryID, Force: force})
	}
	outcomes := make([]DeliveryOutcome, len(planned))
	for i, f := range futures {
		outcomes[i] = outcome(planned[i], f.Get(ctx, nil))
	}
	return outcomes
}

// deliverAllLocalFirst makes each delivery's first attempt as a local activity: it
// runs in the worker that holds the workflow task, its result is recorded as a
// marker in the same task's completion, and an event whose receivers answer at once
// completes in one workflow task with no activity task queued, dispatched or
// reported — most of what one delivery cost the engine. A first attempt that failed
// retryably continues as a regular activity with the usual retries, due after the
// delay the attempt chose (the schedule's next step or the receiver's Retry-After). If the worker dies
// during the first attempt, the workflow task times out and another worker makes
// it again: at least once, same webhook-id, like an activity retried after a crash.
func deliverAllLocalFirst(ctx workflow.Context, planned []PlannedDelivery, force bool) []DeliveryOutcome {
	return deliverFirstAttempts(ctx, planned, force).wait(ctx)
}

// firstAttempts is the deliveries under way after deliverFirstAttempts: each
// delivery's first attempt, then its retries, in a coroutine of its own.
type firstAttempts struct {
	wg       workflow.WaitGroup
	outcomes []DeliveryOutcome
}

// deliverFirstAttempts starts each delivery's first attempt as a local activity
// and, for one that fails retryably, its retries (see deliverAllLocalFirst).
func deliverFirstAttempts(ctx workflow.Context, planned []PlannedDelivery, force bool) *firstAttempts {
	fa := &firstAttempts{wg: workflow.NewWaitGroup(ctx), outcomes: make([]DeliveryOutcome, len(planned))}
	lctx := firstAttemptOptions(ctx)
	for i, d := range planned {
		in := DeliverInput{DeliveryID: d.DeliveryID, Force: force}
		first := workflow.ExecuteLocalActivity(lctx, DeliverActivity, in)
		fa.wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer fa.wg.Done()
			err := first.Get(ctx, nil)
			if err != nil && retryable(err, ErrTypeDeliveryFinal) {
				// The activity is scheduled now and waits for its time itself
				// (NotBefore; see NotDue), as a step's retry does.
				retry := in
				retry.NotBefore = dueAt(ctx, err)
				err = workflow.ExecuteActivity(deliverOptions(ctx), DeliverActivity, retry).Get(ctx, nil)
			}
			fa.outcomes[i] = outcome(d, err)
		})
	}
	return fa
}

// wait returns every delivery's outcome once all have ended.
func (fa *firstAttempts) wait(ctx workflow.Context) []DeliveryOutcome {
	fa.wg.Wait(ctx)
	return fa.outcomes
}

// retryable: anything but a final failure (of errType finalType, or marked
// non-retryable) goes on to the retrying path: a failed attempt, a paced one, or a
// database or worker error before sending. Deliveries and steps share it.
func retryable(err error, finalType string) bool {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return !app.NonRetryable() && app.Type() != finalType
	}
	return true
}

// dueAt is when the retry of a failed first attempt is due: the time the attempt
// named (RetryDue, measured when it ended), else its delay from the workflow's
// clock, which can lag the attempt by as long as the local activity waited to run.
// (Runs recorded before RetryDue existed take the second way; NotBefore is input to
// an activity, not a command replay compares, so either replays.)
func dueAt(ctx workflow.Context, err error) time.Time {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.HasDetails() {
		var due RetryDue
		if app.Details(&due) == nil && !due.At.IsZero() {
			return due.At
		}
	}
	return workflow.Now(ctx).Add(nextDelay(err))
}

// nextDelay is the delay the failed attempt asked for, or a second when it said
// nothing (an error before the receiver was reached).
func nextDelay(err error) time.Duration {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.NextRetryDelay() > 0 {
		return app.NextRetryDelay()
	}
	return time.Second
}

func outcome(d PlannedDelivery, err error) DeliveryOutcome {
	out := DeliveryOutcome{DeliveryID: d.DeliveryID, EndpointID: d.EndpointID}
	if err != nil {
		out.Error = rootMessage(err)
	} else {
		out.Succeeded = true
	}
	return out
}

// DeliveryRetryInput names a delivery to run again, same webhook-id.
type DeliveryRetryInput struct {
	DeliveryID string
	// BaseAttempts is the delivery's attempt count when the retry was asked for.
	BaseAttempts int `json:",omitempty"`
	// NotBefore, set when a batch hands a delivery on after its first attempt
	// failed, is when the next attempt is due (DeliverInput.NotBefore).
	NotBefore time.Time `json:",omitzero"`
}

// DeliveryRetryWorkflow runs one delivery again from the start of the schedule.
func DeliveryRetryWorkflow(ctx workflow.Context, in DeliveryRetryInput) (DeliveryOutcome, error) {
	out := DeliveryOutcome{DeliveryID: in.DeliveryID}
	var r DeliverResult
	if err := workflow.ExecuteActivity(deliverOptions(ctx), DeliverActivity, DeliverInput{DeliveryID: in.DeliveryID, BaseAttempts: in.BaseAttempts, NotBefore: in.NotBefore}).Get(ctx, &r); err != nil {
		return out, fmt.Errorf("deliver %s: %w", in.DeliveryID, err)
	}
	out.Succeeded = true
	return out, nil
}

// rootMessage is the innermost failure's message: what the activity said, without
// Temporal's wrapping.
func rootMessage(err error) string {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err.Error()
		}
		err = u.Unwrap()
	}
}
