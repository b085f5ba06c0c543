package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/models"
)

// PrepareEventInput is the event as accepted by the API. OnlyEndpointID, when set,
// targets that one endpoint (a test ping) instead of matching subscriptions.
type PrepareEventInput struct {
	Event models.Event
	// DedupKey travels beside the event because models.Event keeps it out of JSON
	// (it is internal, not part of the API).
	DedupKey       string
	OnlyEndpointID string
}

// PlannedDelivery names one delivery the workflow must make.
type PlannedDelivery struct {
	DeliveryID string
	EndpointID string
}

// PrepareEventResult lists the deliveries to make. Duplicate is true when the store
// already held another event with the same dedup key (a re-send after Temporal's
// retention forgot the first workflow); nothing is delivered then.
type PrepareEventResult struct {
	Duplicate  bool
	OriginalID string
	Deliveries []PlannedDelivery
	Runs       []PlannedRun
}

// PrepareEvent records the event and the deliveries it causes: the enabled endpoints
// subscribed to its type whose filter matches. It is idempotent, so the workflow can
// run it as a local activity and retry it freely.
func (a *Activities) PrepareEvent(ctx context.Context, in PrepareEventInput) (PrepareEventResult, error) {
	ev := in.Event
	ev.DedupKey = in.DedupKey
	stored, _, err := a.store.InsertEvent(ctx, &ev)
	if err != nil {
		return PrepareEventResult{}, fmt.Errorf("record event %s: %w", ev.ID, err)
	}
	if stored.ID != ev.ID {
		return PrepareEventResult{Duplicate: true, OriginalID: stored.ID}, nil
	}

	var endpoints []models.Endpoint
	var eventMap map[string]any
	if in.OnlyEndpointID != "" {
		ep, err := a.store.GetEndpoint(ctx, ev.WorkspaceID, in.OnlyEndpointID)
		if errors.Is(err, models.ErrNotFound) {
			return PrepareEventResult{}, nil
		}
		if err != nil {
			return PrepareEventResult{}, fmt.Errorf("load endpoint %s: %w", in.OnlyEndpointID, err)
		}
		endpoints = []models.Endpoint{*ep}
	} else {
		all, err := a.store.EndpointsForEvent(ctx, ev.WorkspaceID, ev.Type)
		if err != nil {
			return PrepareEventResult{}, fmt.Errorf("match endpoints for %s: %w", ev.ID, err)
		}
		for _, ep := range all {
			if ep.Filter == "" {
				endpoints = append(endpoints, ep)
				continue
			}
			if eventMap == nil {
				if eventMap, err = EventMap(&ev); err != nil {
					return PrepareEventResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadEvent, err)
				}
			}
			ok, err := a.matches(ctx, ep.Filter, eventMap)
			if err != nil && ctx.Err() != nil {
				// Stopped, not failed: the next attempt matches it again.
				return PrepareEventResult{}, fmt.Errorf("match endpoint %s: %w", ep.ID, err)
			}
			if err != nil {
				// A filter that fails at run time (a missing field, say) does not
				// match; saying so in the log is enough.
				a.logger.InfoContext(ctx, "endpoint filter did not evaluate", "endpoint_id", ep.ID, "event_id", ev.ID, "error", err)
			}
			if ok {
				endpoints = append(endpoints, ep)
			}
		}
	}
	var res PrepareEventResult
	if in.OnlyEndpointID == "" && a.autos != nil {
		if eventMap == nil {
			if eventMap, err = EventMap(&ev); err != nil {
				return PrepareEventResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadEvent, err)
			}
		}
		if res.Runs, err = a.planRuns(ctx, &ev, eventMap); err != nil {
			return PrepareEventResult{}, err
		}
	}
	if len(endpoints) == 0 {
		return res, nil
	}

	now := a.now()
	planned := make([]models.Delivery, 0, len(endpoints))
	for _, ep := range endpoints {
		planned = append(planned, models.Delivery{
			ID:          ids.New(ids.Delivery),
			WorkspaceID: ev.WorkspaceID,
			EventID:     ev.ID,
			EventType:   ev.Type,
			EndpointID:  ep.ID,
			MessageID:   ev.ID,
			Status:      models.DeliveryPending,
			CreatedAt:   now,
			UpdatedAt:   now,
		})
	}
	stored2, err := a.store.EnsureDeliveries(ctx, planned)
	if err != nil {
		return PrepareEventResult{}, fmt.Errorf("plan deliveries for %s: %w", ev.ID, err)
	}
	byID := make(map[string]*models.Endpoint, len(endpoints))
	for i := range endpoints {
		byID[endpoints[i].ID] = &endpoints[i]
	}
	res.Deliveries = make([]PlannedDelivery, 0, len(stored2))
	for _, d := range stored2 {
		res.Deliveries = append(res.Deliveries, PlannedDelivery{DeliveryID: d.ID, EndpointID: d.EndpointID})
		if ep := byID[d.EndpointID]; ep != nil && ep.Secrets != nil {
			a.handoffs.put(d, *ep)
		}
	}
	return res, nil
}

func (a *Activities) matches(ctx context.Context, expr string, event map[string]any) (bool, error) {
	f, err := a.rules.Filter(expr)
	if err != nil {
		return false, err
	}
	return f.Match(ctx, event)
}

// EventMap is the event as CEL filters and templates see it; see models.EventMap.
func EventMap(ev *models.Event) (map[string]any, error) { return models.EventMap(ev) }
