// Package ingest takes an event in, whichever door it came through (POST
// /v1/events, /hooks, an automation's emit, the platform itself): it owns the
// dedup-key scheme, the lookup of an earlier event with the same key, the chain's
// depth and budget, the start of the event's workflow and the accepted-event
// metric. Callers decode and validate their own input and encode the answer.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hookflow/hookflow/internal/metrics"
	"github.com/hookflow/hookflow/models"
)

// Starter starts an event's workflow (workflows.Starter in production).
type Starter interface {
	// StartEvent returns once the event's workflow has started; on a duplicate it
	// returns the original event's id and true.
	StartEvent(ctx context.Context, ev models.Event, onlyEndpointID string) (string, bool, error)
}

// Store is what intake needs from persistence: the event an earlier send made,
// and the budget of the chain.
type Store interface {
	EventByDedupKey(ctx context.Context, workspaceID, dedupKey string) (*models.Event, error)
	ReserveChainEvent(ctx context.Context, rootID string, limit int, now time.Time) (bool, error)
}

// Config tunes an Intake; zero values take the defaults.
type Config struct {
	// MaxChainEvents is how many events one root event may cause in all
	// (default models.DefaultMaxChainEvents).
	MaxChainEvents int
	// Metrics counts accepted events; nil: not counted.
	Metrics *metrics.Metrics
}

// Intake takes events in.
type Intake struct {
	store   Store
	starter Starter
	cfg     Config
}

// New returns an Intake that starts events through starter. A nil store skips the
// earlier-event lookup and the chain budget: for events whose key Temporal alone
// deduplicates (the platform's own) and for tests.
func New(store Store, starter Starter, cfg Config) *Intake {
	if cfg.MaxChainEvents <= 0 {
		cfg.MaxChainEvents = models.DefaultMaxChainEvents
	}
	return &Intake{store: store, starter: starter, cfg: cfg}
}

// MaxChainEvents is the budget of one chain this Intake enforces.
func (in *Intake) MaxChainEvents() int { return in.cfg.MaxChainEvents }

// Request is one event to take in. Event must carry its DedupKey (from the key
// functions of this package) and, when it belongs to a chain, Depth and RootID.
type Request struct {
	Event models.Event
	// OnlyEndpointID delivers to that endpoint only (test pings).
	OnlyEndpointID string
	// Admit, when set, runs once the event is known to be new and before the chain's
	// budget is spent: a rate limit that a resend finding its event must not pay.
	Admit func() error
	// Ingress and Source label the accepted-event metric; empty Ingress: not counted.
	Ingress, Source string
}

// Accepted is the event an intake answered with: the new one, or the earlier one
// with the same key (Duplicate).
type Accepted struct {
	ID         string
	Type       string
	ExternalID string
	Duplicate  bool
}

// Take looks for an earlier event with the same key, spends one event of the
// chain's budget, starts the event's workflow and counts it. Errors: a failed
// lookup wraps models.ErrUnavailable, a spent budget is a *BudgetError, and
// Admit's and the Starter's errors come back as they are.
func (in *Intake) Take(ctx context.Context, req Request) (Accepted, error) {
	ev := req.Event
	prior, err := in.earlier(ctx, ev)
	if err != nil {
		return Accepted{}, err
	}
	if prior != nil {
		return Accepted{ID: prior.ID, Type: prior.Type, ExternalID: prior.ExternalID, Duplicate: true}, nil
	}
	if req.Admit != nil {
		if err := req.Admit(); err != nil {
			return Accepted{}, err
		}
	}
	if err := in.reserve(ctx, ev); err != nil {
		return Accepted{}, err
	}
	id, dup, err := in.starter.StartEvent(ctx, ev, req.OnlyEndpointID)
	if err != nil {
		// The Starter's error already names the workflow and says what failed.
		return Accepted{}, err
	}
	if !dup && req.Ingress != "" {
		in.cfg.Metrics.EventAccepted(req.Ingress, req.Source, ev.Type)
	}
	return Accepted{ID: id, Type: ev.Type, ExternalID: ev.ExternalID, Duplicate: dup}, nil
}

// earlier finds the event an earlier send with ev's key made. Temporal forgets
// workflow IDs after the namespace's retention; the store does not.
func (in *Intake) earlier(ctx context.Context, ev models.Event) (*models.Event, error) {
	if in.store == nil || isFresh(ev.DedupKey) {
		return nil, nil
	}
	prior, err := in.store.EventByDedupKey(ctx, ev.WorkspaceID, ev.DedupKey)
	switch {
	case err == nil:
		return prior, nil
	case errors.Is(err, models.ErrNotFound):
		return nil, nil
	}
	return nil, fmt.Errorf("look up event %s: %w: %w", ev.DedupKey, models.ErrUnavailable, err)
}

// reserve spends one event of the chain's budget; an event that starts no chain
// (no RootID) spends nothing.
func (in *Intake) reserve(ctx context.Context, ev models.Event) error {
	if in.store == nil || ev.RootID == "" {
		return nil
	}
	ok, err := in.store.ReserveChainEvent(ctx, ev.RootID, in.cfg.MaxChainEvents, ev.CreatedAt)
	if err != nil {
		return fmt.Errorf("reserve chain event of %s: %w", ev.RootID, err)
	}
	if !ok {
		return &BudgetError{RootID: ev.RootID, Limit: in.cfg.MaxChainEvents}
	}
	return nil
}
