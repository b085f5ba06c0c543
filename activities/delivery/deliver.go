package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/hookflow/hookflow/internal/attempt"
	"github.com/hookflow/hookflow/internal/chain"
	"github.com/hookflow/hookflow/internal/dispatch"
	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/ingest"
	"github.com/hookflow/hookflow/internal/netguard"
	"github.com/hookflow/hookflow/internal/signing"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// maxPaceWait is how long an attempt waits in the activity for its endpoint's next
// send slot; a slot further off sends the delivery back to Temporal to come back
// later (a durable timer, not a sleeping worker).
const maxPaceWait = 5 * time.Second

// Payload is the JSON body of every delivery, in the shape the Standard Webhooks
// spec recommends.
type Payload struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// Deliver makes one attempt of a delivery and records it. Temporal drives the retries:
// a retryable failure returns an error carrying the next delay from the schedule (or
// the receiver's Retry-After), so the schedule lives here and the workflow stays small.
func (a *Activities) Deliver(ctx context.Context, in workflows.DeliverInput) (workflows.DeliverResult, error) {
	defer attempt.KeepAlive(ctx, a.heartbeatEvery)()
	if left, err := attempt.Due(ctx, a.now(), in.NotBefore); err != nil || left > 0 {
		if err == nil {
			err = workflows.NotDue(workflows.ErrTypeDeliveryNotDue, in.NotBefore, left)
		}
		return workflows.DeliverResult{}, err
	}
	d, ep, err := a.target(ctx, in.DeliveryID)
	if err != nil {
		return workflows.DeliverResult{}, err
	}
	if !ep.Enabled && !in.Force {
		return workflows.DeliverResult{}, a.endWithout(ctx, d, "endpoint is disabled: "+ep.DisabledReason)
	}
	ev, err := a.event(ctx, d.WorkspaceID, d.EventID)
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return workflows.DeliverResult{}, a.endWithout(ctx, d, "event was deleted")
		}
		return workflows.DeliverResult{}, fmt.Errorf("load event %s: %w", d.EventID, err)
	}
	if ep.RateLimitPerSecond > 0 && !in.Force {
		if err := a.pace(ctx, ep); err != nil {
			return workflows.DeliverResult{}, err
		}
	}
	o, err := a.send(ctx, d, ep, ev)
	if err != nil {
		return workflows.DeliverResult{}, err
	}
	o.attempt = attempt.Number(d.AttemptCount, in.BaseAttempts)
	defer func() {
		if o.rec.Outcome != "" {
			a.metrics.DeliveryAttempt(string(o.rec.Outcome), o.rec.StatusCode, time.Duration(o.rec.DurationMS)*time.Millisecond)
		}
	}()
	if o.err == nil && o.resp.OK() {
		return a.succeeded(ctx, o), nil
	}
	if done, err := a.failedForGood(ctx, o); done {
		return workflows.DeliverResult{}, err
	}
	return workflows.DeliverResult{}, a.retryLater(ctx, o)
}

// target is the delivery and its endpoint: handed over in memory by PrepareEvent
// for a first attempt, else read from the store.
func (a *Activities) target(ctx context.Context, deliveryID string) (*models.Delivery, *models.Endpoint, error) {
	if d, ep, ok := a.handoffs.take(ctx, deliveryID); ok {
		return d, ep, nil
	}
	d, err := a.store.GetDeliveryAnyWorkspace(ctx, deliveryID)
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return nil, nil, final("delivery %s does not exist", deliveryID)
		}
		return nil, nil, fmt.Errorf("load delivery %s: %w", deliveryID, err)
	}
	ep, err := a.store.GetEndpoint(ctx, d.WorkspaceID, d.EndpointID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil, a.endWithout(ctx, d, "endpoint was deleted")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load endpoint %s: %w", d.EndpointID, err)
	}
	return d, ep, nil
}

// attemptOutcome is one attempt as sent, for the functions that record it.
type attemptOutcome struct {
	d          *models.Delivery
	ep         *models.Endpoint
	ev         *models.Event
	rec        *models.Attempt
	attempt    int
	start, end time.Time
	resp       dispatch.Response
	err        error
}

