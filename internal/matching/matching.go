// Package matching decides which automations an event triggers: one rule for the
// runs an event starts and for the dry run (POST /v1/automations/{id}/test), so a
// dry run never reports a match that would not happen.
package matching

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/hookflow/hookflow/internal/automation"
	"github.com/hookflow/hookflow/models"
)

// Selects reports whether a trigger's event type and source select an event of
// eventType from sourceID, before its filter: "*" is every type, and a trigger
// that names a source takes only that source's events.
func Selects(t models.Trigger, eventType, sourceID string) bool {
	return (t.EventType == "*" || t.EventType == eventType) && (t.SourceID == "" || t.SourceID == sourceID)
}

// Matches reports whether the automation compiled as prog triggers on ev (whose
// map for filters is eventMap). A filter that does not evaluate is no match, with
// the reason as the error.
func Matches(ctx context.Context, t models.Trigger, prog *automation.Program, ev *models.Event, eventMap map[string]any) (bool, error) {
	if !Selects(t, ev.Type, ev.SourceID) {
		return false, nil
	}
	return prog.Matches(ctx, eventMap)
}

// Candidates narrows the automations an event may trigger in the database (enabled,
// and selected as Selects would), so runs need not read them all.
type Candidates interface {
	AutomationsForEvent(ctx context.Context, workspaceID, eventType, sourceID string) ([]models.Automation, error)
}

// Compile turns an automation into its program (a cache in production).
type Compile func(*models.Automation) (*automation.Program, error)

// Matcher finds the automations an event triggers.
type Matcher struct {
	candidates Candidates
	compile    Compile
	logger     *slog.Logger
}

// New returns a Matcher over the candidates c, compiling with compile and logging
// automations skipped to logger.
func New(c Candidates, compile Compile, logger *slog.Logger) *Matcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Matcher{candidates: c, compile: compile, logger: logger}
}

// Automations returns the enabled automations ev triggers, in id order. An
// automation that does not compile, or whose filter does not evaluate, is logged
// and skipped: one tenant's broken rule must not stop the event's other work.
func (m *Matcher) Automations(ctx context.Context, ev *models.Event, eventMap map[string]any) ([]models.Automation, error) {
	autos, err := m.candidates.AutomationsForEvent(ctx, ev.WorkspaceID, ev.Type, ev.SourceID)
	if err != nil {
		return nil, fmt.Errorf("match automations for %s: %w", ev.ID, err)
	}
	var out []models.Automation
	for i := range autos {
		ok, err := m.matches(ctx, &autos[i], ev, eventMap)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, autos[i])
		}
	}
	return out, nil
}

// matches decides one candidate; only a cancelled context is an error.
func (m *Matcher) matches(ctx context.Context, au *models.Automation, ev *models.Event, eventMap map[string]any) (bool, error) {
	prog, err := m.compile(au)
	if err != nil {
		m.logger.WarnContext(ctx, "automation does not compile; skipped", "automation_id", au.ID, "error", err)
		return false, nil
	}
	ok, err := Matches(ctx, au.Trigger, prog, ev, eventMap)
	if err != nil && ctx.Err() != nil {
		return false, fmt.Errorf("match automation %s: %w", au.ID, err)
	}
	if err != nil {
		m.logger.InfoContext(ctx, "automation filter did not evaluate", "automation_id", au.ID, "event_id", ev.ID, "error", err)
	}
	return ok, nil
}

// Memo is Candidates that reads each workspace, event type and source's
// candidates once: for the events of one batch, which share them (an
// automation saved meanwhile applies from the next batch on). Not safe for
// concurrent use; a batch is planned in one goroutine.
type Memo struct {
	c     Candidates
	seen  map[[3]string][]models.Automation
	paths map[[2]string][]string
}

// NewMemo returns a Memo over c.
func NewMemo(c Candidates) *Memo {
	return &Memo{c: c, seen: map[[3]string][]models.Automation{}, paths: map[[2]string][]string{}}
}

// WaitPather is where the match paths of waits are read (the store).
type WaitPather interface {
	WaitPaths(ctx context.Context, workspaceID, eventType string) ([]string, error)
}

// WaitPaths returns the match paths of the waits for eventType, read once per
// workspace and type when c reads them (a wait with a new path registered
// meanwhile reads back the events accepted since it began, this batch's among
// them). It reports false when c cannot read them.
func (m *Memo) WaitPaths(ctx context.Context, workspaceID, eventType string) ([]string, bool, error) {
	wp, ok := m.c.(WaitPather)
	if !ok {
		return nil, false, nil
	}
	k := [2]string{workspaceID, eventType}
	if p, ok := m.paths[k]; ok {
		return p, true, nil
	}
	p, err := wp.WaitPaths(ctx, workspaceID, eventType)
	if err != nil {
		return nil, true, err
	}
	m.paths[k] = p
	return p, true, nil
}

// AutomationsForEvent returns c's candidates, read once per key.
func (m *Memo) AutomationsForEvent(ctx context.Context, workspaceID, eventType, sourceID string) ([]models.Automation, error) {
	k := [3]string{workspaceID, eventType, sourceID}
	if autos, ok := m.seen[k]; ok {
		return autos, nil
	}
	autos, err := m.c.AutomationsForEvent(ctx, workspaceID, eventType, sourceID)
	if err != nil {
		return nil, err
	}
	m.seen[k] = autos
	return autos, nil
}
