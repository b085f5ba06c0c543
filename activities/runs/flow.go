package runs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hookflow/hookflow/internal/automation"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// flowOf is the flow-control entity kind an automation hands its events to
// ("" for none) and the event's key for it.
func flowOf(ctx context.Context, au *models.Automation, prog *automation.Program, event map[string]any) (kind, key string, err error) {
	var field string
	switch {
	case au.Trigger.Count != nil:
		kind, field = workflows.FlowCount, "trigger.count"
	case au.Debounce != nil:
		kind, field = workflows.FlowDebounce, "debounce"
	case au.Concurrency != nil:
		kind, field = workflows.FlowConcurrency, "concurrency"
	case au.Throttle != nil:
		kind, field = workflows.FlowThrottle, "throttle"
	default:
		return "", "", nil
	}
	key, err = prog.Flow().Key(ctx, field, event)
	return kind, key, err
}

// rateLimit is the token a run of au for this event must take.
func rateLimit(ctx context.Context, au *models.Automation, prog *automation.Program, event map[string]any, now time.Time) (*models.RunLimit, error) {
	key, err := prog.Flow().Key(ctx, "rate_limit", event)
	if err != nil {
		return nil, err
	}
	r := au.RateLimit
	period := prog.Flow().RateLimit
	reason := fmt.Sprintf("rate_limit: %d run(s) per %s", r.Limit, r.Period)
	if key != "" {
		reason += fmt.Sprintf(" for key %q", key)
	}
	return &models.RunLimit{Key: key, Limit: r.Limit, Period: period, Now: now, Reason: reason + " already started"}, nil
}

// waitingForTurn is what a run handed to a concurrency or throttle entity
// waits for, as its REST view says.
func waitingForTurn(kind, key string) string {
	what := "a concurrency slot"
	if kind == workflows.FlowThrottle {
		what = "its throttled turn"
	}
	if key != "" {
		what += fmt.Sprintf(" (key %q)", key)
	}
	return what
}

// flowInput is the entity's settings, from the automation.
func flowInput(kind string, au *models.Automation, key string) (workflows.FlowInput, error) {
	in := workflows.FlowInput{WorkspaceID: au.WorkspaceID, AutomationID: au.ID, Key: key}
	var err error
	switch kind {
	case workflows.FlowCount:
		in.Threshold = au.Trigger.Count.Threshold
		in.Period, err = models.ParseDuration(au.Trigger.Count.Within)
	case workflows.FlowDebounce:
		in.Period, err = models.ParseDuration(au.Debounce.Period)
	case workflows.FlowConcurrency:
		in.Limit = au.Concurrency.Limit
	case workflows.FlowThrottle:
		in.Limit = au.Throttle.Limit
		in.Period, err = models.ParseDuration(au.Throttle.Period)
	default:
		err = fmt.Errorf("unknown flow control %q", kind)
	}
	return in, err
}

// StartFlowRun is what an entity workflow asks when it lets a run go: for
// count and debounce, the run of the event it decided on, recorded now
// (idempotent per automation and event) with the key and the count; for
// concurrency and throttle, the run recorded when the event was planned,
// marked no longer waiting. The result is empty when there is nothing to
// start: the run was cancelled meanwhile, or already ran.
func (a *Activities) StartFlowRun(ctx context.Context, in workflows.StartFlowRunInput) (workflows.StartFlowRunResult, error) {
	if id := in.Event.AutomationRunID; id != "" {
		run, err := a.store.GetRunAnyWorkspace(ctx, id)
		if err != nil {
			return workflows.StartFlowRunResult{}, fmt.Errorf("load run %s: %w", id, err)
		}
		if run.Status != models.RunWaiting && run.Status != models.RunPending {
			return workflows.StartFlowRunResult{}, nil
		}
		if err := a.store.SetRunWaiting(ctx, id, ""); err != nil {
			return workflows.StartFlowRunResult{}, err
		}
		return workflows.StartFlowRunResult{Run: workflows.PlannedRun{AutomationRunID: run.ID, AutomationID: run.AutomationID, WorkflowID: run.WorkflowID}}, nil
	}
	au, err := a.store.GetAutomationVersion(ctx, in.WorkspaceID, in.AutomationID, in.Event.AutomationVersion)
	if errors.Is(err, models.ErrNotFound) {
		return workflows.StartFlowRunResult{}, nil // deleted meanwhile
	}
	if err != nil {
		return workflows.StartFlowRunResult{}, err
	}
	ev, err := a.store.GetEvent(ctx, in.WorkspaceID, in.Event.EventID)
	if err != nil {
		return workflows.StartFlowRunResult{}, fmt.Errorf("load event %s: %w", in.Event.EventID, err)
	}
	run, err := a.recordRun(ctx, au, ev, runExtras{Key: in.Key, Count: in.Count})
	if err != nil {
		return workflows.StartFlowRunResult{}, err
	}
	if run.Status != models.RunPending {
		return workflows.StartFlowRunResult{}, nil
	}
	return workflows.StartFlowRunResult{Run: workflows.PlannedRun{AutomationRunID: run.ID, AutomationID: run.AutomationID, WorkflowID: run.WorkflowID}}, nil
}
