package runs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/sdk/hookflow"
	"github.com/hookflow/hookflow/workflows"
)

// Bounds of a workflow.run step.
const (
	// DefaultChildTimeout is a developer workflow's time to finish when the
	// step gives none; MaxChildTimeout the most it may give.
	DefaultChildTimeout = time.Hour
	MaxChildTimeout     = 30 * 24 * time.Hour
	maxChildInputBytes  = 256 << 10
	maxChildNameLen     = 200
)

// childRun checks a workflow.run step's rendered params and records the step
// running; the workflow starts the child. Credentials may not be passed: the
// input is the child's, in its workflow history.
func (a *Activities) childRun(ctx context.Context, s *stepRun, params map[string]any) (workflows.RunStepResult, error) {
	fail := func(format string, args ...any) (workflows.RunStepResult, error) {
		return workflows.RunStepResult{}, a.stepFailed(ctx, s.run, s.in.Index, &s.step, fmt.Errorf(format, args...))
	}
	wfType, _ := params["workflow_type"].(string)
	queue, _ := params["task_queue"].(string)
	if wfType == "" || len(wfType) > maxChildNameLen || queue == "" || len(queue) > maxChildNameLen {
		return fail("params.workflow_type and params.task_queue are required: the developer's workflow type and the task queue its worker polls")
	}
	timeout := DefaultChildTimeout
	if t, ok := params["timeout"].(string); ok && t != "" {
		d, err := models.ParseDuration(t)
		if err != nil || d <= 0 || d > MaxChildTimeout {
			return fail("params.timeout: %q is not a duration up to %s", t, MaxChildTimeout)
		}
		timeout = d
	}
	if s.secrets.usedAny() {
		return fail("params.input may not hold credentials: the input is in the workflow's history; resolve secrets in your own worker")
	}
	var raw json.RawMessage
	if in, ok := params["input"]; ok && in != nil {
		b, err := json.Marshal(in)
		if err != nil || len(b) > maxChildInputBytes {
			return fail("params.input must be JSON of at most %d bytes", maxChildInputBytes)
		}
		raw = b
	}
	s.step.Status = models.RunRunning
	if err := a.store.SetRunStep(ctx, s.run.ID, s.in.Index, s.step); err != nil {
		return workflows.RunStepResult{}, err
	}
	in := hookflow.Input{
		Event: hookflow.Event{ID: s.event.ID, WorkspaceID: s.event.WorkspaceID, Type: s.event.Type, SourceID: s.event.SourceID,
			Data: s.event.Data, Depth: s.event.Depth, RootID: s.event.RootID, CreatedAt: s.event.CreatedAt},
		Run:    hookflow.Run{ID: s.run.ID, AutomationID: s.run.AutomationID, StepID: s.step.ID},
		Params: raw, HookflowTaskQueue: activity.GetInfo(ctx).TaskQueue,
	}
	return workflows.RunStepResult{Child: &workflows.ChildRun{WorkflowType: wfType, TaskQueue: queue, Timeout: timeout,
		WorkflowID: workflows.DeveloperWorkflowID(s.run.ID, s.step.ID), Input: in}}, nil
}

// FinishChildStep records how a workflow.run step's workflow ended: succeeded
// with its result as the output (an object as it is; anything else as
// {"result": …}), or failed with its message. It returns the output.
func (a *Activities) FinishChildStep(ctx context.Context, in workflows.FinishChildStepInput) (map[string]any, error) {
	run, step, err := a.runStepAt(ctx, in.AutomationRunID, in.Index)
	if err != nil {
		return nil, err
	}
	done := a.now()
	step.FinishedAt = &done
	if in.Error != "" {
		step.Status, step.Error = models.RunFailed, in.Error
		return nil, a.store.SetRunStep(ctx, run.ID, in.Index, step)
	}
	out, ok := in.Output.(map[string]any)
	if !ok {
		out = map[string]any{"result": in.Output}
	}
	step.Status, step.Output, step.Error = models.RunSucceeded, mustJSON(out), ""
	return out, a.store.SetRunStep(ctx, run.ID, in.Index, step)
}
