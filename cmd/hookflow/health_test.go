package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/config"
	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
)

func withDisableAfter(d time.Duration) stackOption {
	return func(c *config.Config) { c.DisableAfter = d }
}

// TestEndpointHealth, on a scaled clock (disable after 1.5 s): an endpoint failing
// continuously is disabled and endpoint.disabled is emitted; one that fails and
// succeeds in turn never is; recover re-sends what failed, same webhook-ids.
func TestEndpointHealth(t *testing.T) {
	s := newStack(t, withSchedule("0s,400ms,400ms,400ms,400ms,400ms,400ms"), withDisableAfter(1500*time.Millisecond))
	down := testenv.NewReceiver(t, 503)
	flaky := testenv.NewReceiver(t, 503, 200, 503, 200, 503, 200, 503, 200, 503, 200, 503, 200, 503, 200, 503, 200)
	epDown := s.createEndpoint(down.URL, "order.placed")
	epFlaky := s.createEndpoint(flaky.URL, "invoice.paid")
	start := time.Now().Add(-time.Second)

	ev := s.sendEvent(map[string]any{"type": "order.placed"})
	for i := 0; i < 8; i++ { // ~3 s of alternating answers
		s.sendEvent(map[string]any{"type": "invoice.paid"})
		time.Sleep(400 * time.Millisecond)
	}
	ds := s.waitDeliveries(ev.ID, 1, 30*time.Second)
	if ds[0].Status != models.DeliveryFailed {
		t.Fatalf("delivery to the dead endpoint: %s", ds[0].Status)
	}
	var got models.Endpoint
	s.do("GET", "/v1/endpoints/"+epDown.ID, nil, &got)
	if got.Enabled || got.DisabledReason == "" {
		t.Errorf("dead endpoint enabled=%v reason=%q, want disabled with a reason", got.Enabled, got.DisabledReason)
	}
	s.do("GET", "/v1/endpoints/"+epFlaky.ID, nil, &got)
	if !got.Enabled {
		t.Errorf("intermittently failing endpoint was disabled: %q", got.DisabledReason)
	}
	found := testenv.Until(10*time.Second, func() bool {
		var evs struct{ Data []models.Event }
		s.do("GET", "/v1/events?limit=250", nil, &evs)
		for _, e := range evs.Data {
			if e.Type == "endpoint.disabled" && strings.Contains(string(e.Data), epDown.ID) {
				return true
			}
		}
		return false
	})
	if !found {
		t.Error("no endpoint.disabled event for the dead endpoint")
	}

	// Fixed: re-enable and recover what failed since the start.
	down.SetCodes(200)
	if code := s.do("PATCH", "/v1/endpoints/"+epDown.ID, `{"enabled":true}`, nil); code != 200 {
		t.Fatalf("re-enable: %d", code)
	}
	var rec struct{ Recovered int }
	if code := s.do("POST", "/v1/endpoints/"+epDown.ID+"/recover", fmt.Sprintf(`{"since":%q}`, start.UTC().Format(time.RFC3339)), &rec); code != http.StatusAccepted || rec.Recovered != 1 {
		t.Fatalf("recover: %d %+v, want 202 and 1", code, rec)
	}
	ds = s.waitDeliveries(ev.ID, 1, 20*time.Second)
	if ds[0].Status != models.DeliverySucceeded {
		t.Errorf("recovered delivery %s", ds[0].Status)
	}
	reqs := down.Requests()
	if last := reqs[len(reqs)-1]; last.Header.Get("webhook-id") != ev.ID {
		t.Errorf("recovered with webhook-id %q, want %q", last.Header.Get("webhook-id"), ev.ID)
	}
}

// TestAbortMessage: a receiver answering with webhook-delivery: abort-message stops
// the retries of that message.
func TestAbortMessage(t *testing.T) {
	s := newStack(t)
	rcv := testenv.NewReceiver(t)
	rcv.SetAnswer(func(testenv.Request) testenv.Reply {
		return testenv.Reply{Code: http.StatusServiceUnavailable, Header: http.Header{"Webhook-Delivery": {"abort-message"}}}
	})
	s.createEndpoint(rcv.URL)
	ev := s.sendEvent(map[string]any{"type": "order.placed"})
	ds := s.waitDeliveries(ev.ID, 1, 20*time.Second)
	time.Sleep(time.Second)
	if n := len(rcv.Requests()); ds[0].Status != models.DeliveryFailed || n != 1 {
		t.Errorf("delivery %s after %d requests, want failed after 1", ds[0].Status, n)
	}
}
