package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/hookflow/hookflow/internal/automation"
	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/matching"
	"github.com/hookflow/hookflow/models"
)

// AutomationStore is what automation runs need from persistence.
type AutomationStore interface {
	AutomationsForEvent(ctx context.Context, workspaceID, eventType, sourceID string) ([]models.Automation, error)
	GetAutomationVersion(ctx context.Context, workspaceID, id string, version int) (*models.Automation, error)
	EnsureRun(ctx context.Context, r *models.Run) (*models.Run, error)
	GetRunAnyWorkspace(ctx context.Context, id string) (*models.Run, error)
	SetRunStatus(ctx context.Context, runID string, status models.RunStatus, errMsg string, finishedAt *time.Time) error
	SetRunStep(ctx context.Context, runID string, idx int, st models.RunStep) error
}

// internalSchedule is the retry budget of internal steps: quick, a database blip.
var internalSchedule = []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}

// Automations adds automation runs to the activities.
type Automations struct {
	Store    AutomationStore
	Registry *Registry
	// WorkflowID names a run's workflow from its automation and event: the
	// workflows package's RunWorkflowID, handed in because that package imports
	// this one and the ID belongs to its Temporal contract.
	WorkflowID func(automationID, eventID string) string
}

// programs caches compiled automations by id and version: a version never changes,
// so a compiled program is good for as long as the process lives.
type programs struct {
	mu sync.Mutex
	m  map[string]*automation.Program
}

func (p *programs) get(a *models.Automation, known func(string) bool) (*automation.Program, error) {
	key := fmt.Sprintf("%s@%d", a.ID, a.Version)
	p.mu.Lock()
	prog, ok := p.m[key]
	p.mu.Unlock()
	if ok {
		return prog, nil
	}
	prog, err := automation.Compile(a, known)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if len(p.m) > 4096 {
		clear(p.m)
	}
	p.m[key] = prog
	p.mu.Unlock()
	return prog, nil
}

// PlannedRun names one automation run the event starts.
type PlannedRun struct {
	RunID        string
	AutomationID string
	WorkflowID   string
}

// planRuns finds the enabled automations the event triggers and records a pending run
// for each (idempotent per automation and event).
func (a *Activities) planRuns(ctx context.Context, ev *models.Event, eventMap map[string]any) ([]PlannedRun, error) {
	if a.autos == nil {
		return nil, nil
	}
	compile := func(au *models.Automation) (*automation.Program, error) {
		return a.programs.get(au, a.autos.Registry.Known)
	}
	autos, err := matching.New(a.autos.Store, compile, a.logger).Automations(ctx, ev, eventMap)
	if err != nil {
		return nil, err
	}
	var out []PlannedRun
	for i := range autos {
		au := &autos[i]
		now := a.now()
		run := &models.Run{
			ID: ids.New(ids.Run), WorkspaceID: ev.WorkspaceID, AutomationID: au.ID, AutomationVersion: au.Version,
			EventID: ev.ID, WorkflowID: a.autos.WorkflowID(au.ID, ev.ID), Status: models.RunPending,
			CreatedAt: now, UpdatedAt: now,
		}
		for _, st := range au.Steps {
			run.Steps = append(run.Steps, models.RunStep{ID: st.ID, Action: st.Action, Status: models.RunPending})
		}
		stored, err := a.autos.Store.EnsureRun(ctx, run)
		if err != nil {
			return nil, fmt.Errorf("record run of %s for %s: %w", au.ID, ev.ID, err)
		}
		out = append(out, PlannedRun{RunID: stored.ID, AutomationID: au.ID, WorkflowID: stored.WorkflowID})
	}
	return out, nil
}

// LoadRunInput names a run.
type LoadRunInput struct{ RunID string }

// LoadRunResult is what the run workflow needs: the event, the steps, and where to
// start (a retried run resumes at its first unfinished step with earlier outputs).
type LoadRunResult struct {
	Event        models.Event
	AutomationID string
	StepIDs      []string
	StartAt      int
	Outputs      map[string]any
}

