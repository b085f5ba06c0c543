package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hookflow/hookflow/activities"
	"github.com/hookflow/hookflow/models"
)

// EventWorkflowInput is the accepted event. OnlyEndpointID targets one endpoint
// (a test ping) instead of the subscriptions.
type EventWorkflowInput struct {
	Event models.Event
	// DedupKey is the event's dedup key (models.Event does not serialise it).
	DedupKey       string
	OnlyEndpointID string
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

// a is a nil receiver used only to name activity methods; Temporal resolves them by name.
var a *activities.Activities

// localOptions is for the bookkeeping local activities (recording, planning, loading
// runs): database work that retries quickly until the database answers.
func localOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        200 * time.Millisecond,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypeStepFailed},
		},
	})
}

// deliverOptions: one attempt may take the 15 s HTTP timeout plus bookkeeping. The
// schedule itself is applied by the activity through NextRetryDelay, and the activity
// decides when to stop, so the policy has no attempt limit; its intervals only apply
// when an attempt never reported back (a worker that died mid-request).
func deliverOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: activities.DefaultHTTPTimeout + 15*time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypeDeliveryFinal},
		},
	})
}

// EventWorkflow records an event, plans its deliveries and makes them concurrently.
// It fails, naming the endpoints, when any delivery fails for good, so failed events
// stand out in the Web UI; each delivery's attempts are in the store either way.
func EventWorkflow(ctx workflow.Context, in EventWorkflowInput) (EventWorkflowResult, error) {
	res := EventWorkflowResult{EventID: in.Event.ID}
	var plan activities.PrepareEventResult
	err := workflow.ExecuteLocalActivity(localOptions(ctx), a.PrepareEvent, activities.PrepareEventInput{
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
	if len(plan.Runs) > 0 {
		startRuns(ctx, in, plan.Runs)
		for _, r := range plan.Runs {
			res.Runs = append(res.Runs, r.RunID)
		}
	}
	if len(plan.Deliveries) == 1 {
		// One endpoint: tag the run with it so the Web UI finds it by endpoint.
		_ = workflow.UpsertTypedSearchAttributes(ctx, SAEndpoint.ValueSet(plan.Deliveries[0].EndpointID))
	}

	dctx := deliverOptions(ctx)
	futures := make([]workflow.Future, len(plan.Deliveries))
	for i, d := range plan.Deliveries {
		futures[i] = workflow.ExecuteActivity(dctx, a.Deliver, activities.DeliverInput{
			DeliveryID: d.DeliveryID,
			Force:      in.OnlyEndpointID != "",
		})
	}
	var failed []string
	for i, f := range futures {
		d := plan.Deliveries[i]
		out := DeliveryOutcome{DeliveryID: d.DeliveryID, EndpointID: d.EndpointID}
		if err := f.Get(ctx, nil); err != nil {
			out.Error = rootMessage(err)
			failed = append(failed, fmt.Sprintf("%s (%s): %s", d.EndpointID, d.DeliveryID, out.Error))
		} else {
			out.Succeeded = true
		}
		res.Deliveries = append(res.Deliveries, out)
	}
	if len(failed) > 0 {
		return res, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%d of %d deliveries failed: %s", len(failed), len(plan.Deliveries), strings.Join(failed, "; ")),
			"DeliveriesFailed", nil, res)
	}
	return res, nil
}

// DeliveryRetryInput names a delivery to run again, same webhook-id.
type DeliveryRetryInput struct {
	DeliveryID string
	// BaseAttempts is the delivery's attempt count when the retry was asked for.
	BaseAttempts int `json:",omitempty"`
}

// DeliveryRetryWorkflow runs one delivery again from the start of the schedule.
func DeliveryRetryWorkflow(ctx workflow.Context, in DeliveryRetryInput) (DeliveryOutcome, error) {
	out := DeliveryOutcome{DeliveryID: in.DeliveryID}
	var r activities.DeliverResult
	if err := workflow.ExecuteActivity(deliverOptions(ctx), a.Deliver, activities.DeliverInput{DeliveryID: in.DeliveryID, BaseAttempts: in.BaseAttempts}).Get(ctx, &r); err != nil {
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
