package main

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// runsOf lists an automation's runs once n of them have finished.
func (s *stack) runsOf(automationID string, n int, timeout time.Duration) []models.AutomationRun {
	s.t.Helper()
	var page struct{ Data []models.AutomationRun }
	testenv.Eventually(s.t, timeout, func() bool {
		page.Data = nil
		s.do("GET", "/v1/automations/"+automationID+"/runs?limit=100", nil, &page)
		done := 0
		for _, r := range page.Data {
			if finished(r.Status) {
				done++
			}
		}
		return done >= n
	}, func() string {
		return fmt.Sprintf("automation %s: %d runs finished (have %+v)", automationID, n, page.Data)
	})
	return page.Data
}

// TestCountTrigger: ten likes of review A and nine of review B start exactly
// one run, for A, carrying the tenth like and the count; a like sent twice
// counts once.
func TestCountTrigger(t *testing.T) {
	s := newStack(t)
	au := s.createAutomation(`{"name":"popular review","trigger":{"event_type":"review.liked",
	  "count":{"key":"event.data.review_id","threshold":10,"within":"7d"}},"steps":[
	  {"id":"tell","action":"event.emit","params":{"type":"review.popular","data":{"review_id":"{{ .event.data.review_id }}"}}}]}`)
	like := func(review string, i int) accepted {
		return s.sendEvent(map[string]any{"type": "review.liked", "id": fmt.Sprintf("cnt-%s-%d", review, i),
			"data": map[string]any{"review_id": review, "n": i}})
	}
	for i := 1; i <= 9; i++ {
		like("B", i)
		like("A", i)
	}
	if dup := like("A", 9); !dup.Duplicate {
		t.Fatalf("the same like again was not a duplicate: %+v", dup)
	}
	time.Sleep(500 * time.Millisecond)
	var page struct{ Data []models.AutomationRun }
	s.do("GET", "/v1/automations/"+au.ID+"/runs", nil, &page)
	if len(page.Data) != 0 {
		t.Fatalf("runs before the 10th like: %+v", page.Data)
	}
	tenth := like("A", 10)
	runs := s.runsOf(au.ID, 1, 20*time.Second)
	time.Sleep(time.Second) // no second run may come
	s.do("GET", "/v1/automations/"+au.ID+"/runs", nil, &page)
	if len(page.Data) != 1 {
		t.Fatalf("%d runs, want exactly one: %+v", len(page.Data), page.Data)
	}
	r := runs[0]
	if r.EventID != tenth.ID || r.Key != "A" || r.Count != 10 || r.Status != models.RunSucceeded {
		t.Errorf("run %+v, want for the 10th like of A (%s), count 10, succeeded", r, tenth.ID)
	}
	s.waitListed(fmt.Sprintf(`HookflowKey = "B" AND HookflowAutomation = %q`, au.ID), workflows.FlowWorkflowID(workflows.FlowCount, au.ID, "B"))
	s.recordHistory(workflows.FlowWorkflowID(workflows.FlowCount, au.ID, "A"), "count_fires_at_threshold")
}

