package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hookflow/hookflow/activities"
)

// RunWorkflowInput names the automation run to execute.
type RunWorkflowInput struct {
	RunID string
}

// RunWorkflowResult lists the outputs of the run's steps.
type RunWorkflowResult struct {
	RunID   string
	Outputs map[string]any
}

// stepOptions: the activity applies each action's own schedule through
// NextRetryDelay and decides when to give up; the policy only covers attempts that
// never reported back (a worker that died mid-step).
func stepOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: activities.DefaultHTTPTimeout + 15*time.Second,
		HeartbeatTimeout:    activities.HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypeStepFailed},
		},
	})
}

// AutomationRunWorkflow runs an automation's steps in order for one event. Each step
// is an activity; a delay step is a durable timer; each step's output is passed to
// the steps after it. A step that fails for good fails the run, naming the step.
func AutomationRunWorkflow(ctx workflow.Context, in RunWorkflowInput) (RunWorkflowResult, error) {
	res := RunWorkflowResult{RunID: in.RunID}
	var run activities.LoadRunResult
	if err := workflow.ExecuteLocalActivity(localOptions(ctx), a.LoadRun, activities.LoadRunInput{RunID: in.RunID}).Get(ctx, &run); err != nil {
		return res, fmt.Errorf("load run %s: %w", in.RunID, err)
	}
	outputs := run.Outputs
	if outputs == nil {
		outputs = map[string]any{}
	}
	for i := run.StartAt; i < len(run.StepIDs); i++ {
		var r activities.RunStepResult
		err := workflow.ExecuteActivity(stepOptions(ctx), a.RunStep, activities.RunStepInput{
			RunID: in.RunID, Index: i, Event: run.Event, Outputs: outputs,
		}).Get(ctx, &r)
		if err != nil {
			msg := rootMessage(err)
			_ = workflow.ExecuteLocalActivity(localOptions(ctx), a.FinishRun, activities.FinishRunInput{RunID: in.RunID, Failed: true, Error: msg}).Get(ctx, nil)
			return res, temporal.NewNonRetryableApplicationError(msg, "RunFailed", nil)
		}
		if r.Delay > 0 {
			if err := workflow.Sleep(ctx, r.Delay); err != nil {
				return res, err
			}
		}
		if !r.Skipped {
			outputs[run.StepIDs[i]] = r.Output
		}
	}
	res.Outputs = outputs
	if err := workflow.ExecuteLocalActivity(localOptions(ctx), a.FinishRun, activities.FinishRunInput{RunID: in.RunID}).Get(ctx, nil); err != nil {
		return res, err
	}
	return res, nil
}

// startRuns starts one child workflow per planned run and waits until each has
// started (not finished: a run with a long delay must not hold the event open).
func startRuns(ctx workflow.Context, in EventWorkflowInput, runs []activities.PlannedRun) {
	futures := make([]workflow.ChildWorkflowFuture, len(runs))
	for i, r := range runs {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            r.WorkflowID,
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				SAWorkspace.ValueSet(in.Event.WorkspaceID),
				SAEventType.ValueSet(in.Event.Type),
				SAAutomation.ValueSet(r.AutomationID),
			),
		})
		futures[i] = workflow.ExecuteChildWorkflow(cctx, AutomationRunWorkflow, RunWorkflowInput{RunID: r.RunID})
	}
	for i, f := range futures {
		var started workflow.Execution
		if err := f.GetChildWorkflowExecution().Get(ctx, &started); err != nil {
			var already *temporal.ChildWorkflowExecutionAlreadyStartedError
			if !errors.As(err, &already) {
				workflow.GetLogger(ctx).Error("start automation run", "run_id", runs[i].RunID, "error", err)
			}
		}
	}
}
