package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/models"
)

// MaxChainDepth is how deep events may cause events; past it an emit fails, so an
// automation that triggers itself stops instead of looping for ever.
const MaxChainDepth = 8

// EventStarter starts an event's workflow (workflows.Starter in production).
type EventStarter interface {
	StartEvent(ctx context.Context, ev models.Event, onlyEndpointID string) (string, bool, error)
}

// Emitter turns step outputs into new events of the same workspace.
type Emitter struct {
	starter EventStarter
	now     func() time.Time
}

// NewEmitter returns an Emitter that starts events through s.
func NewEmitter(s EventStarter) *Emitter {
	return &Emitter{starter: s, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Emit starts an event of eventType. Its dedup key derives from the step's key and
// suffix, so a retried step finds the event it already emitted instead of making
// another.
func (e *Emitter) Emit(ctx context.Context, sc StepContext, suffix, eventType string, data any) (string, error) {
	depth := sc.Depth + 1
	if depth > MaxChainDepth {
		return "", Final(fmt.Errorf("chain depth limit reached: emitting %s at depth %d (limit %d); an automation probably triggers itself", eventType, depth, MaxChainDepth))
	}
	if err := models.ValidateEventType("type", eventType); err != nil {
		return "", Final(err)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return "", Final(fmt.Errorf("encode event data: %w", err))
	}
	if len(raw) == 0 || raw[0] != '{' {
		return "", Final(fmt.Errorf("event data must be an object"))
	}
	ev := models.Event{
		ID:          ids.New(ids.Event),
		WorkspaceID: sc.WorkspaceID,
		Type:        eventType,
		DedupKey:    "emit:" + sc.Key + ":" + suffix,
		Data:        raw,
		Depth:       depth,
		CreatedAt:   e.now(),
	}
	id, _, err := e.starter.StartEvent(ctx, ev, "")
	if err != nil {
		return "", fmt.Errorf("emit %s: %w", eventType, err)
	}
	return id, nil
}

// EmitAction is `event.emit` {"type","data"}: a new event into the same workspace.
type EmitAction struct{ Emitter *Emitter }

// Name implements Action.
func (EmitAction) Name() string { return "event.emit" }

// Retry implements Action.
func (EmitAction) Retry() RetryKind { return RetryInternal }

// Run implements Action.
func (a EmitAction) Run(ctx context.Context, sc StepContext, params map[string]any) (map[string]any, error) {
	t, err := str(params, "type", true)
	if err != nil {
		return nil, err
	}
	data, ok := params["data"]
	if !ok || data == nil {
		data = map[string]any{}
	}
	if _, isMap := data.(map[string]any); !isMap {
		return nil, Final(fmt.Errorf("params.data must be an object"))
	}
	id, err := a.Emitter.Emit(ctx, sc, "event", t, data)
	if err != nil {
		return nil, err
	}
	return map[string]any{"event_id": id, "type": t}, nil
}
