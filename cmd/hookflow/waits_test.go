package main

import (
	"fmt"
	"slices"

	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
)

func order(typ, id string) map[string]any {
	return map[string]any{"type": typ, "data": map[string]any{"order_id": id}}
}

// TestAbandonedCart: order.created → wait 2 s for payment.succeeded with the
// same order id → if none came, tell Slack. The paid order tells nobody; the
// unpaid one and the one whose payment was for another order do.
func TestAbandonedCart(t *testing.T) {
	s := newStack(t)
	slack := testenv.NewSlackReceiver(t, 200)
	au := s.createAutomation(`{"name":"abandoned cart","trigger":{"event_type":"order.created"},"steps":[
	 {"id":"paid","action":"wait_for_event","params":{"event_type":"payment.succeeded","match":"data.order_id","timeout":"2s"}},
	 {"id":"nudge","action":"slack.post","if":"!steps.paid.matched","params":{"webhook_url":"` + slack.URL + `","text":"cart {{ .event.data.order_id }} abandoned"}}]}`)
	// The dry run says what the wait would wait for.
	var dry struct {
		Steps []struct {
			WaitsFor *struct {
				EventType string `json:"event_type"`
				Value     any    `json:"value"`
				Timeout   string `json:"timeout"`
			} `json:"waits_for"`
		} `json:"steps"`
	}
	s.do("POST", "/v1/automations/"+au.ID+"/test", `{"event":{"type":"order.created","data":{"order_id":"o-9"}}}`, &dry)
	if len(dry.Steps) != 2 || dry.Steps[0].WaitsFor == nil || dry.Steps[0].WaitsFor.Value != "o-9" ||
		dry.Steps[0].WaitsFor.EventType != "payment.succeeded" || dry.Steps[0].WaitsFor.Timeout != "2s" {
		t.Errorf("dry run: %+v", dry)
	}
	paid := s.sendEvent(order("order.created", "cart-paid"))
	unpaid := s.sendEvent(order("order.created", "cart-unpaid"))
	other := s.sendEvent(order("order.created", "cart-other"))

	// While they wait, the steps say so.
	testenv.Eventually(t, 10*time.Second, func() bool {
		r := s.waitingRun(paid.ID)
		return r != nil && r.Steps[0].Status == models.RunWaiting
	}, func() string { return "paid order's run waiting" })
	// Pay at once (the wait is 2 s), then look at what the others show.
	pay := order("payment.succeeded", "cart-paid")
	pay["id"] = "pay-cart-paid"
	s.sendEvent(pay)
	if dup := s.sendEvent(pay); !dup.Duplicate { // resumes nothing a second time
		t.Errorf("the payment again: %+v, want a duplicate", dup)
	}
	s.sendEvent(order("payment.succeeded", "cart-nobody-ordered"))
	var r *models.AutomationRun
	testenv.Eventually(t, 10*time.Second, func() bool {
		r = s.waitingRun(unpaid.ID)
		return r != nil && r.Steps[0].Status == models.RunWaiting
	}, func() string { return fmt.Sprintf("unpaid cart's run waiting: %+v", r) })
	if st := r.Steps[0]; !strings.Contains(st.WaitingFor, `payment.succeeded where data.order_id = "cart-unpaid"`) || st.Until == nil {
		t.Errorf("waiting step says %q until %v", st.WaitingFor, st.Until)
	}
	s.waitListed(`HookflowWaitingOn = "payment.succeeded"`, r.WorkflowID)

	runs := map[string]models.AutomationRun{}
	for name, ev := range map[string]accepted{"paid": paid, "unpaid": unpaid, "other": other} {
		runs[name] = s.waitRuns(ev.ID, 1, 30*time.Second)[0]
	}
	for name, r := range runs {
		if r.Status != models.RunSucceeded {
			t.Errorf("%s run %s: %+v", name, r.Status, r.Steps)
		}
	}
	if st := runs["paid"].Steps; string(st[0].Output) == "" || !strings.Contains(string(st[0].Output), `"matched":true`) ||
		!strings.Contains(string(st[0].Output), `"cart-paid"`) || st[1].Status != models.RunSkipped {
		t.Errorf("paid run steps %+v, want matched with the payment, nudge skipped", st)
	}
	if st := runs["unpaid"].Steps; string(st[0].Output) != `{"matched":false}` || st[1].Status != models.RunSucceeded {
		t.Errorf("unpaid run steps %+v, want not matched, nudge sent", st)
	}
	got := texts(slack)
	slices.Sort(got)
	if want := []string{"cart cart-other abandoned", "cart cart-unpaid abandoned"}; !slices.Equal(got, want) {
		t.Errorf("slack got %q, want %q", got, want)
	}
	s.recordHistory(runs["paid"].WorkflowID, "run_wait_for_event_matched")
	s.recordHistory(runs["unpaid"].WorkflowID, "run_wait_for_event_timed_out")
}

