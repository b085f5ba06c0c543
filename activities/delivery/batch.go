package delivery

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/hookflow/hookflow/internal/matching"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// PrepareBatch claims a batch of events the intake accepted together and plans
// them as PrepareEvent plans one event: a delivery to each enabled, matching
// subscriber and a run of each automation triggered. It reads the subscribers
// once per event type of the batch and records every delivery of the batch in
// one statement. Idempotent, like PrepareEvent: a retried local activity claims
// nothing more and finds the deliveries and runs it already recorded.
func (a *Activities) PrepareBatch(ctx context.Context, in workflows.PrepareBatchInput) (workflows.PrepareBatchResult, error) {
	evs, err := a.store.ClaimEventBatch(ctx, in.BatchID, in.EventIDs)
	if err != nil {
		return workflows.PrepareBatchResult{}, fmt.Errorf("claim batch %s: %w", in.BatchID, err)
	}
	res := workflows.PrepareBatchResult{Events: make([]workflows.PlannedEvent, 0, len(evs))}
	subscribers := map[string][]models.Endpoint{}
	var automations *matching.Memo
	if a.runs != nil {
		automations = matching.NewMemo(a.runs.Candidates())
	}
	var planned []models.Delivery
	var endpoints []models.Endpoint
	seenEndpoint := map[string]bool{}
	now := a.now()
	for i := range evs {
		ev := &evs[i]
		if ev.WorkspaceID != in.WorkspaceID {
			return workflows.PrepareBatchResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("event %s of batch %s belongs to another workspace", ev.ID, in.BatchID), workflows.ErrTypeBadEvent, nil)
		}
		a.recent.put(ev)
		pe := workflows.PlannedEvent{EventID: ev.ID, EventType: ev.Type}
		eps, runs, err := a.planBatched(ctx, ev, subscribers, automations)
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.Type() == workflows.ErrTypeBadEvent {
			// This event alone cannot be planned; the rest of the batch goes on.
			pe.Error = app.Error()
			res.Events = append(res.Events, pe)
			continue
		}
		if err != nil {
			return workflows.PrepareBatchResult{}, err
		}
		pe.Runs = runs
		planned = append(planned, newDeliveries(ev, eps, now)...)
		for _, ep := range eps {
			if !seenEndpoint[ep.ID] {
				seenEndpoint[ep.ID] = true
				endpoints = append(endpoints, ep)
			}
		}
		res.Events = append(res.Events, pe)
	}
	if len(planned) == 0 {
		return res, nil
	}
	stored, err := a.ensureDeliveries(ctx, planned, endpoints)
	if err != nil {
		return workflows.PrepareBatchResult{}, err
	}
	// ensureDeliveries keeps the order of planned, which is the batch's order.
	byEvent := make(map[string][]workflows.PlannedDelivery, len(res.Events))
	for i, d := range stored {
		byEvent[planned[i].EventID] = append(byEvent[planned[i].EventID], d)
	}
	for i := range res.Events {
		res.Events[i].Deliveries = byEvent[res.Events[i].EventID]
	}
	return res, nil
}

// planBatched is the subscribers ev goes to and the runs it starts, reading each
// event type's subscribers (subscribers) and candidate automations (automations)
// once per batch.
func (a *Activities) planBatched(ctx context.Context, ev *models.Event, subscribers map[string][]models.Endpoint, automations *matching.Memo) ([]models.Endpoint, []workflows.PlannedRun, error) {
	var eventMap map[string]any
	lazyMap := func() (map[string]any, error) {
		if eventMap == nil {
			m, err := models.EventMap(ev)
			if err != nil {
				return nil, temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeBadEvent, err)
			}
			eventMap = m
		}
		return eventMap, nil
	}
	all, ok := subscribers[ev.Type]
	if !ok {
		var err error
		if all, err = a.store.EndpointsForEvent(ctx, ev.WorkspaceID, ev.Type); err != nil {
			return nil, nil, fmt.Errorf("match endpoints for %s: %w", ev.ID, err)
		}
		subscribers[ev.Type] = all
	}
	eps, err := a.filterEndpoints(ctx, ev, all, lazyMap)
	if err != nil || a.runs == nil {
		return eps, nil, err
	}
	m, err := lazyMap()
	if err != nil {
		return nil, nil, err
	}
	runs, err := a.runs.PlanRuns(ctx, ev, m, automations)
	return eps, runs, err
}

// StartDelivery starts the workflow a batch hands a delivery on to.
func (a *Activities) StartDelivery(ctx context.Context, in workflows.StartDeliveryInput) error {
	if a.deliveries == nil {
		return temporal.NewNonRetryableApplicationError("this worker cannot start delivery workflows (no Deliveries starter)", workflows.ErrTypeDeliveryFinal, nil)
	}
	return a.deliveries.StartDelivery(ctx, in)
}
