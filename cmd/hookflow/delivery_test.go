package main

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/signing"
	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// TestSignedDeliveryVerifiesAtReceiver: an event posted over the API reaches the
// subscribed endpoint with Standard Webhooks headers that verify with the endpoint's
// secret, and the API shows the delivery and its attempt.
func TestSignedDeliveryVerifiesAtReceiver(t *testing.T) {
	s := newStack(t)
	rcv := testenv.NewReceiver(t, 200)
	other := testenv.NewReceiver(t, 200)
	ep := s.createEndpoint(rcv.URL+"/hook", "review.created")
	s.createEndpoint(other.URL, "order.placed") // not subscribed to review.created

	ev := s.sendEvent(map[string]any{"type": "review.created", "data": map[string]any{"rating": 5, "customer": map[string]any{"name": "Ann"}}})
	if !strings.HasPrefix(ev.ID, "evt_") || ev.Duplicate {
		t.Fatalf("accepted %+v, want a new evt_ id", ev)
	}
	ds := s.waitDeliveries(ev.ID, 1, 20*time.Second)
	if ds[0].Status != models.DeliverySucceeded || ds[0].EndpointID != ep.ID {
		t.Fatalf("delivery %+v, want succeeded to %s", ds[0], ep.ID)
	}
	reqs := rcv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if err := signing.Verify(ep.Secret, r.Header, r.Body, time.Now(), 5*time.Minute); err != nil {
		t.Errorf("signature does not verify at the receiver: %v", err)
	}
	if got := r.Header.Get("webhook-id"); got != ev.ID {
		t.Errorf("webhook-id = %q, want the event id %q", got, ev.ID)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if !strings.Contains(string(r.Body), `"type":"review.created"`) || !strings.Contains(string(r.Body), `"name":"Ann"`) {
		t.Errorf("body %s lacks the event", r.Body)
	}
	if n := len(other.Requests()); n != 0 {
		t.Errorf("unsubscribed endpoint got %d requests", n)
	}
	d := s.delivery(ds[0].ID)
	if len(d.Attempts) != 1 || d.Attempts[0].StatusCode != 200 || d.Attempts[0].Outcome != models.AttemptSucceeded {
		t.Errorf("attempts %+v, want one 200", d.Attempts)
	}
}

// TestRetriesThenSucceeds: a receiver that fails twice then succeeds gets the event
// on attempt 3, with 3 attempts recorded and one webhook-id throughout.
func TestRetriesThenSucceeds(t *testing.T) {
	s := newStack(t)
	rcv := testenv.NewReceiver(t, 500, 503, 200)
	ep := s.createEndpoint(rcv.URL)
	ev := s.sendEvent(map[string]any{"type": "order.placed", "data": map[string]any{"total": 12.5}})
	ds := s.waitDeliveries(ev.ID, 1, 30*time.Second)
	// The batch made the first attempt and handed the delivery on to a workflow
	// of its own, tagged with its endpoint, as ops look for failing deliveries.
	retryID := workflows.DeliveryWorkflowID(ds[0].ID)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.client.GetWorkflow(ctx, retryID, "").Get(ctx, nil); err != nil {
		t.Fatalf("delivery workflow %s: %v", retryID, err)
	}
	s.recordHistory(s.eventWorkflowID(ev.ID), "batch_first_attempt_retrying")
	s.recordHistory(retryID, "delivery_after_batch_retries_then_succeeds")
	s.waitListed(`HookflowEndpoint="`+ep.ID+`" AND HookflowEventType="order.placed"`, retryID)
	d := s.delivery(ds[0].ID)
	if d.Status != models.DeliverySucceeded || d.AttemptCount != 3 || len(d.Attempts) != 3 {
		t.Fatalf("delivery %s with %d attempts (%d listed), want succeeded on attempt 3", d.Status, d.AttemptCount, len(d.Attempts))
	}
	for i, want := range []int{500, 503, 200} {
		if a := d.Attempts[i]; a.Number != i+1 || a.StatusCode != want {
			t.Errorf("attempt %d: number %d status %d, want %d", i+1, a.Number, a.StatusCode, want)
		}
	}
	reqs := rcv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		if got := r.Header.Get("webhook-id"); got != ev.ID {
			t.Errorf("request %d webhook-id %q, want %q", i, got, ev.ID)
		}
	}
	// The schedule is 0s,200ms,400ms (±20 %): the gaps follow it.
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 150*time.Millisecond {
		t.Errorf("second attempt came %s after the first, want about 200ms", gap)
	}
}

