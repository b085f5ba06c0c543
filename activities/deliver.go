package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/temporal"

	"github.com/hookflow/hookflow/internal/chain"
	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/ingest"
	"github.com/hookflow/hookflow/internal/netguard"
	"github.com/hookflow/hookflow/internal/signing"
	"github.com/hookflow/hookflow/models"
)

// maxDueWait is how long an attempt that starts a little early waits in the activity
// rather than going back to Temporal.
const maxDueWait = 100 * time.Millisecond

// maxPaceWait is how long an attempt waits in the activity for its endpoint's next
// send slot; a slot further off sends the delivery back to Temporal to come back
// later (a durable timer, not a sleeping worker).
const maxPaceWait = 5 * time.Second

// DeliverInput names the delivery to attempt. Force sends even to a disabled
// endpoint (test pings); manual retries of a disabled endpoint's deliveries do not.
type DeliverInput struct {
	DeliveryID string
	Force      bool
	// BaseAttempts is how many attempts the delivery had before this run of it (a
	// manual retry starts the schedule over); the schedule counts the rest.
	BaseAttempts int `json:",omitempty"`
	// NotBefore, when set, is when the attempt is due (the schedule's delay after a
	// first attempt made as a local activity). An activity started earlier returns
	// ErrTypeDeliveryNotDue with the time left as its NextRetryDelay, so the wait is
	// Temporal's activity retry timer: one per delivery, and as precise as the
	// retries that follow it.
	NotBefore time.Time `json:",omitzero"`
}

// DeliverResult is what the successful attempt saw.
type DeliverResult struct {
	Attempt    int
	StatusCode int
}

// Payload is the JSON body of every delivery, in the shape the Standard Webhooks
// spec recommends.
type Payload struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// Jitter spreads a scheduled delay by ±20 % so that retries of many deliveries that
// failed together do not hit the receiver together again.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	f := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * f)
}

// Deliver makes one attempt of a delivery and records it. Temporal drives the retries:
// a retryable failure returns an error carrying the next delay from the schedule (or
// the receiver's Retry-After), so the schedule lives here and the workflow stays small.
func (a *Activities) Deliver(ctx context.Context, in DeliverInput) (DeliverResult, error) {
	defer a.keepAlive(ctx)()
	if !in.NotBefore.IsZero() {
		if err := a.due(ctx, in.NotBefore); err != nil {
			return DeliverResult{}, err
		}
	}
	d, ep, err := a.target(ctx, in.DeliveryID)
	if err != nil {
		return DeliverResult{}, err
	}
	// The attempt's number in this run of the schedule, from the attempts on record:
	// Temporal's own attempt counter also counts paced returns, which sent nothing.
	attempt := max(d.AttemptCount-in.BaseAttempts, 0) + 1
	if !ep.Enabled && !in.Force {
		return DeliverResult{}, a.endWithout(ctx, d, "endpoint is disabled: "+ep.DisabledReason)
	}
	ev, err := a.event(ctx, d.WorkspaceID, d.EventID)
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return DeliverResult{}, a.endWithout(ctx, d, "event was deleted")
		}
		return DeliverResult{}, fmt.Errorf("load event %s: %w", d.EventID, err)
	}
	if ep.RateLimitPerSecond > 0 && !in.Force {
		if err := a.pace(ctx, ep); err != nil {
			return DeliverResult{}, err
		}
	}
	body, err := json.Marshal(Payload{ID: ev.ID, Type: ev.Type, Timestamp: ev.CreatedAt.UTC().Format(time.RFC3339), Data: ev.Data})
	if err != nil {
		return DeliverResult{}, final("encode payload: %v", err)
	}

	start := a.now()
	link := a.chain.Sign(chain.Link{RootID: ev.Root(), Depth: ev.Depth})
	status, excerpt, retryAfter, abort, sendErr := a.send(ctx, ep, d.MessageID, start, body, link)
	end := a.now()
	rec := &models.Attempt{At: start, DurationMS: end.Sub(start).Milliseconds(), StatusCode: status, ResponseExcerpt: excerpt}
	if sendErr != nil {
		rec.Error = sendErr.Error()
	}
	defer func() {
		if rec.Outcome != "" {
			a.metrics.DeliveryAttempt(string(rec.Outcome), rec.StatusCode, time.Duration(rec.DurationMS)*time.Millisecond)
		}
	}()
	o := attemptOutcome{d: d, ep: ep, ev: ev, rec: rec, attempt: attempt, start: start, end: end,
		status: status, retryAfter: retryAfter, abort: abort, err: sendErr}
	if sendErr == nil && status >= 200 && status < 300 {
		return a.succeeded(ctx, o), nil
	}
	if done, err := a.failedForGood(ctx, o); done {
		return DeliverResult{}, err
	}
	return DeliverResult{}, a.retryLater(ctx, o)
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
	status     int
	retryAfter time.Duration
	abort      bool
	err        error
}

// succeeded records a 2xx and resets the endpoint's failure clock.
func (a *Activities) succeeded(ctx context.Context, o attemptOutcome) DeliverResult {
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
	return DeliverResult{Attempt: o.attempt, StatusCode: o.status}
}

