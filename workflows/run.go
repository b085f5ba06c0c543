package workflows

import (
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// RunWorkflowInput names the automation run to execute.
type RunWorkflowInput struct {
	// AutomationRunID is hookflow's run (run_…), not a Temporal run ID; its JSON
	// key is the one the saved histories hold.
	AutomationRunID string `json:"RunID"`
	// FirstAttemptLocal makes each step's first attempt a local activity (see
	// runStepLocalFirst). Every run started by this version sets it; runs started
	// before it existed replay on their old path, every attempt an activity.
	FirstAttemptLocal bool `json:",omitempty"`
	// RetryWaitsInActivity makes the retry of a failed local first attempt wait
	// for its time in the activity (RunStepInput.NotBefore, see NotDue), as a
	// delivery's does, instead of on a workflow timer. Every run started by this
	// version sets it; runs started before it replay the timer.
	RetryWaitsInActivity bool `json:",omitempty"`
}

// RunWorkflowResult lists the outputs of the run's steps.
type RunWorkflowResult struct {
	AutomationRunID string `json:"RunID"`
	Outputs         map[string]any
}

// AutomationRunWorkflow runs an automation's steps in order for one event. Each step
// is an activity; a delay step is a durable timer; each step's output is passed to
// the steps after it. A step that fails for good fails the run, naming the step.
func AutomationRunWorkflow(ctx workflow.Context, in RunWorkflowInput) (RunWorkflowResult, error) {
	res := RunWorkflowResult{AutomationRunID: in.AutomationRunID}
	var run LoadRunResult
	if err := workflow.ExecuteLocalActivity(localOptions(ctx), LoadRunActivity, LoadRunInput{AutomationRunID: in.AutomationRunID}).Get(ctx, &run); err != nil {
		if ctx.Err() != nil {
			return res, finishCancelled(ctx, in.AutomationRunID)
		}
		return res, fmt.Errorf("load run %s: %w", in.AutomationRunID, err)
	}
	if run.Cancelled != "" {
		return res, nil // cancelled before it started: recorded so already
	}
	outputs := run.Outputs
	if outputs == nil {
		outputs = map[string]any{}
	}
	for i := run.StartAt; i < len(run.StepIDs); i++ {
		out, skipped, err := runStep(ctx, in, RunStepInput{AutomationRunID: in.AutomationRunID, Index: i, Event: run.Event, Outputs: outputs})
		if ctx.Err() != nil {
			// Cancelled (a cancel_on event, or a cancel request) wherever
			// the run was: in a step, a delay or a wait.
			return res, finishCancelled(ctx, in.AutomationRunID)
		}
		if err != nil {
			msg := rootMessage(err)
			_ = workflow.ExecuteLocalActivity(localOptions(ctx), FinishRunActivity, FinishRunInput{AutomationRunID: in.AutomationRunID, Failed: true, Error: msg}).Get(ctx, nil)
			return res, temporal.NewNonRetryableApplicationError(msg, ErrTypeRunFailed, nil)
		}
		if !skipped {
			outputs[run.StepIDs[i]] = out
		}
	}
	res.Outputs = outputs
	if err := workflow.ExecuteLocalActivity(localOptions(ctx), FinishRunActivity, FinishRunInput{AutomationRunID: in.AutomationRunID}).Get(ctx, nil); err != nil {
		return res, err
	}
	return res, nil
}

// runStep runs one step: its attempts, then the delay it asks for or the event
// it waits for. It returns the step's output and whether it was skipped.
func runStep(ctx workflow.Context, in RunWorkflowInput, step RunStepInput) (map[string]any, bool, error) {
	var r RunStepResult
	var err error
	if in.FirstAttemptLocal {
		err = runStepLocalFirst(ctx, step, &r, in.RetryWaitsInActivity)
	} else {
		err = workflow.ExecuteActivity(stepOptions(ctx), RunStepActivity, step).Get(ctx, &r)
	}
	if err != nil {
		return nil, false, err
	}
	if r.Delay > 0 {
		if err := workflow.Sleep(ctx, r.Delay); err != nil {
			return nil, false, err
		}
	}
	if r.Wait != nil {
		out, err := awaitEvent(ctx, step, r.Wait)
		return out, false, err
	}
	if r.Child != nil {
		out, err := runChild(ctx, step, r.Child)
		return out, false, err
	}
	return r.Output, r.Skipped, nil
}

// runChild runs a workflow.run step's workflow: a child on the developer's
// task queue, under an ID of the run and step (a step made again starts no
// second one; one that failed may start again), cancelled with the run, tagged
// with the run's search attributes. FinishChildStep records how it ended; its
// failure fails the step with the workflow's message.
func runChild(ctx workflow.Context, step RunStepInput, c *ChildRun) (map[string]any, error) {
	sa := []temporal.SearchAttributeUpdate{SAWorkspace.ValueSet(c.Input.Event.WorkspaceID), SAEventType.ValueSet(c.Input.Event.Type)}
	if c.Input.Run.AutomationID != "" {
		sa = append(sa, SAAutomation.ValueSet(c.Input.Run.AutomationID))
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:               c.WorkflowID,
		TaskQueue:                c.TaskQueue,
		WorkflowExecutionTimeout: c.Timeout,
		ParentClosePolicy:        enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		TypedSearchAttributes:    temporal.NewSearchAttributes(sa...),
	})
	var result any
	err := workflow.ExecuteChildWorkflow(cctx, c.WorkflowType, c.Input).Get(ctx, &result)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	fin := FinishChildStepInput{AutomationRunID: step.AutomationRunID, Index: step.Index, Output: result}
	if err != nil {
		fin.Output, fin.Error = nil, rootMessage(err)
	}
	var out map[string]any
	if lerr := workflow.ExecuteLocalActivity(localOptions(ctx), FinishChildStepActivity, fin).Get(ctx, &out); lerr != nil {
		return nil, lerr
	}
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("workflow %s (%s) failed: %s", c.WorkflowID, c.WorkflowType, fin.Error), ErrTypeStepFailed, nil)
	}
	return out, nil
}