// TestFinalFailures: a 400 fails after one attempt; a 410 also disables the endpoint.
func TestFinalFailures(t *testing.T) {
	s := newStack(t)
	for _, tt := range []struct {
		code         int
		wantDisabled bool
	}{{400, false}, {410, true}} {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			rcv := testenv.NewReceiver(t, tt.code)
			ep := s.createEndpoint(rcv.URL, "ping."+strconv.Itoa(tt.code))
			ev := s.sendEvent(map[string]any{"type": "ping." + strconv.Itoa(tt.code)})
			ds := s.waitDeliveries(ev.ID, 1, 20*time.Second)
			d := s.delivery(ds[0].ID)
			if d.Status != models.DeliveryFailed || len(d.Attempts) != 1 || d.Attempts[0].StatusCode != tt.code {
				t.Fatalf("delivery %s with attempts %+v, want failed after one %d", d.Status, d.Attempts, tt.code)
			}
			if n := len(rcv.Requests()); n != 1 {
				t.Errorf("receiver got %d requests, want 1", n)
			}
			var got models.Endpoint
			s.do("GET", "/v1/endpoints/"+ep.ID, nil, &got)
			if disabled := !got.Enabled; disabled != tt.wantDisabled {
				t.Errorf("endpoint disabled = %v (%q), want %v", disabled, got.DisabledReason, tt.wantDisabled)
			}
		})
	}
}

// TestDuplicateEventDeliversOnce: the same event id, and the same Idempotency-Key,
// give back the original id and cause one delivery.
func TestDuplicateEventDeliversOnce(t *testing.T) {
	s := newStack(t)
	rcv := testenv.NewReceiver(t, 200)
	s.createEndpoint(rcv.URL)

	first := s.sendEvent(map[string]any{"type": "order.placed", "id": "order-42", "data": map[string]any{}})
	second := s.sendEvent(map[string]any{"type": "order.placed", "id": "order-42", "data": map[string]any{}})
	if first.Duplicate || !second.Duplicate || second.ID != first.ID {
		t.Fatalf("first %+v, second %+v: want the second to be a duplicate of the first", first, second)
	}
	s.waitDeliveries(first.ID, 1, 20*time.Second)
	// After the first is recorded the store answers; still the same id.
	third := s.sendEvent(map[string]any{"type": "order.placed", "id": "order-42", "data": map[string]any{}})
	if !third.Duplicate || third.ID != first.ID {
		t.Errorf("third %+v, want duplicate of %s", third, first.ID)
	}

	var a, b accepted
	post := func(out *accepted) {
		req, _ := http.NewRequest("POST", s.api.URL+"/v1/events", strings.NewReader(`{"type":"order.placed","data":{"n":1}}`))
		req.Header.Set("Authorization", "Bearer "+s.key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "idem-7")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("status %d", resp.StatusCode)
		}
		decodeJSON(t, resp, out)
	}
	post(&a)
	post(&b)
	if b.ID != a.ID || !b.Duplicate {
		t.Errorf("Idempotency-Key: %+v then %+v, want the same id and duplicate", a, b)
	}
	s.waitDeliveries(a.ID, 1, 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	if n := len(rcv.Requests()); n != 2 {
		t.Errorf("receiver got %d requests, want 2 (one per distinct event)", n)
	}
}

// TestWorkerStoppedWhileDeliveryPending: the worker goes away while a delivery waits
// for its next attempt; when a worker comes back, the delivery completes.
func TestWorkerStoppedWhileDeliveryPending(t *testing.T) {
	s := newStack(t, withSchedule("0s,3s,3s"))
	rcv := testenv.NewReceiver(t, 503)
	s.createEndpoint(rcv.URL)
	ev := s.sendEvent(map[string]any{"type": "order.placed"})

	testenv.Eventually(t, 20*time.Second, func() bool { return len(rcv.Requests()) > 0 }, testenv.Msg("first attempt arrived"))
	s.stopWorker()
	rcv.SetCodes(200)
	time.Sleep(4 * time.Second) // the retry comes due while no worker is polling
	if n := len(rcv.Requests()); n != 1 {
		t.Fatalf("receiver got %d requests while the worker was down, want 1", n)
	}
	s.startWorker()
	ds := s.waitDeliveries(ev.ID, 1, 30*time.Second)
	if ds[0].Status != models.DeliverySucceeded {
		t.Fatalf("delivery %s, want succeeded after the worker came back", ds[0].Status)
	}
	for _, r := range rcv.Requests() {
		if r.Header.Get("webhook-id") != ev.ID {
			t.Errorf("webhook-id changed across the restart: %q", r.Header.Get("webhook-id"))
		}
	}
}

