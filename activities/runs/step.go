package runs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/hookflow/hookflow/activities/actions"
	"github.com/hookflow/hookflow/internal/attempt"
	"github.com/hookflow/hookflow/internal/automation"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// stepRun is one attempt of a step, as RunStep works through it.
type stepRun struct {
	in       workflows.RunStepInput
	run      *models.AutomationRun
	au       *models.Automation
	prog     *automation.Program
	event    *models.Event
	eventMap map[string]any
	step     models.RunStep
	// attempt is this attempt's number, counted from the attempts on record.
	attempt int
	// secrets resolves the step's credentials and scrubs them from what it
	// returns.
	secrets *stepSecrets
}

// RunStep runs step Index of a run: it evaluates `if`, renders params, performs the
// action and records the outcome. Retries follow the action's kind: HTTP actions
// the delivery schedule, internal ones a short backoff.
func (a *Activities) RunStep(ctx context.Context, in workflows.RunStepInput) (workflows.RunStepResult, error) {
	defer attempt.KeepAlive(ctx, a.heartbeatEvery)()
	if left, err := attempt.Due(ctx, a.now(), in.NotBefore); err != nil || left > 0 {
		if err == nil {
			err = workflows.NotDue(workflows.ErrTypeStepNotDue, in.NotBefore, left)
		}
		return workflows.RunStepResult{}, err
	}
	s, err := a.load(ctx, in)
	if err != nil {
		return workflows.RunStepResult{}, err
	}
	ok, err := s.prog.ShouldRun(ctx, in.Index, s.eventMap, s.in.Outputs)
	if err != nil {
		if ctx.Err() != nil { // stopped (a deadline, a shutdown): another attempt finishes it
			return workflows.RunStepResult{}, fmt.Errorf("step %s if: %w", s.step.ID, err)
		}
		return workflows.RunStepResult{}, a.stepFailed(ctx, s.run, in.Index, &s.step, fmt.Errorf("if: %w", err))
	}
	if !ok {
		s.step.Status, s.step.FinishedAt = models.RunSkipped, s.step.StartedAt
		if err := a.store.SetRunStep(ctx, s.run.ID, in.Index, s.step); err != nil {
			return workflows.RunStepResult{}, err
		}
		return workflows.RunStepResult{Skipped: true}, nil
	}
	s.secrets = &stepSecrets{get: a.store.CredentialValue, workspaceID: s.run.WorkspaceID}
	params, err := s.prog.Render(automation.WithSecrets(ctx, s.secrets), in.Index, s.eventMap, s.in.Outputs)
	if err != nil {
		if ctx.Err() != nil {
			return workflows.RunStepResult{}, fmt.Errorf("step %s params: %w", s.step.ID, err)
		}
		// Over the rendering bounds, a template or expression that fails on
		// this event, a credential that does not exist: the same again next
		// time, so the step fails for good.
		return workflows.RunStepResult{}, a.stepFailed(ctx, s.run, in.Index, &s.step, fmt.Errorf("params: %w", s.secrets.scrubErr(err)))
	}
	if s.step.Action == actions.DelayAction {
		return a.delay(ctx, s, params)
	}
	if s.step.Action == actions.WaitAction {
		return a.wait(ctx, s)
	}
	if s.step.Action == actions.WorkflowRunAction {
		return a.childRun(ctx, s, params)
	}
	return a.perform(ctx, s, params)
}

// load reads what the step needs: its run, the automation version the run was
// planned with, compiled, and the event as expressions see it. A run or event that
// cannot be read is retried; an automation that cannot be compiled fails the step.
func (a *Activities) load(ctx context.Context, in workflows.RunStepInput) (*stepRun, error) {
	run, err := a.store.GetRunAnyWorkspace(ctx, in.AutomationRunID)
	if err != nil {
		return nil, fmt.Errorf("load run %s: %w", in.AutomationRunID, err)
	}
	s := &stepRun{in: in, run: run}
	s.au, err = a.store.GetAutomationVersion(ctx, run.WorkspaceID, run.AutomationID, run.AutomationVersion)
	if err != nil {
		return nil, a.stepFailed(ctx, run, in.Index, nil, fmt.Errorf("automation %s version %d: %w", run.AutomationID, run.AutomationVersion, err))
	}
	if s.prog, err = a.compile(s.au); err != nil {
		return nil, a.stepFailed(ctx, run, in.Index, nil, err)
	}
	ev := in.Event.Model("")
	s.event = &ev
	if s.eventMap, err = models.EventMap(s.event); err != nil {
		return nil, a.stepFailed(ctx, run, in.Index, nil, err)
	}
	// Outputs crossed Temporal as JSON: whole numbers back to integers. A local
	// activity is handed the workflow's own map, not a decoded copy, so convert a
	// copy: the workflow's state is not the activity's to change.
	s.in.Outputs, _ = models.Numbers(cloneJSON(in.Outputs)).(map[string]any)
	if s.in.Outputs == nil {
		s.in.Outputs = map[string]any{}
	}
	started := a.now()
	s.step = models.RunStep{ID: s.prog.StepID(in.Index), Action: s.prog.Action(in.Index), StartedAt: &started}
	s.attempt = attempt.Number(recordedAttempts(run, in.Index), 0)
	return s, nil
}

