package runs

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"

	"github.com/hookflow/hookflow/internal/automation"
	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// wait registers a wait_for_event step's wait (once per run and step: an
// attempt made again finds the one recorded, with its deadline), records the
// step waiting, and catches up with the events accepted since the wait began.
// The workflow then waits for SignalWaitMatched or the deadline, and closes
// the wait (CloseWait).
func (a *Activities) wait(ctx context.Context, s *stepRun) (workflows.RunStepResult, error) {
	spec := s.prog.Wait(s.in.Index)
	began := *s.step.StartedAt
	until := began.Add(spec.Timeout)
	w := models.RunWait{ID: ids.New("wait"), WorkspaceID: s.run.WorkspaceID, RunID: s.run.ID,
		WorkflowID: workflowIDOf(ctx, s.run), Kind: models.WaitEvent, StepIndex: s.in.Index,
		EventType: spec.EventType, MatchPath: spec.Path, Cond: spec.Cond, BeganAt: began, ExpiresAt: &until}
	if spec.Path != "" {
		w.MatchValue, _ = automation.PathValue(s.eventMap, spec.Path)
	}
	var err error
	if w.Scope, err = scopeOf(s.run.EventID, spec.Match, s.eventMap, s.in.Outputs); err != nil {
		return workflows.RunStepResult{}, err
	}
	stored, err := a.store.InsertWaits(ctx, []models.RunWait{w})
	if errors.Is(err, errCondWaitsFull) {
		return workflows.RunStepResult{}, a.stepFailed(ctx, s.run, s.in.Index, &s.step, err)
	}
	if err != nil {
		return workflows.RunStepResult{}, err
	}
	w = stored[0]
	s.step.Status, s.step.WaitingFor, s.step.Until = models.RunWaiting, describeWait(spec.Match, w.MatchValue), w.ExpiresAt
	s.step.StartedAt = &w.BeganAt
	if err := a.store.SetRunStep(ctx, s.run.ID, s.in.Index, s.step); err != nil {
		return workflows.RunStepResult{}, err
	}
	if err := a.register(ctx, []models.RunWait{w}); err != nil {
		if errors.Is(err, errCondWaitsFull) {
			return workflows.RunStepResult{}, a.stepFailed(ctx, s.run, s.in.Index, &s.step, err)
		}
		return workflows.RunStepResult{}, err
	}
	return workflows.RunStepResult{Wait: &workflows.StepWait{WaitID: w.ID, EventType: w.EventType, Until: *w.ExpiresAt}}, nil
}

// CloseWait ends a wait_for_event step: the wait is closed in the database,
// which decides between an event that took it and the deadline, and the step
// records {"matched": true, "event": {...}} or {"matched": false}. Closing
// again (a retried activity) returns what the step recorded.
func (a *Activities) CloseWait(ctx context.Context, in workflows.CloseWaitInput) (map[string]any, error) {
	run, step, err := a.runStepAt(ctx, in.AutomationRunID, in.Index)
	if err != nil {
		return nil, err
	}
	matched, err := a.store.CloseWait(ctx, in.WaitID)
	if errors.Is(err, models.ErrNotFound) && step.Status == models.RunSucceeded {
		out, derr := decodeOutput(step.Output)
		m, _ := out.(map[string]any)
		return m, derr
	}
	if err != nil {
		return nil, err
	}
	out := map[string]any{"matched": false}
	if matched != "" {
		ev, err := a.store.GetEvent(ctx, run.WorkspaceID, matched)
		if err != nil {
			return nil, fmt.Errorf("load event %s: %w", matched, err)
		}
		em, err := models.EventMap(ev)
		if err != nil {
			return nil, err
		}
		out = map[string]any{"matched": true, "event": em}
	}
	done := a.now()
	step.Status, step.Output, step.FinishedAt, step.WaitingFor, step.Until = models.RunSucceeded, mustJSON(out), &done, "", nil
	if err := a.store.SetRunStep(ctx, run.ID, in.Index, step); err != nil {
		return nil, err
	}
	return out, nil
}

// workflowIDOf is the workflow running the run: a retried run runs under a
// workflow ID of its own (workflows.RunRetryWorkflowID).
func workflowIDOf(ctx context.Context, run *models.AutomationRun) string {
	if id := activityWorkflowID(ctx); id != "" {
		return id
	}
	return run.WorkflowID
}

func activityWorkflowID(ctx context.Context) string {
	if !activity.IsActivity(ctx) {
		return ""
	}
	return activity.GetInfo(ctx).WorkflowExecution.ID
}

// runStepAt reads a run and its step idx as recorded.
func (a *Activities) runStepAt(ctx context.Context, runID string, idx int) (*models.AutomationRun, models.RunStep, error) {
	run, err := a.store.GetRunAnyWorkspace(ctx, runID)
	if err != nil {
		return nil, models.RunStep{}, fmt.Errorf("load run %s: %w", runID, err)
	}
	if idx >= len(run.Steps) {
		return nil, models.RunStep{}, fmt.Errorf("run %s has no step %d", run.ID, idx)
	}
	return run, run.Steps[idx], nil
}