// TestConcurrencyPerCustomer: with one run at a time per customer, five orders
// of one customer run one after another, without overlapping, while
// another customer's order runs at once.
func TestConcurrencyPerCustomer(t *testing.T) {
	s := newStack(t)
	au := s.createAutomation(`{"name":"one at a time","trigger":{"event_type":"job.queued"},
	  "concurrency":{"key":"event.data.customer","limit":1},"steps":[
	  {"id":"work","action":"delay","params":{"duration":"700ms"}}]}`)
	var first time.Time
	var ids []string
	for i := range 5 {
		ev := s.sendEvent(map[string]any{"type": "job.queued", "data": map[string]any{"customer": "cus_busy", "n": i}})
		ids = append(ids, ev.ID)
		if i == 0 {
			first = time.Now()
		}
	}
	// The queued runs say what they wait for.
	testenv.Eventually(t, 10*time.Second, func() bool {
		r := s.waitingRun(ids[4])
		return r != nil && r.Status == models.RunWaiting && strings.Contains(r.WaitingFor, "concurrency slot")
	}, func() string { return fmt.Sprintf("last job waiting: %+v", s.waitingRun(ids[4])) })
	other := s.sendEvent(map[string]any{"type": "job.queued", "data": map[string]any{"customer": "cus_idle"}})
	o := s.waitRuns(other.ID, 1, 10*time.Second)[0]
	if o.FinishedAt.Sub(first) > 3*time.Second {
		t.Errorf("the other customer's run finished %s after the first job: held back", o.FinishedAt.Sub(first))
	}
	var runs []models.AutomationRun
	for _, id := range ids {
		runs = append(runs, s.waitRuns(id, 1, 30*time.Second)[0])
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].Steps[0].StartedAt.Before(*runs[j].Steps[0].StartedAt) })
	for i, r := range runs {
		// (The order is the events' as the entity learns of them: batches
		// planned side by side may tell it out of order, and a free slot goes
		// to the first it hears of; the queue behind it is in accepted order.)
		if r.Status != models.RunSucceeded {
			t.Errorf("run %d for %s: %s", i, r.EventID, r.Status)
		}
		if i > 0 && r.Steps[0].StartedAt.Before(*runs[i-1].Steps[0].FinishedAt) {
			t.Errorf("run %d started at %v, before run %d's step ended at %v", i, r.Steps[0].StartedAt, i-1, runs[i-1].Steps[0].FinishedAt)
		}
	}
	s.recordHistory(workflows.FlowWorkflowID(workflows.FlowConcurrency, au.ID, "cus_busy"), "concurrency_one_at_a_time")
}

// TestDebounce: ten cart updates within a second start one run, with the
// tenth, once the cart has been quiet for the period.
func TestDebounce(t *testing.T) {
	s := newStack(t)
	au := s.createAutomation(`{"name":"cart settled","trigger":{"event_type":"cart.updated"},
	  "debounce":{"key":"event.data.cart_id","period":"1s"},"steps":[
	  {"id":"tell","action":"event.emit","params":{"type":"cart.settled","data":{"n":{"$expr":"event.data.n"}}}}]}`)
	var last accepted
	for i := 1; i <= 10; i++ {
		last = s.sendEvent(map[string]any{"type": "cart.updated", "data": map[string]any{"cart_id": "cart-1", "n": i}})
		time.Sleep(90 * time.Millisecond)
	}
	runs := s.runsOf(au.ID, 1, 20*time.Second)
	time.Sleep(1500 * time.Millisecond)
	var page struct{ Data []models.AutomationRun }
	s.do("GET", "/v1/automations/"+au.ID+"/runs", nil, &page)
	if len(page.Data) != 1 || runs[0].EventID != last.ID || runs[0].Status != models.RunSucceeded {
		t.Errorf("runs %+v, want one, for the 10th update %s", page.Data, last.ID)
	}
	s.recordHistory(workflows.FlowWorkflowID(workflows.FlowDebounce, au.ID, "cart-1"), "debounce_one_run_for_a_burst")
}

// TestThrottle: two starts per 2 s; five events all run, spread out, none
// dropped.
func TestThrottle(t *testing.T) {
	s := newStack(t)
	au := s.createAutomation(`{"name":"gentle","trigger":{"event_type":"sync.requested"},
	  "throttle":{"limit":2,"period":"2s"},"steps":[
	  {"id":"tell","action":"event.emit","params":{"type":"sync.started"}}]}`)
	for i := range 5 {
		s.sendEvent(map[string]any{"type": "sync.requested", "data": map[string]any{"n": i}})
	}
	runs := s.runsOf(au.ID, 5, 30*time.Second)
	var starts []time.Time
	for _, r := range runs {
		if r.Status != models.RunSucceeded {
			t.Errorf("run %s", r.Status)
		}
		starts = append(starts, *r.Steps[0].StartedAt)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	for i := 2; i < len(starts); i++ {
		// 2 per 2 s; a step may begin a little after its run was let go,
		// so the bound leaves room (unthrottled, all five begin at once).
		if gap := starts[i].Sub(starts[i-2]); gap < 1500*time.Millisecond {
			t.Errorf("starts %d and %d are %s apart, want about 2s (2 per 2s)", i-2, i, gap)
		}
	}
	s.recordHistory(workflows.FlowWorkflowID(workflows.FlowThrottle, au.ID, ""), "throttle_spreads_starts")
}
