package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookflow/hookflow/internal/automation"
	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// Bounds of matching an event to waiting runs.
const (
	// MaxCondWaits caps the open waits with a condition (no match path) per
	// workspace and event type: each is evaluated for every such event, where
	// waits with a path are found by an index lookup whatever their number.
	MaxCondWaits = 1000
	// maxTakenPerEvent bounds the waits one event takes (it resumes every run
	// waiting for it, up to this many).
	maxTakenPerEvent = 10_000
	// maxCatchUp bounds the events a newly registered wait reads back.
	maxCatchUp = 100
)

// WaitStore is what waits need from persistence.
type WaitStore interface {
	InsertWaits(ctx context.Context, waits []models.RunWait) ([]models.RunWait, error)
	WaitPaths(ctx context.Context, workspaceID, eventType string) ([]string, error)
	OpenWaits(ctx context.Context, workspaceID, eventType, path, value string, limit int) ([]models.RunWait, error)
	CountCondWaits(ctx context.Context, workspaceID, eventType string) (int, error)
	ClaimWait(ctx context.Context, waitID, eventID string) (bool, error)
	CloseWait(ctx context.Context, waitID string) (string, error)
	DeleteRunWaits(ctx context.Context, runID string) error
	MoveRunWaits(ctx context.Context, runID, workflowID string) error
	NoteCancel(ctx context.Context, runID, reason string) error
	EventsOfTypeSince(ctx context.Context, workspaceID, eventType string, since time.Time, limit int) ([]models.Event, error)
}

// errCondWaitsFull is a wait with a condition over MaxCondWaits: the step
// fails for good (a cancel_on entry is not registered, and the log says so).
var errCondWaitsFull = errors.New("too many waits with a condition")

// waitScope is what a wait keeps of its run: the run's event id, and for a
// wait with a condition the values the condition sees.
type waitScope struct {
	EventID string         `json:"event_id"`
	Event   map[string]any `json:"event,omitempty"`
	Steps   map[string]any `json:"steps,omitempty"`
}

// React offers ev to the runs waiting for an event of its type: it reads the
// distinct match paths of their open waits (one indexed query), its own value
// at each, and the waits with that value (one indexed query per path); waits
// with a condition are evaluated one by one. Each wait ev matches is taken:
// a wait_for_event step is told (SignalWaitMatched), a cancel_on cancels its
// run. Idempotent: a wait taken by ev is taken by it again, and a run ignores
// a second signal.
func (a *Activities) React(ctx context.Context, ev *models.Event, eventMap map[string]any) error {
	return a.react(ctx, ev, eventMap, a.store.WaitPaths)
}

// react is React reading the waits' paths from paths (a batch's memo).
func (a *Activities) react(ctx context.Context, ev *models.Event, eventMap map[string]any,
	paths func(ctx context.Context, workspaceID, eventType string) ([]string, error)) error {
	ps, err := paths(ctx, ev.WorkspaceID, ev.Type)
	if err != nil {
		return err
	}
	for _, path := range ps {
		value, limit := "", MaxCondWaits
		if path != "" {
			v, ok := automation.PathValue(eventMap, path)
			if !ok {
				continue
			}
			value, limit = v, maxTakenPerEvent
		}
		waits, err := a.store.OpenWaits(ctx, ev.WorkspaceID, ev.Type, path, value, limit)
		if err != nil {
			return err
		}
		for i := range waits {
			if err := a.offer(ctx, &waits[i], ev, eventMap); err != nil {
				return err
			}
		}
	}
	return nil
}

// offer gives ev to one wait if it counts for it: accepted at or after the wait
// began, not the run's own event, and its condition holds.
func (a *Activities) offer(ctx context.Context, w *models.RunWait, ev *models.Event, eventMap map[string]any) error {
	if ev.CreatedAt.Before(w.BeganAt) {
		return nil
	}
	var scope waitScope
	if len(w.Scope) > 0 {
		if err := json.Unmarshal(w.Scope, &scope); err != nil {
			return fmt.Errorf("wait %s scope: %w", w.ID, err)
		}
	}
	if scope.EventID == ev.ID {
		return nil
	}
	if w.Cond != "" {
		ok, err := automation.MatchCond(ctx, w.Cond, models.Numbers(scope.Event).(map[string]any), eventMap, numbersMap(scope.Steps))
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			a.logger.InfoContext(ctx, "wait condition did not evaluate", "wait_id", w.ID, "run_id", w.RunID, "event_id", ev.ID, "error", err)
			return nil
		}
		if !ok {
			return nil
		}
	}
	if w.Kind == models.WaitCancel {
		a.metrics.WaitTaken(models.WaitCancel)
		return a.cancelRun(ctx, w, ev)
	}
	taken, err := a.store.ClaimWait(ctx, w.ID, ev.ID)
	if err != nil || !taken {
		return err
	}
	a.metrics.WaitTaken(models.WaitEvent)
	if a.engine == nil {
		return fmt.Errorf("wait %s: this worker cannot signal runs (no engine)", w.ID)
	}
	err = a.engine.SignalWait(ctx, w.WorkflowID, workflows.WaitSignal{WaitID: w.ID, EventID: ev.ID})
	if errors.Is(err, models.ErrNotFound) {
		return a.store.DeleteRunWaits(ctx, w.RunID) // the run has ended
	}
	return err
}

func numbersMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return models.Numbers(m).(map[string]any)
}

// cancelRun ends the run of a cancel_on wait that ev matched: its workflow is
// cancelled (it records itself cancelled, see FinishRun) and the run is
// recorded cancelled with ev as the reason, unless it had finished. A run not
// started yet (waiting for its turn) is recorded cancelled and never starts.
func (a *Activities) cancelRun(ctx context.Context, w *models.RunWait, ev *models.Event) error {
	if a.engine == nil {
		return fmt.Errorf("wait %s: this worker cannot cancel runs (no engine)", w.ID)
	}
	// The reason first: the workflow, once cancelled, records itself
	// cancelled and keeps a reason noted before.
	reason := fmt.Sprintf("cancelled by event %s (%s)", ev.ID, ev.Type)
	if err := a.store.NoteCancel(ctx, w.RunID, reason); err != nil {
		return err
	}
	if err := a.engine.CancelRun(ctx, w.WorkflowID); err != nil && !errors.Is(err, models.ErrNotFound) {
		return err
	}
	a.logger.InfoContext(ctx, "run cancelled by cancel_on", "run_id", w.RunID, "event_id", ev.ID)
	return a.store.CancelRun(ctx, w.RunID, reason, a.now())
}

// registerCancelWaits records the run's cancel_on entries as waits (kind
// cancel), begun when its event was accepted, and reads back the events of
// their types accepted since, so one accepted while the waits were being
// recorded is not missed.
func (a *Activities) registerCancelWaits(ctx context.Context, au *models.Automation, ev *models.Event, run *models.AutomationRun) error {
	if len(au.CancelOn) == 0 {
		return nil
	}
	prog, err := a.compile(au)
	if err != nil {
		return err
	}
	eventMap, err := models.EventMap(ev)
	if err != nil {
		return err
	}
	var waits []models.RunWait
	for i, m := range prog.CancelOn() {
		w := models.RunWait{ID: ids.New("wait"), WorkspaceID: run.WorkspaceID, RunID: run.ID, WorkflowID: run.WorkflowID,
			Kind: models.WaitCancel, StepIndex: i, EventType: m.EventType, MatchPath: m.Path, Cond: m.Cond, BeganAt: ev.CreatedAt}
		if w.Scope, err = scopeOf(ev.ID, m, eventMap, nil); err != nil {
			return err
		}
		if m.Path != "" {
			w.MatchValue, _ = automation.PathValue(eventMap, m.Path)
		}
		waits = append(waits, w)
	}
	err = a.register(ctx, waits)
	if errors.Is(err, errCondWaitsFull) {
		a.logger.WarnContext(ctx, "cancel_on not registered", "run_id", run.ID, "error", err)
		return nil
	}
	return err
}

// scopeOf is what a wait keeps of its run (waitScope).
func scopeOf(eventID string, m automation.Match, eventMap, steps map[string]any) (json.RawMessage, error) {
	s := waitScope{EventID: eventID}
	if m.Cond != "" {
		s.Event, s.Steps = eventMap, steps
	}
	b, err := json.Marshal(s)
	return b, err
}

// register records waits (idempotent per run, kind and index; a wait with a
// condition within MaxCondWaits) and catches up with the events accepted since
// each began.
func (a *Activities) register(ctx context.Context, waits []models.RunWait) error {
	for _, w := range waits {
		if w.Cond == "" {
			continue
		}
		n, err := a.store.CountCondWaits(ctx, w.WorkspaceID, w.EventType)
		if err != nil {
			return err
		}
		if n >= MaxCondWaits {
			return fmt.Errorf("%d runs already wait for %s with a condition (at most %d per event type; use match for more): %w",
				n, w.EventType, MaxCondWaits, errCondWaitsFull)
		}
	}
	stored, err := a.store.InsertWaits(ctx, waits)
	if err != nil {
		return err
	}
	for i := range stored {
		w := &stored[i]
		if w.MatchedEventID != "" {
			continue
		}
		evs, err := a.store.EventsOfTypeSince(ctx, w.WorkspaceID, w.EventType, w.BeganAt, maxCatchUp)
		if err != nil {
			return err
		}
		for j := range evs {
			m, err := models.EventMap(&evs[j])
			if err != nil {
				continue
			}
			if w.MatchPath != "" {
				if v, ok := automation.PathValue(m, w.MatchPath); !ok || v != w.MatchValue {
					continue
				}
			}
			if err := a.offer(ctx, w, &evs[j], m); err != nil {
				return err
			}
		}
	}
	return nil
}

// describeWait is what a waiting step says it waits for.
func describeWait(m automation.Match, value string) string {
	switch {
	case m.Path != "" && value != "":
		return fmt.Sprintf("%s where %s = %s", m.EventType, m.Path, value)
	case m.Path != "":
		return fmt.Sprintf("%s (this run's event has no %s: no event can match)", m.EventType, m.Path)
	default:
		return fmt.Sprintf("%s where %s", m.EventType, strings.TrimSpace(m.Cond))
	}
}