// waitingRun is the one run of event id, or nil.
func (s *stack) waitingRun(id string) *models.AutomationRun {
	var ev struct {
		Runs []models.AutomationRun `json:"runs"`
	}
	s.do("GET", "/v1/events/"+id, nil, &ev)
	if len(ev.Runs) != 1 {
		return nil
	}
	return &ev.Runs[0]
}

// TestCancelOn: a run in a 5 s delay is cancelled by order.cancelled for its
// order, not by one for another order, and ends cancelled; another order's run
// finishes.
func TestCancelOn(t *testing.T) {
	s := newStack(t)
	slack := testenv.NewSlackReceiver(t, 200)
	s.createAutomation(`{"name":"ship unless cancelled","trigger":{"event_type":"order.created"},
	 "cancel_on":[{"event_type":"order.cancelled","match":"data.order_id"}],"steps":[
	 {"id":"cool_off","action":"delay","params":{"duration":"5s"}},
	 {"id":"ship","action":"slack.post","params":{"webhook_url":"` + slack.URL + `","text":"ship {{ .event.data.order_id }}"}}]}`)
	kept := s.sendEvent(order("order.created", "ord-kept"))
	gone := s.sendEvent(order("order.created", "ord-gone"))
	testenv.Eventually(t, 10*time.Second, func() bool {
		r := s.waitingRun(gone.ID)
		return r != nil && r.Status == models.RunRunning
	}, func() string { return "run delaying" })
	s.sendEvent(order("order.cancelled", "ord-someone-else"))
	time.Sleep(300 * time.Millisecond)
	if r := s.waitingRun(gone.ID); r.Status != models.RunRunning {
		t.Fatalf("another order's cancellation ended the run: %s %s", r.Status, r.Reason)
	}
	cancel := s.sendEvent(order("order.cancelled", "ord-gone"))
	r := s.waitRuns(gone.ID, 1, 10*time.Second)[0]
	if r.Status != models.RunCancelled || !strings.Contains(r.Reason, cancel.ID) {
		t.Errorf("cancelled run: %s %q, want cancelled by %s", r.Status, r.Reason, cancel.ID)
	}
	if r.FinishedAt == nil || r.FinishedAt.Sub(r.CreatedAt) > 4*time.Second {
		t.Errorf("cancelled run finished at %v (created %v): not while it delayed", r.FinishedAt, r.CreatedAt)
	}
	for _, st := range r.Steps {
		if st.ID == "ship" && st.Status != models.RunCancelled {
			t.Errorf("step ship %s, want cancelled", st.Status)
		}
	}
	k := s.waitRuns(kept.ID, 1, 20*time.Second)[0]
	if k.Status != models.RunSucceeded {
		t.Errorf("kept order's run %s: %+v", k.Status, k.Steps)
	}
	if got := texts(slack); !slices.Equal(got, []string{"ship ord-kept"}) {
		t.Errorf("slack got %q, want only the kept order shipped", got)
	}
	s.recordHistory(r.WorkflowID, "run_cancelled_in_delay")
	if n := counterValue(t, s, "hookflow_waits_taken_total", "cancel"); n < 1 {
		t.Errorf("hookflow_waits_taken_total{kind=cancel} = %v, want ≥ 1", n)
	}
}

// counterValue is a labelled counter's value in the stack's registry (0 when
// it has no such series).
func counterValue(t *testing.T, s *stack, name, label string) float64 {
	t.Helper()
	mfs, err := s.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if mf.GetName() == name && l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