// LoadRun reads a run and marks it running.
func (a *Activities) LoadRun(ctx context.Context, in LoadRunInput) (LoadRunResult, error) {
	run, err := a.autos.Store.GetRunAnyWorkspace(ctx, in.RunID)
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return LoadRunResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeStepFailed, err)
		}
		return LoadRunResult{}, err
	}
	ev, err := a.store.GetEvent(ctx, run.WorkspaceID, run.EventID)
	if err != nil {
		return LoadRunResult{}, fmt.Errorf("load event of run %s: %w", run.ID, err)
	}
	res := LoadRunResult{Event: *ev, AutomationID: run.AutomationID, Outputs: map[string]any{}, StartAt: len(run.Steps)}
	startSet := false
	for i, st := range run.Steps {
		res.StepIDs = append(res.StepIDs, st.ID)
		done := st.Status == models.RunSucceeded || st.Status == models.RunSkipped
		if done && !startSet {
			if st.Status == models.RunSucceeded && len(st.Output) > 0 {
				var out any
				if err := json.Unmarshal(st.Output, &out); err == nil {
					res.Outputs[st.ID] = out
				}
			}
			continue
		}
		if !startSet {
			res.StartAt, startSet = i, true
		}
	}
	if err := a.autos.Store.SetRunStatus(ctx, run.ID, models.RunRunning, "", nil); err != nil {
		return LoadRunResult{}, err
	}
	return res, nil
}

// FinishRunInput is a run's outcome.
type FinishRunInput struct {
	RunID  string
	Failed bool
	Error  string
}

// FinishRun records a run's outcome.
func (a *Activities) FinishRun(ctx context.Context, in FinishRunInput) error {
	now := a.now()
	status := models.RunSucceeded
	if in.Failed {
		status = models.RunFailed
	}
	if err := a.autos.Store.SetRunStatus(ctx, in.RunID, status, in.Error, &now); err != nil {
		return err
	}
	a.metrics.RunFinished(string(status))
	return nil
}

// RunStepInput is one step to run with the outputs of the steps before it.
type RunStepInput struct {
	RunID   string
	Index   int
	Event   models.Event
	Outputs map[string]any
	// BaseAttempts is how many attempts of the step were made before this activity
	// (one, when the first was made as a local activity); the schedule counts on.
	BaseAttempts int `json:",omitempty"`
}

// RunStepResult is how the step went. Delay is set for delay steps: the workflow
// sleeps it durably.
type RunStepResult struct {
	Skipped bool
	Output  map[string]any
	Delay   time.Duration
}

