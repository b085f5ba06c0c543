// Package runs holds the activities of an automation run: PlanRuns (called by
// PrepareEvent) records the runs an event starts, LoadRun reads one, RunStep runs
// one step — `if`, params, the action, the retry schedule — and FinishRun records
// the outcome. Their payloads and names are the workflows package's contract; the
// actions themselves are in package actions.
package runs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/hookflow/hookflow/activities/actions"
	"github.com/hookflow/hookflow/internal/attempt"
	"github.com/hookflow/hookflow/internal/automation"
	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/matching"
	"github.com/hookflow/hookflow/internal/metrics"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// Store is what automation runs need from persistence.
type Store interface {
	AutomationsForEvent(ctx context.Context, workspaceID, eventType, sourceID string) ([]models.Automation, error)
	GetAutomationVersion(ctx context.Context, workspaceID, id string, version int) (*models.Automation, error)
	GetEvent(ctx context.Context, workspaceID, id string) (*models.Event, error)
	EnsureRun(ctx context.Context, r *models.AutomationRun) (*models.AutomationRun, error)
	EnsureRunLimited(ctx context.Context, r *models.AutomationRun, limit *models.RunLimit) (*models.AutomationRun, error)
	SetRunWaiting(ctx context.Context, runID, waitingFor string) error
	CancelRun(ctx context.Context, runID, reason string, at time.Time) error
	WaitStore
	GetRunAnyWorkspace(ctx context.Context, id string) (*models.AutomationRun, error)
	SetRunStatus(ctx context.Context, runID string, status models.RunStatus, errMsg string, finishedAt *time.Time) error
	SetRunStep(ctx context.Context, runID string, idx int, st models.RunStep) error
	CredentialValue(ctx context.Context, workspaceID, name string) (string, error)
}

// Engine is what the run activities ask of Temporal: hand an event to a
// flow-control entity (SignalWithStart), tell a waiting run an event took its
// wait, cancel a run. workflows.Starter implements it.
type Engine interface {
	SignalFlow(ctx context.Context, kind string, in workflows.FlowInput, sig workflows.FlowSignal) error
	SignalWait(ctx context.Context, workflowID string, sig workflows.WaitSignal) error
	CancelRun(ctx context.Context, workflowID string) error
}

// Activities holds the dependencies of the run activities. Create it with New.
type Activities struct {
	engine         Engine
	store          Store
	registry       *actions.Registry
	programs       programs
	http, internal attempt.Policy
	now            func() time.Time
	logger         *slog.Logger
	metrics        *metrics.Metrics
	heartbeatEvery time.Duration
}

// Config tunes the activities; zero values take the defaults.
type Config struct {
	// Policy is the retry schedule of HTTP actions (default attempt.DefaultSchedule);
	// internal ones retry on attempt.InternalSchedule with its jitter.
	Policy attempt.Policy
	// Now is injected by tests.
	Now func() time.Time
	// Metrics records finished runs; nil records nothing.
	Metrics *metrics.Metrics
	// HeartbeatEvery is how often a long step heartbeats; zero means a third of
	// the activity's heartbeat timeout.
	HeartbeatEvery time.Duration
	// Engine starts flow-control entities, resumes waiting runs and cancels
	// runs; nil: automations with waits, cancel_on or flow control fail to plan.
	Engine Engine
}

