package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/ratelimit"
	"github.com/hookflow/hookflow/models"
)

// MaxChainDepth is how deep events may cause events; past it an emit fails, so an
// automation that triggers itself stops instead of looping for ever.
const MaxChainDepth = models.MaxChainDepth

// EventStarter starts an event's workflow (workflows.Starter in production).
type EventStarter interface {
	StartEvent(ctx context.Context, ev models.Event, onlyEndpointID string) (string, bool, error)
}

// ChainStore is what emitting needs from persistence: the event a retried step
// already emitted, and the budget of the chain.
type ChainStore interface {
	EventByDedupKey(ctx context.Context, workspaceID, dedupKey string) (*models.Event, error)
	ReserveChainEvent(ctx context.Context, rootID string, limit int, now time.Time) (bool, error)
}

// EmitterConfig bounds what steps may emit; zero values take the defaults.
type EmitterConfig struct {
	// Store, when set, enforces MaxChainEvents.
	Store ChainStore
	// MaxChainEvents is how many events one root event may cause in all
	// (default models.DefaultMaxChainEvents).
	MaxChainEvents int
	// MaxEventBytes bounds an emitted event's data, as HOOKFLOW_MAX_EVENT_BYTES
	// bounds the API's (default 256 KiB).
	MaxEventBytes int
	// Limiter counts emitted events against their workspace's rate, as the API
	// counts requests; nil: no limit.
	Limiter *ratelimit.Limiter
}

// Emitter turns step outputs into new events of the same workspace.
type Emitter struct {
	starter EventStarter
	cfg     EmitterConfig
	now     func() time.Time
}

// NewEmitter returns an Emitter that starts events through s.
func NewEmitter(s EventStarter, cfg EmitterConfig) *Emitter {
	if cfg.MaxChainEvents <= 0 {
		cfg.MaxChainEvents = models.DefaultMaxChainEvents
	}
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = 256 << 10
	}
	return &Emitter{starter: s, cfg: cfg, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Emit starts an event of eventType. Its dedup key derives from the step's key and
// suffix, so a retried step finds the event it already emitted instead of making
// another (and spends no more of the chain's budget).
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
	if len(raw) > e.cfg.MaxEventBytes {
		return "", Final(fmt.Errorf("event data is %d bytes, over the limit of %d (HOOKFLOW_MAX_EVENT_BYTES)", len(raw), e.cfg.MaxEventBytes))
	}
	ev := models.Event{
		ID:          ids.New(ids.Event),
		WorkspaceID: sc.WorkspaceID,
		Type:        eventType,
		DedupKey:    "emit:" + sc.Key + ":" + suffix,
		Data:        raw,
		Depth:       depth,
		RootID:      sc.RootID,
		CreatedAt:   e.now(),
	}
	if ev.RootID == "" {
		ev.RootID = sc.EventID
	}
	if e.cfg.Store != nil {
		prior, err := e.cfg.Store.EventByDedupKey(ctx, ev.WorkspaceID, ev.DedupKey)
		switch {
		case err == nil:
			return prior.ID, nil
		case !errors.Is(err, models.ErrNotFound):
			return "", fmt.Errorf("emit %s: %w", eventType, err)
		}
	}
	if ok, wait := e.cfg.Limiter.Allow(ev.WorkspaceID); !ok {
		return "", RetryAfter(fmt.Errorf("emit %s: over the workspace's rate limit (%g a second)", eventType, e.cfg.Limiter.PerSecond()), wait)
	}
	if e.cfg.Store != nil {
		ok, err := e.cfg.Store.ReserveChainEvent(ctx, ev.RootID, e.cfg.MaxChainEvents, ev.CreatedAt)
		if err != nil {
			return "", fmt.Errorf("emit %s: %w", eventType, err)
		}
		if !ok {
			return "", Final(fmt.Errorf("chain budget spent: event %s has caused %d events, the limit (HOOKFLOW_MAX_CHAIN_EVENTS); an automation probably triggers itself", ev.RootID, e.cfg.MaxChainEvents))
		}
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
