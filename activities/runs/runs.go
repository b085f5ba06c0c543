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
	GetRunAnyWorkspace(ctx context.Context, id string) (*models.AutomationRun, error)
	SetRunStatus(ctx context.Context, runID string, status models.RunStatus, errMsg string, finishedAt *time.Time) error
	SetRunStep(ctx context.Context, runID string, idx int, st models.RunStep) error
}

// Activities holds the dependencies of the run activities. Create it with New.
type Activities struct {
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
}

// New returns the run activities, running the actions of registry.
func New(store Store, registry *actions.Registry, logger *slog.Logger, cfg Config) *Activities {
	a := &Activities{
		store: store, registry: registry, programs: programs{m: map[string]*automation.Program{}},
		now: cfg.Now, logger: logger, metrics: cfg.Metrics, heartbeatEvery: cfg.HeartbeatEvery,
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
// activity.
func (a *Activities) PlanRuns(ctx context.Context, ev *models.Event, eventMap map[string]any, candidates matching.Candidates) ([]workflows.PlannedRun, error) {
	if candidates == nil {
		candidates = a.store
	}
	autos, err := matching.New(candidates, a.compile, a.logger).Automations(ctx, ev, eventMap)
	if err != nil {
		return nil, err
	}
	var out []workflows.PlannedRun
	for i := range autos {
		au := &autos[i]
		now := a.now()
		run := &models.AutomationRun{
			ID: ids.New(ids.Run), WorkspaceID: ev.WorkspaceID, AutomationID: au.ID, AutomationVersion: au.Version,
			EventID: ev.ID, WorkflowID: workflows.RunWorkflowID(au.ID, ev.ID), Status: models.RunPending,
			CreatedAt: now, UpdatedAt: now,
		}
		for _, st := range au.Steps {
			run.Steps = append(run.Steps, models.RunStep{ID: st.ID, Action: st.Action, Status: models.RunPending})
		}
		stored, err := a.store.EnsureRun(ctx, run)
		if err != nil {
			return nil, fmt.Errorf("record run of %s for %s: %w", au.ID, ev.ID, err)
		}
		out = append(out, workflows.PlannedRun{AutomationRunID: stored.ID, AutomationID: au.ID, WorkflowID: stored.WorkflowID})
	}
	return out, nil
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
	if err := a.store.SetRunStatus(ctx, run.ID, models.RunRunning, "", nil); err != nil {
		return workflows.LoadRunResult{}, err
	}
	return res, nil
}

// FinishRun records a run's outcome.
func (a *Activities) FinishRun(ctx context.Context, in workflows.FinishRunInput) error {
	now := a.now()
	status := models.RunSucceeded
	if in.Failed {
		status = models.RunFailed
	}
	if err := a.store.SetRunStatus(ctx, in.AutomationRunID, status, in.Error, &now); err != nil {
		return err
	}
	a.metrics.RunFinished(string(status))
	return nil
}
