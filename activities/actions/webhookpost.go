package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hookflow/hookflow/internal/chain"
	"github.com/hookflow/hookflow/internal/dispatch"
	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/netguard"
	"github.com/hookflow/hookflow/internal/signing"
	"github.com/hookflow/hookflow/models"
)

// WebhookPost is `webhook.post` {"url","body"?,"headers"?,"secret"?}: a POST to any
// URL through the SSRF guard with Standard Webhooks headers — webhook-id is the run
// and step, stable across retries — signed with params.secret or else the
// automation's signing secret. The answer follows the delivery contract: 2xx
// succeeds, 4xx other than 408/425/429 is final, the rest retries on the delivery
// schedule; every attempt is recorded.
type WebhookPost struct {
	Dispatcher dispatch.Dispatcher
	// Deliveries records every attempt as a delivery whose target is the step
	// (endpoint_id "step:<run>:<step>"), so webhook steps show up beside endpoint
	// deliveries in GET /v1/deliveries with their attempts.
	Deliveries DeliveryRecorder
	// Chain signs the chain header, so a step aimed at hookflow's own /hooks
	// keeps its chain's depth and budget; nil sends none.
	Chain *chain.Signer
}

// DeliveryRecorder is the part of the store that records deliveries and attempts.
type DeliveryRecorder interface {
	EnsureDeliveries(ctx context.Context, ds []models.Delivery) ([]models.Delivery, error)
	RecordAttempt(ctx context.Context, deliveryID string, a *models.Attempt, status models.DeliveryStatus, next *time.Time) error
}

// StepTarget is the endpoint_id under which a step's deliveries are recorded.
func StepTarget(runID, stepID string) string { return "step:" + runID + ":" + stepID }

// Name implements Action.
func (WebhookPost) Name() string { return "webhook.post" }

// Retry implements Action.
func (WebhookPost) Retry() RetryKind { return RetryHTTP }

// Run implements Action.
func (a WebhookPost) Run(ctx context.Context, sc StepContext, params map[string]any) (map[string]any, error) {
	url, err := str(params, "url", true)
	if err != nil {
		return nil, err
	}
	payload := params["body"]
	if payload == nil {
		payload = map[string]any{}
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, Final(fmt.Errorf("encode body: %w", err))
	}
	msgID := "msg_" + sc.Key
	h, err := a.headers(sc, params, msgID, body)
	if err != nil {
		return nil, err
	}
	start := time.Now().UTC()
	resp, err := post(ctx, a.Dispatcher, dispatch.Request{URL: url, Body: body, Header: h})
	result := stepResult(resp, err)
	outcome, dstatus := stepOutcome(result, err, sc)
	a.record(ctx, sc, msgID, start, resp, err, outcome, dstatus)
	if result != nil {
		return nil, result
	}
	return map[string]any{"status": resp.Status, "response": resp.Excerpt}, nil
}

// headers are the step's own headers, then the chain header and the signature
// (with the step's secret, else the automation's), which the step cannot override.
func (a WebhookPost) headers(sc StepContext, params map[string]any, msgID string, body []byte) (http.Header, error) {
	secret, err := str(params, "secret", false)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	if hs, ok := params["headers"].(map[string]any); ok {
		for k, v := range hs {
			s, ok := v.(string)
			if !ok {
				return nil, Final(fmt.Errorf("params.headers.%s must be a string", k))
			}
			h.Set(k, s)
		}
	}
	// Set last: a step's own headers cannot drop or forge the chain.
	h.Del(chain.Header)
	if link := a.Chain.Sign(chain.Link{RootID: sc.RootID, Depth: sc.Depth}); link != "" {
		h.Set(chain.Header, link)
	}
	if secret == "" {
		secret = sc.SigningSecret
	}
	if secret == "" {
		h.Set(signing.HeaderID, msgID)
		return h, nil
	}
	sh, err := signing.Headers([]string{secret}, msgID, time.Now(), body)
	if err != nil {
		return nil, Final(fmt.Errorf("params.secret: %w", err))
	}
	for k, v := range sh {
		h[k] = v
	}
	return h, nil
}

// stepResult is what an answer means for the step: nil for a 2xx, final for a
// blocked destination or a final status, else retryable (after Retry-After).
func stepResult(resp dispatch.Response, err error) error {
	switch {
	case err != nil: // a blocked destination is final already (post)
		return err
	case resp.OK():
		return nil
	case dispatch.IsFinalStatus(resp.Status):
		return Final(fmt.Errorf("HTTP %d", resp.Status))
	case resp.RetryAfter > 0:
		return RetryAfter(fmt.Errorf("HTTP %d", resp.Status), resp.RetryAfter)
	}
	return fmt.Errorf("HTTP %d", resp.Status)
}

// stepOutcome is how the attempt and the step's delivery are recorded.
func stepOutcome(result, sendErr error, sc StepContext) (models.AttemptOutcome, models.DeliveryStatus) {
	var fe *finalError
	switch {
	case result == nil:
		return models.AttemptSucceeded, models.DeliverySucceeded
	case errors.Is(sendErr, netguard.ErrBlocked):
		return models.AttemptBlocked, models.DeliveryFailed
	case errors.As(result, &fe) || sc.Attempt >= sc.MaxAttempts:
		return models.AttemptFailed, models.DeliveryFailed
	}
	return models.AttemptRetrying, models.DeliveryPending
}

// record writes the attempt; a failure to record is logged by the caller's step
// error, not retried: the request has been made.
func (a WebhookPost) record(ctx context.Context, sc StepContext, msgID string, at time.Time, resp dispatch.Response, sendErr error,
	outcome models.AttemptOutcome, dstatus models.DeliveryStatus) {
	if a.Deliveries == nil {
		return
	}
	ds, err := a.Deliveries.EnsureDeliveries(ctx, []models.Delivery{{
		ID: ids.New(ids.Delivery), WorkspaceID: sc.WorkspaceID, EventID: sc.EventID, EventType: sc.EventType,
		EndpointID: StepTarget(sc.AutomationRunID, sc.StepID), MessageID: msgID, Status: models.DeliveryPending, CreatedAt: at, UpdatedAt: at,
	}})
	if err != nil || len(ds) != 1 {
		return
	}
	rec := &models.Attempt{At: at, DurationMS: time.Since(at).Milliseconds(), StatusCode: resp.Status, ResponseExcerpt: resp.Excerpt, Outcome: outcome}
	if sendErr != nil {
		rec.Error = sendErr.Error()
	}
	_ = a.Deliveries.RecordAttempt(ctx, ds[0].ID, rec, dstatus, nil)
}