// send makes the signed POST. The payload is what the database returned, so every
// attempt sends the same bytes; the chain header lets a receiver that is
// hookflow's own /hooks keep the chain's depth and budget. Only a payload that
// cannot be encoded or signed is an error here; a failed send is o.err.
func (a *Activities) send(ctx context.Context, d *models.Delivery, ep *models.Endpoint, ev *models.Event) (attemptOutcome, error) {
	body, err := json.Marshal(Payload{ID: ev.ID, Type: ev.Type, Timestamp: ev.CreatedAt.UTC().Format(time.RFC3339), Data: ev.Data})
	if err != nil {
		return attemptOutcome{}, final("encode payload: %v", err)
	}
	start := a.now()
	o := attemptOutcome{d: d, ep: ep, ev: ev, start: start}
	header, err := signing.Headers(models.ActiveSecrets(ep.Secrets, start), d.MessageID, start, body)
	if err != nil {
		o.err = fmt.Errorf("sign: %w", err)
	} else {
		if link := a.chain.Sign(chain.Link{RootID: ev.Root(), Depth: ev.Depth}); link != "" {
			header.Set(chain.Header, link)
		}
		o.resp, o.err = a.dispatcher.Post(ctx, dispatch.Request{URL: ep.URL, Body: body, Header: header})
		if dispatch.IsBadRequest(o.err) {
			o.err = fmt.Errorf("build request: %w", o.err)
		}
	}
	o.end = a.now()
	o.rec = &models.Attempt{At: start, DurationMS: o.end.Sub(start).Milliseconds(), StatusCode: o.resp.Status, ResponseExcerpt: o.resp.Excerpt}
	if o.err != nil {
		o.rec.Error = o.err.Error()
	}
	return o, nil
}

// succeeded records a 2xx and resets the endpoint's failure clock.
func (a *Activities) succeeded(ctx context.Context, o attemptOutcome) workflows.DeliverResult {
	o.rec.Outcome = models.AttemptSucceeded
	if err := a.store.RecordAttempt(ctx, o.d.ID, o.rec, models.DeliverySucceeded, nil); err != nil {
		// The receiver has it; failing here would send it again. Say so and move on:
		// at-least-once allows the repeat, but there is no need to cause one.
		a.logger.WarnContext(ctx, "record successful attempt", "delivery_id", o.d.ID, "error", err)
	}
	a.metrics.Delivered(a.now().Sub(o.ev.CreatedAt))
	// A success resets the failure clock. A healthy endpoint (as loaded just
	// before sending) has no clock to reset, which spares a write per delivery;
	// a failure recorded since then is cleared by the next success.
	if o.ep.FailingSince != nil {
		if _, err := a.store.SetEndpointHealth(ctx, o.d.WorkspaceID, o.ep.ID, true, o.start); err != nil {
			a.logger.WarnContext(ctx, "record endpoint health", "endpoint_id", o.ep.ID, "error", err)
		}
	}
	return workflows.DeliverResult{Attempt: o.attempt, StatusCode: o.resp.Status}
}

// failedForGood records the answers that retrying cannot change (blocked, 410,
// abort-message, a final 4xx); done is false for the others.
func (a *Activities) failedForGood(ctx context.Context, o attemptOutcome) (done bool, err error) {
	d, rec, status := o.d, o.rec, o.resp.Status
	switch {
	case errors.Is(o.err, netguard.ErrBlocked):
		rec.Outcome = models.AttemptBlocked
		return true, a.fail(ctx, d, rec, "destination blocked: %v", o.err)
	case o.err == nil && status == http.StatusGone:
		rec.Outcome = models.AttemptFailed
		if err := a.disable(ctx, o.ep, "endpoint answered 410 Gone", "gone:"+d.ID, o.start); err != nil {
			return true, err
		}
		return true, a.fail(ctx, d, rec, "HTTP 410 Gone: endpoint disabled")
	case o.err == nil && o.resp.Abort:
		// The receiver asked, with webhook-delivery: abort-message, to stop retrying.
		rec.Outcome = models.AttemptFailed
		return true, a.fail(ctx, d, rec, "HTTP %d; the receiver asked to abort this message", status)
	case o.err == nil && dispatch.IsFinalStatus(status):
		rec.Outcome = models.AttemptFailed
		return true, a.fail(ctx, d, rec, "HTTP %d", status)
	}
	return false, nil
}

// retryLater handles a retryable failure (a network error, a timeout, 408/425/429
// or 5xx, or a 3xx: redirects are not followed): it disables an endpoint failing
// for too long, gives up past the schedule, or records the attempt and returns the
// error that tells Temporal when to try again.
func (a *Activities) retryLater(ctx context.Context, o attemptOutcome) error {
	d, ep, rec, start := o.d, o.ep, o.rec, o.start
	reason := describe(o.resp.Status, o.err)
	since, err := a.store.SetEndpointHealth(ctx, d.WorkspaceID, ep.ID, false, start)
	if err != nil {
		a.logger.WarnContext(ctx, "record endpoint health", "endpoint_id", ep.ID, "error", err)
	}
	if since != nil && start.Sub(*since) >= a.disableAfter {
		why := fmt.Sprintf("failing continuously since %s (last: %s)", since.Format(time.RFC3339), reason)
		if err := a.disable(ctx, ep, why, "failing:"+since.Format(time.RFC3339Nano), start); err != nil {
			return err
		}
		rec.Outcome = models.AttemptFailed
		return a.fail(ctx, d, rec, "%s; endpoint disabled after failing for %s", reason, a.disableAfter)
	}
	delay, ok := a.policy.Next(o.attempt, o.resp.RetryAfter)
	if !ok {
		rec.Outcome = models.AttemptFailed
		return a.fail(ctx, d, rec, "%s; gave up after %d attempts", reason, o.attempt)
	}
	// The delay runs from the end of the attempt, as Temporal's own retry delay
	// runs from the failure it is told of.
	next := o.end.Add(delay)
	rec.Outcome = models.AttemptRetrying
	if err := a.store.RecordAttempt(ctx, d.ID, rec, models.DeliveryPending, &next); err != nil {
		return fmt.Errorf("record attempt of %s: %w", d.ID, err)
	}
	return workflows.RetryLater(workflows.ErrTypeDeliveryRetry,
		fmt.Sprintf("attempt %d: %s; next attempt in %s", o.attempt, reason, delay.Round(time.Millisecond)), delay, next)
}

