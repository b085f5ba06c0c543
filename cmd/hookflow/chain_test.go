package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/config"
	"github.com/hookflow/hookflow/models"
)

func withChainLimits(events int, maxEventBytes int64) stackOption {
	return func(c *config.Config) { c.MaxChainEvents, c.MaxEventBytes = events, maxEventBytes }
}

// settledEvents lists the workspace's events of one type once there are at least
// want of them and their number has then held still for a while (the chain has
// stopped: one more would be a failure the caller reports). Waiting for want first
// keeps a slow machine's pause from passing for the end of the chain.
func (s *stack) settledEvents(eventType string, want int, timeout time.Duration) []models.Event {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	last, stillSince := -1, time.Now()
	for {
		var page struct{ Data []models.Event }
		s.do("GET", "/v1/events?limit=250", nil, &page)
		var out []models.Event
		for _, ev := range page.Data {
			if ev.Type == eventType {
				out = append(out, ev)
			}
		}
		switch {
		case len(out) != last:
			last, stillSince = len(out), time.Now()
		case len(out) >= want && time.Since(stillSince) > 3*time.Second:
			return out
		}
		if time.Now().After(deadline) {
			s.t.Errorf("events of %s after %s: %d, want %d and then no more", eventType, timeout, len(out), want)
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestChainBudget: an automation with two emit steps that re-emit its own trigger
// (issue 13: one POST made 511 events in 25 s) causes exactly the chain's budget,
// every caused event carrying the root, and the runs past it fail saying why.
// An emitted event over the size limit is refused too.
func TestChainBudget(t *testing.T) {
	s := newStack(t, withChainLimits(20, 4096))
	a := s.createAutomation(`{"name":"fan","trigger":{"event_type":"fan.tick"},"steps":[
		{"id":"one","action":"event.emit","params":{"type":"fan.tick","data":{}}},
		{"id":"two","action":"event.emit","params":{"type":"fan.tick","data":{}}}]}`)
	root := s.sendEvent(map[string]any{"type": "fan.tick"})
	evs := s.settledEvents("fan.tick", 1+20, 3*time.Minute)
	if len(evs) != 1+20 {
		t.Errorf("%d events, want the root and the budget of 20", len(evs))
	}
	for _, ev := range evs {
		if ev.ID != root.ID && ev.RootID != root.ID {
			t.Errorf("event %s at depth %d has root %q, want %s", ev.ID, ev.Depth, ev.RootID, root.ID)
		}
	}
	var runs struct{ Data []models.AutomationRun }
	s.do("GET", "/v1/automations/"+a.ID+"/runs?limit=250", nil, &runs)
	spent := 0
	for _, r := range runs.Data {
		if r.Status == models.RunFailed && strings.Contains(r.Error, "HOOKFLOW_MAX_CHAIN_EVENTS") {
			spent++
		}
	}
	if spent == 0 {
		t.Errorf("no run failed naming the chain budget among %d runs", len(runs.Data))
	}

	big := s.createAutomation(`{"name":"big","trigger":{"event_type":"big.in"},"steps":[
		{"id":"out","action":"event.emit","params":{"type":"big.out","data":{"s":{"$expr":"event.data.s + event.data.s"}}}}]}`)
	ev := s.sendEvent(map[string]any{"type": "big.in", "data": map[string]any{"s": strings.Repeat("x", 3000)}})
	r := s.waitRuns(ev.ID, 1, 30*time.Second)[0]
	if r.Status != models.RunFailed || !strings.Contains(r.Error, "HOOKFLOW_MAX_EVENT_BYTES") {
		t.Errorf("run of %s: %s %q, want failed naming HOOKFLOW_MAX_EVENT_BYTES", big.ID, r.Status, r.Error)
	}
}

// TestChainThroughOwnHooks: an endpoint, or a webhook.post step, aimed at the
// workspace's own /hooks URL (issue 13: each hop entered at depth 0 and looped for
// ever) keeps the chain's depth through the signed chain header, and the hop past
// the depth limit is refused with a 400 that ends the delivery.
func TestChainThroughOwnHooks(t *testing.T) {
	s := newStack(t)
	src := s.createSource(`{"name":"self","verification":{"scheme":"none"},"event_type":{"value":"loop.hook"}}`)
	s.createEndpoint(s.api.URL+"/hooks/"+src.ID, "loop.hook")
	root := s.sendEvent(map[string]any{"type": "loop.hook"})
	evs := s.settledEvents("loop.hook", models.MaxChainDepth+1, 3*time.Minute)
	if len(evs) != models.MaxChainDepth+1 {
		t.Errorf("%d events, want depths 0 to %d", len(evs), models.MaxChainDepth)
	}
	deepest := evs[0]
	for _, ev := range evs {
		if ev.ID != root.ID && ev.RootID != root.ID {
			t.Errorf("event %s has root %q, want %s", ev.ID, ev.RootID, root.ID)
		}
		if ev.Depth > deepest.Depth {
			deepest = ev
		}
		if _, ok := ev.Headers["hookflow-chain"]; ok {
			t.Errorf("event %s kept the chain header", ev.ID)
		}
	}
	ds := s.waitDeliveries(deepest.ID, 1, 30*time.Second)
	if ds[0].Status != models.DeliveryFailed || !strings.Contains(ds[0].LastError, "400") {
		t.Errorf("delivery past the limit: %s %q, want failed with the 400", ds[0].Status, ds[0].LastError)
	}

	// A forged or absent header starts a chain of its own; it cannot join another's.
	code, e, _ := s.ring("POST", src.ID, "application/json", `{}`, http.Header{"Hookflow-Chain": {"v1," + root.ID + ",7,forged"}})
	if code != http.StatusAccepted {
		t.Errorf("forged chain header: %d %+v, want accepted as a fresh chain", code, e)
	}

	// The same loop through a webhook.post step.
	src2 := s.createSource(`{"name":"self2","verification":{"scheme":"none"},"event_type":{"value":"loop.step"}}`)
	s.createAutomation(`{"name":"loop","trigger":{"event_type":"loop.step"},"steps":[
		{"id":"post","action":"webhook.post","params":{"url":"` + s.api.URL + `/hooks/` + src2.ID + `","headers":{"Hookflow-Chain":"v1,x,0,forged"}}}]}`)
	s.sendEvent(map[string]any{"type": "loop.step"})
	if evs := s.settledEvents("loop.step", models.MaxChainDepth+1, 3*time.Minute); len(evs) != models.MaxChainDepth+1 {
		t.Errorf("webhook.post loop: %d events, want depths 0 to %d", len(evs), models.MaxChainDepth)
	}
}