// New returns the run activities, running the actions of registry.
func New(store Store, registry *actions.Registry, logger *slog.Logger, cfg Config) *Activities {
	a := &Activities{
		store: store, registry: registry, programs: programs{m: map[string]*automation.Program{}},
		now: cfg.Now, logger: logger, metrics: cfg.Metrics, heartbeatEvery: cfg.HeartbeatEvery, engine: cfg.Engine,
	}
	a.http = cfg.Policy.WithDefaults()
	a.internal = a.http
	a.internal.Schedule = attempt.InternalSchedule()
	if a.now == nil {
		a.now = func() time.Time { return time.Now().UTC() }
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	return a
}

// Register puts the activities on a worker under their contract names (LoadRun and
// FinishRun run as local activities, registered the same way).
func (a *Activities) Register(w worker.ActivityRegistry) {
	w.RegisterActivityWithOptions(a.LoadRun, activity.RegisterOptions{Name: workflows.LoadRunActivity})
	w.RegisterActivityWithOptions(a.RunStep, activity.RegisterOptions{Name: workflows.RunStepActivity})
	w.RegisterActivityWithOptions(a.FinishRun, activity.RegisterOptions{Name: workflows.FinishRunActivity})
	w.RegisterActivityWithOptions(a.CloseWait, activity.RegisterOptions{Name: workflows.CloseWaitActivity})
	w.RegisterActivityWithOptions(a.StartFlowRun, activity.RegisterOptions{Name: workflows.StartFlowRunActivity})
	w.RegisterActivityWithOptions(a.FinishChildStep, activity.RegisterOptions{Name: workflows.FinishChildStepActivity})
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

func (a *Activities) compile(au *models.Automation) (*automation.Program, error) {
	return a.programs.get(au, a.registry.Known)
}

// Candidates is where PlanRuns reads the automations an event may trigger
// unless told otherwise: the store.
func (a *Activities) Candidates() matching.Candidates { return a.store }

// PlanRuns finds the enabled automations the event triggers and records a pending
// run for each (idempotent per automation and event), reading the candidates
// from candidates (a batch's matching.Memo), or the store when nil. It implements
// delivery.RunPlanner: PrepareEvent and PrepareBatch call it, in their local
// activity. First the event is offered to the runs waiting for it (React); then
// each automation it triggers is planned as its flow control says (plan): a
// run to start now, none (a rate limit's skip), or the event handed to the
// automation's entity workflow (count, debounce, concurrency, throttle).
func (a *Activities) PlanRuns(ctx context.Context, ev *models.Event, eventMap map[string]any, candidates matching.Candidates) ([]workflows.PlannedRun, error) {
	paths := a.store.WaitPaths
	if memo, ok := candidates.(*matching.Memo); ok {
		paths = func(ctx context.Context, ws, typ string) ([]string, error) {
			p, read, err := memo.WaitPaths(ctx, ws, typ)
			if !read {
				return a.store.WaitPaths(ctx, ws, typ)
			}
			return p, err
		}
	}
	if candidates == nil {
		candidates = a.store
	}
	if err := a.react(ctx, ev, eventMap, paths); err != nil {
		return nil, err
	}
	autos, err := matching.New(candidates, a.compile, a.logger).Automations(ctx, ev, eventMap)
	if err != nil {
		return nil, err
	}
	var out []workflows.PlannedRun
	for i := range autos {
		run, err := a.plan(ctx, &autos[i], ev, eventMap)
		if err != nil {
			return nil, err
		}
		if run != nil {
			out = append(out, *run)
		}
	}
	return out, nil
}

// plan decides what an event does for one automation it triggers: the run to
// start now, or nil when there is none to start (skipped by a rate limit, or
// handed to the automation's flow-control entity, which starts it).
func (a *Activities) plan(ctx context.Context, au *models.Automation, ev *models.Event, eventMap map[string]any) (*workflows.PlannedRun, error) {
	prog, err := a.compile(au)
	if err != nil {
		return nil, err
	}
	kind, key, err := flowOf(ctx, au, prog, eventMap)
	if err != nil {
		// A key that does not evaluate on this event: the event cannot be
		// paced, so it starts nothing, and the log says why.
		a.logger.WarnContext(ctx, "automation key did not evaluate; no run", "automation_id", au.ID, "event_id", ev.ID, "error", err)
		return nil, nil
	}
	extras := runExtras{Key: key}
	if au.RateLimit != nil {
		if extras.Limit, err = rateLimit(ctx, au, prog, eventMap, a.now()); err != nil {
			a.logger.WarnContext(ctx, "automation rate_limit key did not evaluate; no run", "automation_id", au.ID, "event_id", ev.ID, "error", err)
			return nil, nil
		}
	}
	switch kind {
	case workflows.FlowCount, workflows.FlowDebounce:
		// The entity records the run when it decides on one (a rate limit
		// cannot be combined with these: automation.Compile refuses it).
		return nil, a.handOff(ctx, kind, au, ev, key, workflows.FlowSignal{})
	case workflows.FlowConcurrency, workflows.FlowThrottle:
		extras.WaitingFor = waitingForTurn(kind, key)
	}
	stored, err := a.recordRun(ctx, au, ev, extras)
	if err != nil {
		return nil, err
	}
	if stored.Status != models.RunPending && stored.Status != models.RunWaiting {
		return nil, nil // skipped by the rate limit, or already under way
	}
	planned := workflows.PlannedRun{AutomationRunID: stored.ID, AutomationID: au.ID, WorkflowID: stored.WorkflowID}
	if extras.Limit != nil {
		planned.Key = extras.Limit.Key
	}
	if kind != "" {
		return nil, a.handOff(ctx, kind, au, ev, key, workflows.FlowSignal{AutomationRunID: stored.ID, WorkflowID: stored.WorkflowID})
	}
	return &planned, nil
}

// runExtras is what a run is recorded with besides its automation and event.
type runExtras struct {
	Key        string
	Count      int
	WaitingFor string
	Limit      *models.RunLimit
}

// recordRun records the run of au for ev (idempotent per automation and event;
// taking a token from extras.Limit when set) with its cancel_on waits, and
// returns the run as stored.
func (a *Activities) recordRun(ctx context.Context, au *models.Automation, ev *models.Event, extras runExtras) (*models.AutomationRun, error) {
	now := a.now()
	status := models.RunPending
	if extras.WaitingFor != "" {
		status = models.RunWaiting
	}
	run := &models.AutomationRun{
		ID: ids.New(ids.Run), WorkspaceID: ev.WorkspaceID, AutomationID: au.ID, AutomationVersion: au.Version,
		EventID: ev.ID, WorkflowID: workflows.RunWorkflowID(au.ID, ev.ID), Status: status,
		Key: extras.Key, Count: extras.Count, WaitingFor: extras.WaitingFor,
		CreatedAt: now, UpdatedAt: now,
	}
	for _, st := range au.Steps {
		run.Steps = append(run.Steps, models.RunStep{ID: st.ID, Action: st.Action, Status: models.RunPending})
	}
	stored, err := a.store.EnsureRunLimited(ctx, run, extras.Limit)
	if err != nil {
		return nil, fmt.Errorf("record run of %s for %s: %w", au.ID, ev.ID, err)
	}
	if stored.Status == models.RunSkipped {
		a.metrics.RunFinished(string(models.RunSkipped))
		return stored, nil
	}
	if err := a.registerCancelWaits(ctx, au, ev, stored); err != nil {
		return nil, err
	}
	return stored, nil
}

// handOff gives ev to the automation's entity workflow of kind for key
// (SignalWithStart: the entity starts if it is not running). sig names the run
// already recorded, for concurrency and throttle.
func (a *Activities) handOff(ctx context.Context, kind string, au *models.Automation, ev *models.Event, key string, sig workflows.FlowSignal) error {
	if a.engine == nil {
		return fmt.Errorf("automation %s: this worker cannot start flow control (no engine)", au.ID)
	}
	in, err := flowInput(kind, au, key)
	if err != nil {
		return err
	}
	sig.EventID, sig.EventType, sig.AutomationVersion, sig.CreatedAt = ev.ID, ev.Type, au.Version, ev.CreatedAt
	if err := a.engine.SignalFlow(ctx, kind, in, sig); err != nil {
		return fmt.Errorf("hand %s to %s of automation %s: %w", ev.ID, kind, au.ID, err)
	}
	a.metrics.FlowEvent(kind)
	return nil
}

// LoadRun reads a run and marks it running.
func (a *Activities) LoadRun(ctx context.Context, in workflows.LoadRunInput) (workflows.LoadRunResult, error) {
	run, err := a.store.GetRunAnyWorkspace(ctx, in.AutomationRunID)
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return workflows.LoadRunResult{}, temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeStepFailed, err)
		}
		return workflows.LoadRunResult{}, err
	}
	ev, err := a.store.GetEvent(ctx, run.WorkspaceID, run.EventID)
	if err != nil {
		return workflows.LoadRunResult{}, fmt.Errorf("load event of run %s: %w", run.ID, err)
	}
	res := workflows.LoadRunResult{Event: workflows.EventFrom(*ev), AutomationID: run.AutomationID, Outputs: map[string]any{}, StartAt: len(run.Steps)}
	if run.Status == models.RunCancelled {
		// Cancelled before it started (a cancel_on event while it waited for
		// its turn): nothing to run.
		res.Cancelled = workflows.LoadRunCancelled
		return res, nil
	}
	startSet := false
	for i, st := range run.Steps {
		res.StepIDs = append(res.StepIDs, st.ID)
		done := st.Status == models.RunSucceeded || st.Status == models.RunSkipped
		if done && !startSet {
			if st.Status == models.RunSucceeded && len(st.Output) > 0 {
				if out, err := decodeOutput(st.Output); err == nil {
					res.Outputs[st.ID] = out
				}
			}
			continue
		}
		if !startSet {
			res.StartAt, startSet = i, true
		}
	}
	if id := activityWorkflowID(ctx); id != "" && id != run.WorkflowID {
		// A retry: its cancel_on must reach this workflow.
		if err := a.store.MoveRunWaits(ctx, run.ID, id); err != nil {
			return workflows.LoadRunResult{}, err
		}
	}
	if err := a.store.SetRunStatus(ctx, run.ID, models.RunRunning, "", nil); err != nil {
		return workflows.LoadRunResult{}, err
	}
	return res, nil
}

// FinishRun records a run's outcome and removes its waits. A cancelled run
// keeps the reason its canceller recorded (a cancel_on event), or says it was
// cancelled in Temporal.
func (a *Activities) FinishRun(ctx context.Context, in workflows.FinishRunInput) error {
	now := a.now()
	status := models.RunSucceeded
	switch {
	case in.Cancelled:
		status = models.RunCancelled
		if err := a.store.CancelRun(ctx, in.AutomationRunID, "cancelled through Temporal", now); err != nil {
			return err
		}
	case in.Failed:
		status = models.RunFailed
	}
	if status != models.RunCancelled {
		if err := a.store.SetRunStatus(ctx, in.AutomationRunID, status, in.Error, &now); err != nil {
			return err
		}
	}
	if err := a.store.DeleteRunWaits(ctx, in.AutomationRunID); err != nil {
		return err
	}
	a.metrics.RunFinished(string(status))
	return nil
}