// disable turns the endpoint off with a reason and emits endpoint.disabled (once per
// key: a retried activity does not emit twice) so an automation can tell someone.
// The event goes first: if disabling then fails, the retried activity emits again
// under the same dedup key (a no-op) and disables; the other order could disable
// without ever telling anyone.
func (a *Activities) disable(ctx context.Context, ep *models.Endpoint, reason, key string, at time.Time) error {
	if a.events != nil {
		data, _ := json.Marshal(map[string]any{"endpoint_id": ep.ID, "url": ep.URL, "reason": reason, "disabled_at": at.UTC().Format(time.RFC3339)})
		ev := models.Event{ID: ids.New(ids.Event), WorkspaceID: ep.WorkspaceID, Type: "endpoint.disabled", Data: data,
			DedupKey: ingest.EndpointDisabledKey(ep.ID, key), CreatedAt: at}
		// No store: the workflow ID alone deduplicates this event, as the retried
		// activity runs well within Temporal's retention.
		if _, err := ingest.New(nil, a.events, ingest.Config{}).Take(ctx, ingest.Request{Event: ev}); err != nil {
			return fmt.Errorf("emit endpoint.disabled for %s: %w", ep.ID, err)
		}
	}
	if err := a.store.DisableEndpoint(ctx, ep.WorkspaceID, ep.ID, reason, at); err != nil {
		return fmt.Errorf("disable endpoint %s: %w", ep.ID, err)
	}
	why, _, _ := strings.Cut(key, ":")
	a.metrics.EndpointDisabled(why)
	return nil
}

// fail records a final failed attempt and returns the non-retryable error.
func (a *Activities) fail(ctx context.Context, d *models.Delivery, rec *models.Attempt, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if rec.Error == "" {
		rec.Error = msg
	}
	if err := a.store.RecordAttempt(ctx, d.ID, rec, models.DeliveryFailed, nil); err != nil {
		return fmt.Errorf("record attempt of %s: %w", d.ID, err)
	}
	return temporal.NewNonRetryableApplicationError(msg, workflows.ErrTypeDeliveryFinal, nil)
}

// endWithout ends a delivery that cannot be attempted at all.
func (a *Activities) endWithout(ctx context.Context, d *models.Delivery, reason string) error {
	if err := a.store.SetDeliveryStatus(ctx, d.ID, models.DeliveryFailed, reason); err != nil {
		return fmt.Errorf("mark delivery %s failed: %w", d.ID, err)
	}
	return temporal.NewNonRetryableApplicationError(reason, workflows.ErrTypeDeliveryFinal, nil)
}

func final(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), workflows.ErrTypeDeliveryFinal, nil)
}

func describe(status int, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("HTTP %d", status)
}

// pace holds the attempt until the endpoint's next send slot, shared by every worker
// through the database. A slot within maxPaceWait is taken and waited for here; a
// later one returns a paced error whose NextRetryDelay brings the attempt back
// near its turn. Either way nothing is dropped.
func (a *Activities) pace(ctx context.Context, ep *models.Endpoint) error {
	interval := time.Second / time.Duration(ep.RateLimitPerSecond)
	wait, reserved, err := a.store.ReserveSendSlot(ctx, ep.ID, interval, maxPaceWait, a.now())
	if err != nil {
		return fmt.Errorf("pace delivery to %s: %w", ep.ID, err)
	}
	if !reserved {
		delay := max(a.policy.Jitter(wait-maxPaceWait/2), 50*time.Millisecond)
		return workflows.RetryLater(workflows.ErrTypeDeliveryPaced,
			fmt.Sprintf("paced: %s takes %d deliveries a second; next free slot in %s", ep.ID, ep.RateLimitPerSecond, wait.Round(time.Millisecond)),
			delay, a.now().Add(delay))
	}
	return attempt.Sleep(ctx, wait)
}