// failedForGood records the answers that retrying cannot change (blocked, 410,
// abort-message, a final 4xx); done is false for the others.
func (a *Activities) failedForGood(ctx context.Context, o attemptOutcome) (done bool, err error) {
	d, rec, status := o.d, o.rec, o.status
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
	case o.err == nil && o.abort:
		// The receiver asked, with webhook-delivery: abort-message, to stop retrying.
		rec.Outcome = models.AttemptFailed
		return true, a.fail(ctx, d, rec, "HTTP %d; the receiver asked to abort this message", status)
	case o.err == nil && isFinalStatus(status):
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
	reason := describe(o.status, o.err)
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
	if o.attempt >= len(a.schedule) {
		rec.Outcome = models.AttemptFailed
		return a.fail(ctx, d, rec, "%s; gave up after %d attempts", reason, o.attempt)
	}
	delay := a.jitter(a.schedule[o.attempt])
	if o.retryAfter > 0 {
		delay = max(delay, min(o.retryAfter, a.maxRetryAfter))
	}
	if delay <= 0 {
		// Zero would mean "use the retry policy's interval" to Temporal.
		delay = time.Millisecond
	}
	// The delay runs from the end of the attempt, as Temporal's own retry delay
	// runs from the failure it is told of.
	next := o.end.Add(delay)
	rec.Outcome = models.AttemptRetrying
	if err := a.store.RecordAttempt(ctx, d.ID, rec, models.DeliveryPending, &next); err != nil {
		return fmt.Errorf("record attempt of %s: %w", d.ID, err)
	}
	return temporal.NewApplicationErrorWithOptions(
		fmt.Sprintf("attempt %d: %s; next attempt in %s", o.attempt, reason, delay.Round(time.Millisecond)),
		ErrTypeDeliveryRetry,
		temporal.ApplicationErrorOptions{NextRetryDelay: delay, Details: []any{RetryDue{At: next}}},
	)
}

// RetryDue, the details of a retryable attempt failure, is when the next attempt
// is due by the attempt's own clock. A first attempt made as a local activity may
// run well after the workflow task began, so the workflow's clock is no base for
// the delay; this is.
type RetryDue struct {
	At time.Time
}

// send makes the signed POST. It returns the status, an excerpt of the answer and
// the Retry-After the receiver asked for.
// link is the signed chain header: a receiver that is hookflow's own /hooks keeps
// the chain's depth and budget.
func (a *Activities) send(ctx context.Context, ep *models.Endpoint, msgID string, at time.Time, body []byte, link string) (int, string, time.Duration, bool, error) {
	headers, err := signing.Headers(models.ActiveSecrets(ep.Secrets, at), msgID, at, body)
	if err != nil {
		return 0, "", 0, false, fmt.Errorf("sign: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, "", 0, false, fmt.Errorf("build request: %w", err)
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hookflow/1")
	if link != "" {
		req.Header.Set(chain.Header, link)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, "", 0, false, err
	}
	defer resp.Body.Close()
	// Read at most the excerpt: a hostile receiver cannot make us hold more.
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxResponseExcerpt))
	excerpt := strings.ToValidUTF8(string(raw), string(utf8.RuneError))
	if readErr != nil && excerpt == "" {
		excerpt = "(reading the response failed: " + readErr.Error() + ")"
	}
	abort := strings.EqualFold(strings.TrimSpace(resp.Header.Get("webhook-delivery")), "abort-message")
	return resp.StatusCode, excerpt, parseRetryAfter(resp.Header.Get("Retry-After"), at), abort, nil
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
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeDeliveryFinal, nil)
}

// endWithout ends a delivery that cannot be attempted at all.
func (a *Activities) endWithout(ctx context.Context, d *models.Delivery, reason string) error {
	if err := a.store.SetDeliveryStatus(ctx, d.ID, models.DeliveryFailed, reason); err != nil {
		return fmt.Errorf("mark delivery %s failed: %w", d.ID, err)
	}
	return temporal.NewNonRetryableApplicationError(reason, ErrTypeDeliveryFinal, nil)
}

func final(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrTypeDeliveryFinal, nil)
}

// isFinalStatus: a 4xx says the request itself is wrong, so repeating it is
// pointless — except 408 (timeout), 425 (too early) and 429 (slow down).
func isFinalStatus(code int) bool {
	if code < 400 || code >= 500 {
		return false
	}
	switch code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return false
	}
	return true
}

func describe(status int, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("HTTP %d", status)
}

// parseRetryAfter reads delay-seconds or an HTTP date; anything else is ignored.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs <= 0 {
			return 0
		}
		// Clamp before multiplying so a silly value cannot overflow.
		return time.Duration(min(secs, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
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
		delay := max(a.jitter(wait-maxPaceWait/2), 50*time.Millisecond)
		return temporal.NewApplicationErrorWithOptions(
			fmt.Sprintf("paced: %s takes %d deliveries a second; next free slot in %s", ep.ID, ep.RateLimitPerSecond, wait.Round(time.Millisecond)),
			ErrTypeDeliveryPaced,
			temporal.ApplicationErrorOptions{NextRetryDelay: delay, Details: []any{RetryDue{At: a.now().Add(delay)}}},
		)
	}
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// due returns once notBefore has come, waiting here for at most maxDueWait; an
// attempt further from its time goes back to Temporal until then.
func (a *Activities) due(ctx context.Context, notBefore time.Time) error {
	wait := notBefore.Sub(a.now())
	if wait <= 0 {
		return nil
	}
	if wait > maxDueWait {
		return temporal.NewApplicationErrorWithOptions(
			fmt.Sprintf("not due yet: the attempt is scheduled for %s", notBefore.UTC().Format(time.RFC3339Nano)),
			ErrTypeDeliveryNotDue,
			temporal.ApplicationErrorOptions{NextRetryDelay: wait},
		)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