// recordedAttempts is how many attempts of the step are on record in this run of
// its schedule (a retry of the run resets them: store.ResetRun).
func recordedAttempts(run *models.AutomationRun, idx int) int {
	if idx >= len(run.Steps) {
		return 0
	}
	return run.Steps[idx].Attempts
}

// delay records a delay step; the workflow sleeps the duration durably.
func (a *Activities) delay(ctx context.Context, s *stepRun, params map[string]any) (workflows.RunStepResult, error) {
	d, err := actions.ParseDelay(params)
	if err != nil {
		return workflows.RunStepResult{}, a.stepFailed(ctx, s.run, s.in.Index, &s.step, err)
	}
	until := s.step.StartedAt.Add(d)
	out := map[string]any{"duration": d.String(), "until": until.Format(time.RFC3339)}
	s.step.Status, s.step.Output, s.step.FinishedAt = models.RunSucceeded, mustJSON(out), &until
	if err := a.store.SetRunStep(ctx, s.run.ID, s.in.Index, s.step); err != nil {
		return workflows.RunStepResult{}, err
	}
	return workflows.RunStepResult{Output: out, Delay: d}, nil
}

// perform runs the step's action once and records the outcome: succeeded, failed
// for good (a final error, or the schedule spent), or to be retried on the
// schedule of the action's kind.
func (a *Activities) perform(ctx context.Context, s *stepRun, params map[string]any) (workflows.RunStepResult, error) {
	act, found := a.registry.Get(s.step.Action)
	if !found {
		return workflows.RunStepResult{}, a.stepFailed(ctx, s.run, s.in.Index, &s.step, fmt.Errorf("unknown action %q", s.step.Action))
	}
	policy := a.internal
	if act.Retry() == actions.RetryHTTP {
		policy = a.http
	}
	// The attempt is on record before it is made: one that a dying worker leaves
	// unfinished still counts.
	s.step.Status, s.step.Attempts = models.RunRunning, s.attempt
	if err := a.store.SetRunStep(ctx, s.run.ID, s.in.Index, s.step); err != nil {
		return workflows.RunStepResult{}, err
	}
	n := s.attempt
	sc := actions.StepContext{
		WorkspaceID: s.run.WorkspaceID, AutomationRunID: s.run.ID, StepID: s.step.ID, EventID: s.run.EventID, EventType: s.event.Type,
		Depth: s.event.Depth, RootID: s.event.Root(), Attempt: n, MaxAttempts: policy.Attempts(), Key: s.run.ID + ":" + s.step.ID,
		SigningSecret: s.au.SigningSecret,
	}
	out, runErr := act.Run(ctx, sc, params)
	runErr = s.secrets.scrubErr(runErr)
	if out != nil {
		out, _ = s.secrets.scrubValue(out).(map[string]any)
	}
	if runErr == nil {
		done := a.now()
		s.step.Status, s.step.Output, s.step.FinishedAt, s.step.Error = models.RunSucceeded, mustJSON(out), &done, ""
		if err := a.store.SetRunStep(ctx, s.run.ID, s.in.Index, s.step); err != nil {
			return workflows.RunStepResult{}, err
		}
		return workflows.RunStepResult{Output: out}, nil
	}
	delay, again := policy.Next(n, actions.RetryAfterOf(runErr))
	if actions.IsFinal(runErr) || !again {
		if !actions.IsFinal(runErr) {
			runErr = fmt.Errorf("%w; gave up after %d attempts", runErr, n)
		}
		return workflows.RunStepResult{}, a.stepFailed(ctx, s.run, s.in.Index, &s.step, runErr)
	}
	s.step.Error = fmt.Sprintf("attempt %d: %v", n, runErr)
	if err := a.store.SetRunStep(ctx, s.run.ID, s.in.Index, s.step); err != nil {
		a.logger.WarnContext(ctx, "record step error", "run_id", s.run.ID, "error", err)
	}
	return workflows.RunStepResult{}, workflows.RetryLater(workflows.ErrTypeStepAttemptFailed,
		fmt.Sprintf("step %s attempt %d: %v; next attempt in %s", s.step.ID, n, runErr, delay.Round(time.Millisecond)),
		delay, a.now().Add(delay))
}

// stepFailed records a step's final failure and returns the non-retryable error
// that fails the run, naming the step.
func (a *Activities) stepFailed(ctx context.Context, run *models.AutomationRun, idx int, step *models.RunStep, cause error) error {
	now := a.now()
	st := models.RunStep{Status: models.RunFailed, Error: cause.Error(), FinishedAt: &now}
	if step != nil {
		st.ID, st.Action, st.StartedAt, st.Output, st.Attempts = step.ID, step.Action, step.StartedAt, step.Output, step.Attempts
	}
	if idx < len(run.Steps) {
		st.ID, st.Action = run.Steps[idx].ID, run.Steps[idx].Action
	}
	if err := a.store.SetRunStep(ctx, run.ID, idx, st); err != nil {
		return fmt.Errorf("record failure of step %d of %s: %w", idx, run.ID, err)
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("step %s (%s) failed: %v", st.ID, st.Action, cause), workflows.ErrTypeStepFailed, nil)
}

func decodeOutput(raw json.RawMessage) (any, error) {
	var out any
	err := json.Unmarshal(raw, &out)
	return out, err
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`null`)
	}
	return b
}

// cloneJSON copies the maps and lists of a decoded JSON value (the leaves are
// immutable).
func cloneJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneJSON(e)
		}
		return out
	}
	return v
}