// awaitEvent waits for the event a wait_for_event step registered its wait
// for: a WaitSignal naming the wait, or the deadline, whichever comes first.
// Either way CloseWait decides in the database how the wait ended (an event
// may take it just as it times out) and records the step's output. While it
// waits, the run's HookflowWaitingOn search attribute names the event type.
func awaitEvent(ctx workflow.Context, step RunStepInput, w *StepWait) (map[string]any, error) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, SAWaitingOn.ValueSet([]string{w.EventType})); err != nil {
		return nil, err
	}
	timerCtx, stopTimer := workflow.WithCancel(ctx)
	timer := workflow.NewTimer(timerCtx, max(w.Until.Sub(workflow.Now(ctx)), 0))
	signals := workflow.GetSignalChannel(ctx, SignalWaitMatched)
	done := false
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(signals, func(c workflow.ReceiveChannel, _ bool) {
		var sig WaitSignal
		c.Receive(ctx, &sig)
		done = sig.WaitID == w.WaitID // a signal for an earlier wait is stale
	})
	sel.AddFuture(timer, func(workflow.Future) { done = true })
	for !done {
		sel.Select(ctx)
	}
	stopTimer()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var out map[string]any
	err := workflow.ExecuteLocalActivity(localOptions(ctx), CloseWaitActivity, CloseWaitInput{
		AutomationRunID: step.AutomationRunID, Index: step.Index, WaitID: w.WaitID}).Get(ctx, &out)
	if err != nil {
		return nil, err
	}
	return out, workflow.UpsertTypedSearchAttributes(ctx, SAWaitingOn.ValueUnset())
}

// finishCancelled records a cancelled run (on a context the cancellation does
// not reach) and returns the error that closes the workflow as cancelled.
func finishCancelled(ctx workflow.Context, runID string) error {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	_ = workflow.ExecuteLocalActivity(localOptions(dctx), FinishRunActivity, FinishRunInput{AutomationRunID: runID, Cancelled: true}).Get(dctx, nil)
	return temporal.NewCanceledError()
}

// runStepLocalFirst makes a step's first attempt as a local activity, in the
// workflow task that is already running: a step that succeeds at once (nearly all)
// costs no activity task, dispatch or report, and no extra workflow task. One that
// failed retryably goes on as a regular activity with the step's retries, due at
// the time the attempt named; one that failed for good fails the run as before. A
// worker that dies during the first attempt loses the workflow task, and another
// worker makes the attempt again: at least once, with the same idempotency key, as
// for an activity retried after a crash.
//
// inActivity is RunWorkflowInput.RetryWaitsInActivity: the retry is scheduled at
// once and waits in the activity, as a delivery's does. Runs started without it
// wait on a durable timer first, the path their histories recorded.
func runStepLocalFirst(ctx workflow.Context, step RunStepInput, r *RunStepResult, inActivity bool) error {
	err := workflow.ExecuteLocalActivity(firstAttemptOptions(ctx), RunStepActivity, step).Get(ctx, r)
	if err == nil || !retryable(err, ErrTypeStepFailed) {
		return err
	}
	if inActivity {
		step.NotBefore = dueAt(ctx, err)
	} else if wait := dueAt(ctx, err).Sub(workflow.Now(ctx)); wait > 0 {
		if err := workflow.Sleep(ctx, wait); err != nil {
			return err
		}
	}
	return workflow.ExecuteActivity(stepOptions(ctx), RunStepActivity, step).Get(ctx, r)
}

// startRuns starts one child workflow per planned run. The runs are not waited
// for (a run with a long delay must not hold the event open), only their start:
// see awaitRunsStarted.
func startRuns(ctx workflow.Context, workspaceID, eventType string, runs []PlannedRun) []workflow.ChildWorkflowFuture {
	futures := make([]workflow.ChildWorkflowFuture, len(runs))
	for i, r := range runs {
		sa := []temporal.SearchAttributeUpdate{SAWorkspace.ValueSet(workspaceID), SAEventType.ValueSet(eventType), SAAutomation.ValueSet(r.AutomationID)}
		if r.Key != "" {
			sa = append(sa, SAKey.ValueSet(r.Key))
		}
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            r.WorkflowID,
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			TypedSearchAttributes: temporal.NewSearchAttributes(sa...),
		})
		futures[i] = workflow.ExecuteChildWorkflow(cctx, AutomationRunWorkflowName, RunWorkflowInput{AutomationRunID: r.AutomationRunID, FirstAttemptLocal: true, RetryWaitsInActivity: true})
	}
	return futures
}

// awaitRunsStarted waits until each run's child has started (or was started
// before, by an earlier run of this event's workflow).
func awaitRunsStarted(ctx workflow.Context, runs []PlannedRun, futures []workflow.ChildWorkflowFuture) {
	for i, f := range futures {
		var started workflow.Execution
		if err := f.GetChildWorkflowExecution().Get(ctx, &started); err != nil {
			var already *temporal.ChildWorkflowExecutionAlreadyStartedError
			if !errors.As(err, &already) {
				workflow.GetLogger(ctx).Error("start automation run", "run_id", runs[i].AutomationRunID, "error", err)
			}
		}
	}
}
