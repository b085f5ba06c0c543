package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// PrepareEvent records the event and what it causes: a delivery to each enabled
// endpoint subscribed to its type whose filter matches, and a run of each
// automation it triggers. It is idempotent, so the workflow can run it as a local
// activity and retry it freely.
func (a *Activities) PrepareEvent(ctx context.Context, in workflows.PrepareEventInput) (workflows.PrepareEventResult, error) {
	ev := in.Event.Model(in.DedupKey)
	stored, _, err := a.store.InsertEvent(ctx, &ev)
	if err != nil {
		return workflows.PrepareEventResult{}, fmt.Errorf("record event %s: %w", ev.ID, err)
	}
	if stored.ID != ev.ID {
		return workflows.PrepareEventResult{Duplicate: true, OriginalID: stored.ID}, nil
	}
	// The event as filters see it, read once and only if a filter or a trigger
	// needs it.
	var eventMap map[string]any
	lazyMap := func() (map[string]any, error) {
		if eventMap == nil {
			m, err := models.EventMap(&ev)
			if err != nil {
				return nil, temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeBadEvent, err)
			}
			eventMap = m
		}
		return eventMap, nil
	}
	var res workflows.PrepareEventResult
	endpoints, err := a.endpointsFor(ctx, &ev, in.OnlyEndpointID, lazyMap)
	if err != nil {
		return res, err
	}
	if in.OnlyEndpointID == "" && a.runs != nil {
		m, err := lazyMap()
		if err != nil {
			return res, err
		}
		if res.Runs, err = a.runs.PlanRuns(ctx, &ev, m, nil); err != nil {
			return workflows.PrepareEventResult{}, err
		}
	}
	res.Deliveries, err = a.planDeliveries(ctx, &ev, endpoints)
	return res, err
}

// endpointsFor is the endpoints the event goes to: the one a test ping names, else
// the enabled subscribers of its type whose filter matches.
func (a *Activities) endpointsFor(ctx context.Context, ev *models.Event, only string, eventMap func() (map[string]any, error)) ([]models.Endpoint, error) {
	if only != "" {
		ep, err := a.store.GetEndpoint(ctx, ev.WorkspaceID, only)
		if errors.Is(err, models.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("load endpoint %s: %w", only, err)
		}
		return []models.Endpoint{*ep}, nil
	}
	all, err := a.store.EndpointsForEvent(ctx, ev.WorkspaceID, ev.Type)
	if err != nil {
		return nil, fmt.Errorf("match endpoints for %s: %w", ev.ID, err)
	}
	return a.filterEndpoints(ctx, ev, all, eventMap)
}

// filterEndpoints is those of the subscribers all whose filter matches ev.
func (a *Activities) filterEndpoints(ctx context.Context, ev *models.Event, all []models.Endpoint, eventMap func() (map[string]any, error)) ([]models.Endpoint, error) {
	var out []models.Endpoint
	for _, ep := range all {
		if ep.Filter == "" {
			out = append(out, ep)
			continue
		}
		m, err := eventMap()
		if err != nil {
			return nil, err
		}
		ok, err := a.matches(ctx, ep.Filter, m)
		if err != nil && ctx.Err() != nil {
			// Stopped, not failed: the next attempt matches it again.
			return nil, fmt.Errorf("match endpoint %s: %w", ep.ID, err)
		}
		if err != nil {
			// A filter that fails at run time (a missing field, say) does not
			// match; saying so in the log is enough.
			a.logger.InfoContext(ctx, "endpoint filter did not evaluate", "endpoint_id", ep.ID, "event_id", ev.ID, "error", err)
		}
		if ok {
			out = append(out, ep)
		}
	}
	return out, nil
}

// planDeliveries records one pending delivery per endpoint (idempotent per event
// and endpoint) and leaves each, with its endpoint, for its first attempt.
func (a *Activities) planDeliveries(ctx context.Context, ev *models.Event, endpoints []models.Endpoint) ([]workflows.PlannedDelivery, error) {
	if len(endpoints) == 0 {
		return nil, nil
	}
	return a.ensureDeliveries(ctx, newDeliveries(ev, endpoints, a.now()), endpoints)
}

// newDeliveries is one pending delivery of ev to each endpoint.
func newDeliveries(ev *models.Event, endpoints []models.Endpoint, now time.Time) []models.Delivery {
	planned := make([]models.Delivery, 0, len(endpoints))
	for _, ep := range endpoints {
		planned = append(planned, models.Delivery{
			ID: ids.New(ids.Delivery), WorkspaceID: ev.WorkspaceID, EventID: ev.ID, EventType: ev.Type,
			EndpointID: ep.ID, MessageID: ev.ID, Status: models.DeliveryPending, CreatedAt: now, UpdatedAt: now,
		})
	}
	return planned
}

// ensureDeliveries records planned (one statement, idempotent per event and
// endpoint) and leaves each delivery, with its endpoint, for its first attempt.
func (a *Activities) ensureDeliveries(ctx context.Context, planned []models.Delivery, endpoints []models.Endpoint) ([]workflows.PlannedDelivery, error) {
	stored, err := a.store.EnsureDeliveries(ctx, planned)
	if err != nil {
		return nil, fmt.Errorf("plan deliveries for %s: %w", planned[0].EventID, err)
	}
	byID := make(map[string]*models.Endpoint, len(endpoints))
	for i := range endpoints {
		byID[endpoints[i].ID] = &endpoints[i]
	}
	out := make([]workflows.PlannedDelivery, 0, len(stored))
	for _, d := range stored {
		out = append(out, workflows.PlannedDelivery{DeliveryID: d.ID, EndpointID: d.EndpointID})
		if ep := byID[d.EndpointID]; ep != nil && ep.Secrets != nil {
			a.handoffs.put(d, *ep)
		}
	}
	return out, nil
}

func (a *Activities) matches(ctx context.Context, expr string, event map[string]any) (bool, error) {
	f, err := a.rules.Filter(expr)
	if err != nil {
		return false, err
	}
	return f.Match(ctx, event)
}