// TestManualRetryAndSearchAttributes: a failed delivery retried over the API runs
// again with the same webhook-id; the event's workflow is found by its search
// attributes, as ops would in the Web UI.
func TestManualRetryAndSearchAttributes(t *testing.T) {
	s := newStack(t)
	rcv := testenv.NewReceiver(t, 400)
	s.createEndpoint(rcv.URL)
	ev := s.sendEvent(map[string]any{"type": "invoice.paid"})
	ds := s.waitDeliveries(ev.ID, 1, 20*time.Second)
	if ds[0].Status != models.DeliveryFailed {
		t.Fatalf("delivery %s, want failed", ds[0].Status)
	}
	rcv.SetCodes(200)
	if code := s.do("POST", "/v1/deliveries/"+ds[0].ID+"/retry", nil, nil); code != http.StatusAccepted {
		t.Fatalf("retry: status %d", code)
	}
	ds = s.waitDeliveries(ev.ID, 1, 20*time.Second)
	wfID := s.eventWorkflowID(ev.ID)
	s.recordHistory(wfID, "batch_first_attempt_final_failure")
	// The retry's workflow is named by the delivery and its one attempt before the
	// retry; it is recorded once closed, so the saved history is a whole run.
	retryID := workflows.DeliveryRetryWorkflowID(ds[0].ID, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.client.GetWorkflow(ctx, retryID, "").Get(ctx, nil); err != nil {
		t.Fatalf("retry workflow %s: %v", retryID, err)
	}
	s.recordHistory(retryID, "delivery_retry_succeeds")
	d := s.delivery(ds[0].ID)
	if d.Status != models.DeliverySucceeded || len(d.Attempts) != 2 || d.Attempts[1].Number != 2 {
		t.Fatalf("after retry: %s with %d attempts, want succeeded with 2", d.Status, len(d.Attempts))
	}
	reqs := rcv.Requests()
	if len(reqs) != 2 || reqs[0].Header.Get("webhook-id") != reqs[1].Header.Get("webhook-id") {
		t.Errorf("retry did not keep the webhook-id: %d requests", len(reqs))
	}
	// A delivery that is still pending cannot be retried; a retried succeeded one can.
	if code := s.do("POST", "/v1/deliveries/del_nope/retry", nil, nil); code != http.StatusNotFound {
		t.Errorf("retry of unknown delivery: %d, want 404", code)
	}

	s.waitListed(`HookflowEventType="invoice.paid" AND HookflowWorkspace="`+models.DefaultWorkspaceID+`"`, wfID)
	// The API names the event's workflow, as the Web UI lists it.
	var detail eventDetail
	if s.do("GET", "/v1/events/"+ev.ID, nil, &detail); detail.WorkflowID != wfID {
		t.Errorf("GET /v1/events/%s: workflow_id %q, want %q", ev.ID, detail.WorkflowID, wfID)
	}
}

// TestRotateSecretSignsWithBoth: after a rotation the old secret keeps signing, so
// a receiver holding either one verifies the delivery.
func TestRotateSecretSignsWithBoth(t *testing.T) {
	s := newStack(t)
	rcv := testenv.NewReceiver(t, 200)
	ep := s.createEndpoint(rcv.URL)
	var rot struct {
		Secret            string    `json:"secret"`
		PreviousExpiresAt time.Time `json:"previous_expires_at"`
	}
	if code := s.do("POST", "/v1/endpoints/"+ep.ID+"/rotate-secret", nil, &rot); code != 200 || rot.Secret == ep.Secret {
		t.Fatalf("rotate: %d %+v", code, rot)
	}
	if d := time.Until(rot.PreviousExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("old secret expires in %s, want 24h", d)
	}
	ev := s.sendEvent(map[string]any{"type": "order.placed"})
	s.waitDeliveries(ev.ID, 1, 20*time.Second)
	r := rcv.Requests()[0]
	for _, secret := range []string{ep.Secret, rot.Secret} {
		if err := signing.Verify(secret, r.Header, r.Body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("does not verify with %s…: %v", secret[:10], err)
		}
	}
}

// TestEndpointPing: POST /v1/endpoints/{id}/test sends a signed hookflow.ping to
// that endpoint only.
func TestEndpointPing(t *testing.T) {
	s := newStack(t)
	target, other := testenv.NewReceiver(t, 200), testenv.NewReceiver(t, 200)
	ep := s.createEndpoint(target.URL, "order.placed")
	s.createEndpoint(other.URL, "*")
	var ping struct {
		EventID string `json:"event_id"`
	}
	if code := s.do("POST", "/v1/endpoints/"+ep.ID+"/test", nil, &ping); code != http.StatusAccepted || ping.EventID == "" {
		t.Fatalf("ping: %d %+v", code, ping)
	}
	s.waitDeliveries(ping.EventID, 1, 20*time.Second)
	reqs := target.Requests()
	if len(reqs) != 1 || !strings.Contains(string(reqs[0].Body), `"type":"hookflow.ping"`) {
		t.Fatalf("target got %d requests", len(reqs))
	}
	if err := signing.Verify(ep.Secret, reqs[0].Header, reqs[0].Body, time.Now(), 5*time.Minute); err != nil {
		t.Errorf("ping not signed: %v", err)
	}
	if n := len(other.Requests()); n != 0 {
		t.Errorf("the wildcard endpoint got %d pings, want none", n)
	}
}
