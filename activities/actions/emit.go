package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/ingest"
	"github.com/hookflow/hookflow/internal/ratelimit"
	"github.com/hookflow/hookflow/models"
)

// MaxChainDepth is how deep events may cause events; past it an emit fails, so an
// automation that triggers itself stops instead of looping for ever.
const MaxChainDepth = models.MaxChainDepth

// ChainStore is what emitting needs from persistence: the event a retried step
// already emitted, and the budget of the chain.
type ChainStore = ingest.Store

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
	intake  *ingest.Intake
	limiter *ratelimit.Limiter
	cfg     EmitterConfig
	now     func() time.Time
}

// NewEmitter returns an Emitter that starts events through s.
func NewEmitter(s ingest.Starter, cfg EmitterConfig) *Emitter {
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = 256 << 10
	}
	var st ingest.Store
	if cfg.Store != nil { // a nil ChainStore must stay a nil interface: no lookup, no budget
		st = cfg.Store
	}
	intake := ingest.New(st, s, ingest.Config{MaxChainEvents: cfg.MaxChainEvents})
	cfg.MaxChainEvents = intake.MaxChainEvents()
	return &Emitter{intake: intake, limiter: cfg.Limiter, cfg: cfg, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Emit starts an event of eventType. Its dedup key derives from the step's key and
// suffix, so a retried step finds the event it already emitted instead of making
// another (and spends no more of the chain's budget or the workspace's rate).
func (e *Emitter) Emit(ctx context.Context, sc StepContext, suffix, eventType string, data any) (string, error) {
	depth, rootID, err := ingest.Child(ingest.Parent{EventID: sc.EventID, Depth: sc.Depth, RootID: sc.RootID})
	var deep *ingest.DepthError
	if errors.As(err, &deep) {
		return "", Final(fmt.Errorf("chain depth limit reached: emitting %s at depth %d (limit %d); an automation probably triggers itself", eventType, deep.Depth, deep.Limit))
	}
	raw, err := e.eventData(eventType, data)
	if err != nil {
		return "", err
	}
	ev := models.Event{
		ID:          ids.New(ids.Event),
		WorkspaceID: sc.WorkspaceID,
		Type:        eventType,
		DedupKey:    ingest.EmitKey(sc.Key, suffix),
		Data:        raw,
		Depth:       depth,
		RootID:      rootID,
		CreatedAt:   e.now(),
	}
	// The rate is paid only by a new event: a retried step finding its event is free.
	var limited error
	admit := func() error {
		if ok, wait := e.limiter.Allow(ev.WorkspaceID); !ok {
			limited = RetryAfter(fmt.Errorf("emit %s: over the workspace's rate limit (%g a second)", eventType, e.limiter.PerSecond()), wait)
		}
		return limited
	}
	acc, err := e.intake.Take(ctx, ingest.Request{Event: ev, Admit: admit})
	var budget *ingest.BudgetError
	switch {
	case errors.As(err, &budget):
		return "", Final(fmt.Errorf("chain budget spent: event %s has caused %d events, the limit (HOOKFLOW_MAX_CHAIN_EVENTS); an automation probably triggers itself", budget.RootID, budget.Limit))
	case limited != nil:
		return "", limited
	case err != nil:
		return "", fmt.Errorf("emit %s: %w", eventType, err)
	}
	return acc.ID, nil
}

// eventData checks and encodes what a step emits; every refusal is final, as the
// same step would emit the same data again.
func (e *Emitter) eventData(eventType string, data any) ([]byte, error) {
	if err := models.ValidateEventType("type", eventType); err != nil {
		return nil, Final(err)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, Final(fmt.Errorf("encode event data: %w", err))
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, Final(fmt.Errorf("event data must be an object"))
	}
	if len(raw) > e.cfg.MaxEventBytes {
		return nil, Final(fmt.Errorf("event data is %d bytes, over the limit of %d (HOOKFLOW_MAX_EVENT_BYTES)", len(raw), e.cfg.MaxEventBytes))
	}
	return raw, nil
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