// RunStep runs step Index of a run: it evaluates `if`, renders params, performs the
// action and records the outcome. Retries follow the action's kind: HTTP actions the
// delivery schedule, internal ones a short backoff.
func (a *Activities) RunStep(ctx context.Context, in RunStepInput) (RunStepResult, error) {
	defer a.keepAlive(ctx)()
	attempt := int(activity.GetInfo(ctx).Attempt) + in.BaseAttempts
	run, err := a.autos.Store.GetRunAnyWorkspace(ctx, in.RunID)
	if err != nil {
		return RunStepResult{}, fmt.Errorf("load run %s: %w", in.RunID, err)
	}
	au, err := a.autos.Store.GetAutomationVersion(ctx, run.WorkspaceID, run.AutomationID, run.AutomationVersion)
	if err != nil {
		return RunStepResult{}, a.stepFailed(ctx, run, in.Index, nil, fmt.Errorf("automation %s version %d: %w", run.AutomationID, run.AutomationVersion, err))
	}
	prog, err := a.programs.get(au, a.autos.Registry.Known)
	if err != nil {
		return RunStepResult{}, a.stepFailed(ctx, run, in.Index, nil, err)
	}
	eventMap, err := EventMap(&in.Event)
	if err != nil {
		return RunStepResult{}, a.stepFailed(ctx, run, in.Index, nil, err)
	}
	// Outputs crossed Temporal as JSON: whole numbers back to integers. A local
	// activity is handed the workflow's own map, not a decoded copy, so convert a
	// copy: the workflow's state is not the activity's to change.
	in.Outputs, _ = models.Numbers(cloneJSON(in.Outputs)).(map[string]any)
	if in.Outputs == nil {
		in.Outputs = map[string]any{}
	}
	started := a.now()
	step := models.RunStep{ID: prog.StepID(in.Index), Action: prog.Action(in.Index), StartedAt: &started}

	ok, err := prog.ShouldRun(ctx, in.Index, eventMap, in.Outputs)
	if err != nil {
		if ctx.Err() != nil { // stopped (a deadline, a shutdown): another attempt finishes it
			return RunStepResult{}, fmt.Errorf("step %s if: %w", step.ID, err)
		}
		return RunStepResult{}, a.stepFailed(ctx, run, in.Index, &step, fmt.Errorf("if: %w", err))
	}
	if !ok {
		step.Status, step.FinishedAt = models.RunSkipped, &started
		if err := a.autos.Store.SetRunStep(ctx, run.ID, in.Index, step); err != nil {
			return RunStepResult{}, err
		}
		return RunStepResult{Skipped: true}, nil
	}
	params, err := prog.Render(ctx, in.Index, eventMap, in.Outputs)
	if err != nil {
		if ctx.Err() != nil {
			return RunStepResult{}, fmt.Errorf("step %s params: %w", step.ID, err)
		}
		// Over the rendering bounds, or a template or expression that fails on
		// this event: the same again next time, so the step fails for good.
		return RunStepResult{}, a.stepFailed(ctx, run, in.Index, &step, fmt.Errorf("params: %w", err))
	}

	if step.Action == DelayAction {
		d, err := ParseDelay(params)
		if err != nil {
			return RunStepResult{}, a.stepFailed(ctx, run, in.Index, &step, err)
		}
		until := started.Add(d)
		out := map[string]any{"duration": d.String(), "until": until.Format(time.RFC3339)}
		step.Status, step.Output, step.FinishedAt = models.RunSucceeded, mustJSON(out), &until
		if err := a.autos.Store.SetRunStep(ctx, run.ID, in.Index, step); err != nil {
			return RunStepResult{}, err
		}
		return RunStepResult{Output: out, Delay: d}, nil
	}

	act, found := a.autos.Registry.Get(step.Action)
	if !found {
		return RunStepResult{}, a.stepFailed(ctx, run, in.Index, &step, fmt.Errorf("unknown action %q", step.Action))
	}
	step.Status = models.RunRunning
	if err := a.autos.Store.SetRunStep(ctx, run.ID, in.Index, step); err != nil {
		return RunStepResult{}, err
	}
	schedule := internalSchedule
	if act.Retry() == RetryHTTP {
		schedule = a.schedule
	}
	sc := StepContext{
		WorkspaceID: run.WorkspaceID, RunID: run.ID, StepID: step.ID, EventID: run.EventID, EventType: in.Event.Type,
		Depth: in.Event.Depth, RootID: in.Event.Root(), Attempt: attempt, MaxAttempts: len(schedule), Key: run.ID + ":" + step.ID,
		SigningSecret: au.SigningSecret,
	}
	out, runErr := act.Run(ctx, sc, params)
	if runErr == nil {
		done := a.now()
		step.Status, step.Output, step.FinishedAt, step.Error = models.RunSucceeded, mustJSON(out), &done, ""
		if err := a.autos.Store.SetRunStep(ctx, run.ID, in.Index, step); err != nil {
			return RunStepResult{}, err
		}
		return RunStepResult{Output: out}, nil
	}

	var fe *finalError
	if errors.As(runErr, &fe) || attempt >= len(schedule) {
		if !errors.As(runErr, &fe) {
			runErr = fmt.Errorf("%w; gave up after %d attempts", runErr, attempt)
		}
		return RunStepResult{}, a.stepFailed(ctx, run, in.Index, &step, runErr)
	}
	delay := a.jitter(schedule[attempt])
	var ra *retryAfterError
	if errors.As(runErr, &ra) && ra.after > 0 {
		delay = max(delay, min(ra.after, a.maxRetryAfter))
	}
	if delay <= 0 {
		delay = time.Millisecond
	}
	step.Error = fmt.Sprintf("attempt %d: %v", attempt, runErr)
	if err := a.autos.Store.SetRunStep(ctx, run.ID, in.Index, step); err != nil {
		a.logger.WarnContext(ctx, "record step error", "run_id", run.ID, "error", err)
	}
	return RunStepResult{}, temporal.NewApplicationErrorWithOptions(
		fmt.Sprintf("step %s attempt %d: %v; next attempt in %s", step.ID, attempt, runErr, delay.Round(time.Millisecond)),
		ErrTypeStepAttemptFailed, temporal.ApplicationErrorOptions{NextRetryDelay: delay, Details: []any{RetryDue{At: a.now().Add(delay)}}})
}

// stepFailed records a step's final failure and returns the non-retryable error
// that fails the run, naming the step.
func (a *Activities) stepFailed(ctx context.Context, run *models.Run, idx int, step *models.RunStep, cause error) error {
	now := a.now()
	st := models.RunStep{Status: models.RunFailed, Error: cause.Error(), FinishedAt: &now}
	if step != nil {
		st.ID, st.Action, st.StartedAt, st.Output = step.ID, step.Action, step.StartedAt, step.Output
	}
	if idx < len(run.Steps) {
		st.ID, st.Action = run.Steps[idx].ID, run.Steps[idx].Action
	}
	if err := a.autos.Store.SetRunStep(ctx, run.ID, idx, st); err != nil {
		return fmt.Errorf("record failure of step %d of %s: %w", idx, run.ID, err)
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("step %s (%s) failed: %v", st.ID, st.Action, cause), ErrTypeStepFailed, nil)
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
