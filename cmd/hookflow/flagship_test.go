package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/signing"
	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
)

// texts are the messages a Slack receiver got, in order.
func texts(slack *testenv.Receiver) []string {
	var out []string
	for _, r := range slack.Requests() {
		out = append(out, r.Key)
	}
	return out
}

func (s *stack) createAutomation(body string) models.Automation {
	s.t.Helper()
	var a models.Automation
	var e apiError
	if code := s.do("POST", "/v1/automations", body, &a); code != http.StatusCreated {
		s.do("POST", "/v1/automations", body, &e)
		s.t.Fatalf("create automation: %d %+v", code, e)
	}
	return a
}

func (s *stack) member(id string) models.Member {
	s.t.Helper()
	var m models.Member
	s.do("GET", "/v1/loyalty/members/"+id, nil, &m)
	return m
}

func (s *stack) waitRuns(eventID string, n int, timeout time.Duration) []models.AutomationRun {
	s.t.Helper()
	var ev struct {
		Runs []models.AutomationRun `json:"runs"`
	}
	testenv.Eventually(s.t, timeout, func() bool {
		ev.Runs = nil
		s.do("GET", "/v1/events/"+eventID, nil, &ev)
		if len(ev.Runs) != n {
			return false
		}
		for _, r := range ev.Runs {
			if !finished(r.Status) {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("event %s: runs %+v finished (want %d)", eventID, ev.Runs, n) })
	return ev.Runs
}

// finished is a run status a run does not leave.
func finished(st models.RunStatus) bool {
	return st == models.RunSucceeded || st == models.RunFailed || st == models.RunCancelled || st == models.RunSkipped
}

func review(id string, rating int) map[string]any {
	return map[string]any{"type": "review.created", "id": id, "data": map[string]any{
		"review_id": id, "rating": rating, "customer_id": "cus_ann", "customer_name": "Ann"}}
}

// TestFlagshipScenario: review → points → tier change → Slack, with a CRM endpoint
// receiving every review, on the embedded Temporal server and real Postgres.
func TestFlagshipScenario(t *testing.T) {
	s := newStack(t)
	if code := s.do("PUT", "/v1/loyalty/tiers", `{"tiers":[{"name":"Bronze","min_points":0},{"name":"Gold","min_points":150}]}`, nil); code != 200 {
		t.Fatalf("set tiers: %d", code)
	}
	crm := testenv.NewReceiver(t, 200)
	ep := s.createEndpoint(crm.URL, "review.created")
	slack := testenv.NewSlackReceiver(t, 429, 200)
	s.createAutomation(testenv.FlagshipAward())
	s.createAutomation(testenv.FlagshipNotify(slack.URL))

	var evs []accepted
	for i := 1; i <= 3; i++ {
		ev := s.sendEvent(review(fmt.Sprintf("rev-%d", i), 5))
		evs = append(evs, ev)
		runs := s.waitRuns(ev.ID, 1, 30*time.Second)
		if runs[0].Status != models.RunSucceeded {
			t.Fatalf("review %d run %s: %+v", i, runs[0].Status, runs[0].Steps)
		}
	}
	// The same review again: a duplicate, nothing new.
	if dup := s.sendEvent(review("rev-3", 5)); !dup.Duplicate || dup.ID != evs[2].ID {
		t.Errorf("re-sent review: %+v", dup)
	}
	// A poor review earns nothing.
	low := s.sendEvent(review("rev-low", 2))
	s.waitDeliveries(low.ID, 1, 20*time.Second)

	s.recordHistory(s.eventWorkflowID(evs[2].ID), "batch_flagship_review")
	m := s.member("cus_ann")
	if m.LifetimePoints != 150 || m.Balance != 150 || m.Tier != "Gold" || m.Name != "Ann" {
		t.Errorf("member = %+v, want 150 points, Gold", m)
	}
	var ledger struct{ Data []models.LedgerEntry }
	s.do("GET", "/v1/loyalty/members/cus_ann/ledger", nil, &ledger)
	if len(ledger.Data) != 3 {
		t.Errorf("ledger has %d entries, want 3", len(ledger.Data))
	}

	testenv.Until(30*time.Second, func() bool { return len(slack.Requests()) >= 2 })
	time.Sleep(time.Second) // nothing more may arrive
	texts := texts(slack)
	if len(texts) != 2 || texts[1] != "Ann reached Gold" {
		t.Errorf("slack got %q, want one 429 then one \"Ann reached Gold\"", texts)
	}
	reqs := slack.Requests()
	if len(reqs) == 2 {
		if gap := reqs[1].At.Sub(reqs[0].At); gap < 900*time.Millisecond {
			t.Errorf("retry after the 429 came %s later, want ≥ 1s (Retry-After)", gap)
		}
	}

	var tierEvents struct{ Data []models.Event }
	s.do("GET", "/v1/events?limit=250", nil, &tierEvents)
	n := 0
	for _, e := range tierEvents.Data {
		if e.Type != "loyalty.tier_changed" {
			continue
		}
		n++
		// The Slack step failed its first attempt (429) and succeeded on the
		// second: both on record, whichever way the attempt ran.
		runs := s.waitRuns(e.ID, 1, 10*time.Second)
		if st := runs[0].Steps; len(st) != 1 || st[0].Status != models.RunSucceeded || st[0].Attempts != 2 {
			t.Errorf("notify run steps %+v, want one succeeded after 2 attempts", st)
		}
		s.recordHistory(runs[0].WorkflowID, "run_local_first_step_retry")
	}
	if n != 1 {
		t.Errorf("%d loyalty.tier_changed events, want exactly 1", n)
	}

	crmReqs := crm.Requests()
	if len(crmReqs) != 4 {
		t.Errorf("CRM got %d deliveries, want 4 (three 5-star reviews and the poor one)", len(crmReqs))
	}
	for _, r := range crmReqs {
		if err := signing.Verify(ep.Secret, r.Header, r.Body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("CRM delivery not signed correctly: %v", err)
		}
	}
}

// TestRunSurvivesWorkerRestart: the worker goes away between "award points" and
// "post to Slack"; when it is back the run finishes with points awarded once and
// Slack told once.
func TestRunSurvivesWorkerRestart(t *testing.T) {
	s := newStack(t)
	slack := testenv.NewSlackReceiver(t, 200)
	s.createAutomation(`{"name":"award then tell","trigger":{"event_type":"review.created"},"steps":[
	 {"id":"award","action":"loyalty.award_points","params":{"customer_id":"cus_bob","customer_name":"Bob","points":10}},
	 {"id":"pause","action":"delay","params":{"duration":"2s"}},
	 {"id":"notify","action":"slack.post","params":{"webhook_url":"` + slack.URL + `","text":"{{ .steps.award.customer_name }} has {{ .steps.award.balance }} points"}}]}`)
	ev := s.sendEvent(map[string]any{"type": "review.created", "data": map[string]any{"rating": 5}})

	testenv.Until(20*time.Second, func() bool { return s.member("cus_bob").Balance != 0 })
	s.stopWorker()
	time.Sleep(3 * time.Second) // the delay ends while no worker is polling
	if n := len(slack.Requests()); n != 0 {
		t.Fatalf("slack told %d times while the worker was down", n)
	}
	s.startWorker()
	runs := s.waitRuns(ev.ID, 1, 30*time.Second)
	if runs[0].Status != models.RunSucceeded {
		t.Fatalf("run %s: %+v", runs[0].Status, runs[0].Steps)
	}
	s.recordHistory(runs[0].WorkflowID, "run_local_first_award_delay_slack")
	if m := s.member("cus_bob"); m.Balance != 10 {
		t.Errorf("balance %d, want 10 (awarded once)", m.Balance)
	}
	if texts := texts(slack); len(texts) != 1 || texts[0] != "Bob has 10 points" {
		t.Errorf("slack got %q, want once \"Bob has 10 points\"", texts)
	}
}

// TestBadAutomations: definitions that cannot run are refused with a message that
// names the step, the field and the position.
func TestBadAutomations(t *testing.T) {
	s := newStack(t)
	tests := []struct {
		name, body string
		want       []string
	}{
		{"unknown action", `{"name":"x","trigger":{"event_type":"a.b"},"steps":[{"id":"one","action":"slak.post","params":{}}]}`,
			[]string{"steps[0]", `"one"`, "action", "slak.post"}},
		{"bad template", `{"name":"x","trigger":{"event_type":"a.b"},"steps":[{"id":"one","action":"slack.post","params":{"webhook_url":"https://x","text":"{{ .event.data.x "}}]}`,
			[]string{"steps[0]", "params.text", "1:"}},
		{"cel error", `{"name":"x","trigger":{"event_type":"a.b"},"steps":[{"id":"one","action":"loyalty.award_points","params":{"customer_id":"c","points":{"$expr":"evnt.data.rating * 10"}}}]}`,
			[]string{"steps[0]", "params.points", "1:1", "evnt"}},
		{"duplicate id", `{"name":"x","trigger":{"event_type":"a.b"},"steps":[{"id":"one","action":"event.emit","params":{"type":"a.c"}},{"id":"one","action":"event.emit","params":{"type":"a.d"}}]}`,
			[]string{"steps[1]", "id", "one"}},
		{"later step", `{"name":"x","trigger":{"event_type":"a.b"},"steps":[{"id":"one","action":"event.emit","params":{"type":"a.c","data":{"x":"{{ .steps.two.y }}"}}},{"id":"two","action":"event.emit","params":{"type":"a.d"}}]}`,
			[]string{"steps[0]", "params.data.x", "two"}},
		{"bad filter", `{"name":"x","trigger":{"event_type":"a.b","filter":"event.data.x >"},"steps":[{"id":"one","action":"event.emit","params":{"type":"a.c"}}]}`,
			[]string{"trigger.filter", "1:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e apiError
			if code := s.do("POST", "/v1/automations", tt.body, &e); code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 (%+v)", code, e)
			}
			for _, w := range tt.want {
				if !strings.Contains(e.Error.Message, w) {
					t.Errorf("message %q lacks %q", e.Error.Message, w)
				}
			}
		})
	}
	var list struct{ Data []json.RawMessage }
	s.do("GET", "/v1/automations", nil, &list)
	if len(list.Data) != 0 {
		t.Errorf("%d automations saved from bad requests", len(list.Data))
	}
}

// TestChainDepthLimit: an automation that emits its own trigger stops at depth 8
// with a visible error instead of looping.
func TestChainDepthLimit(t *testing.T) {
	s := newStack(t)
	a := s.createAutomation(`{"name":"loop","trigger":{"event_type":"loop.tick"},"steps":[{"id":"again","action":"event.emit","params":{"type":"loop.tick","data":{"n":{"$expr":"event.depth"}}}}]}`)
	s.sendEvent(map[string]any{"type": "loop.tick"})
	var failed *models.AutomationRun
	testenv.Until(60*time.Second, func() bool {
		var runs struct{ Data []models.AutomationRun }
		s.do("GET", "/v1/automations/"+a.ID+"/runs?limit=250", nil, &runs)
		for i := range runs.Data {
			if runs.Data[i].Status == models.RunFailed {
				failed = &runs.Data[i]
			}
		}
		return failed != nil
	})
	if failed == nil {
		t.Fatal("no run failed: the chain did not stop")
	}
	if !strings.Contains(failed.Error, "chain depth") || failed.Steps[0].Status != models.RunFailed {
		t.Errorf("failed run: %q %+v", failed.Error, failed.Steps)
	}
	var runs struct{ Data []models.AutomationRun }
	s.do("GET", "/v1/automations/"+a.ID+"/runs?limit=250", nil, &runs)
	if len(runs.Data) != 9 { // depths 0..8
		t.Errorf("%d runs, want 9 (depth 0 to 8)", len(runs.Data))
	}
}

// TestAutomationDryRun: /test renders params and writes nothing.
func TestAutomationDryRun(t *testing.T) {
	s := newStack(t)
	crm := testenv.NewReceiver(t, 200)
	s.createEndpoint(crm.URL)
	a := s.createAutomation(testenv.FlagshipAward())
	var res struct {
		Matched bool
		Steps   []struct {
			ID      string
			Params  map[string]any
			Skipped bool
		}
	}
	body := `{"event":{"type":"review.created","data":{"rating":5,"review_id":"r1","customer_id":"cus_ann","customer_name":"Ann"}}}`
	if code := s.do("POST", "/v1/automations/"+a.ID+"/test", body, &res); code != 200 {
		t.Fatalf("test: %d", code)
	}
	if !res.Matched || len(res.Steps) != 1 {
		t.Fatalf("test result %+v", res)
	}
	p := res.Steps[0].Params
	if p["customer_id"] != "cus_ann" || p["customer_name"] != "Ann" || p["points"] != 50.0 || p["reason"] != "review r1" {
		t.Errorf("rendered params %v", p)
	}
	s.do("POST", "/v1/automations/"+a.ID+"/test", `{"event":{"type":"review.created","data":{"rating":1}}}`, &res)
	if res.Matched {
		t.Error("a rating-1 review matched the rating >= 4 filter")
	}
	time.Sleep(500 * time.Millisecond)
	var e apiError
	if code := s.do("GET", "/v1/loyalty/members/cus_ann", nil, &e); code != http.StatusNotFound {
		t.Errorf("member exists after a dry run: %d", code)
	}
	var evs struct{ Data []json.RawMessage }
	s.do("GET", "/v1/events", nil, &evs)
	if len(evs.Data) != 0 || len(crm.Requests()) != 0 {
		t.Errorf("dry run made %d events and %d deliveries", len(evs.Data), len(crm.Requests()))
	}
}

// TestRunRetryAndVersions: a run whose Slack step fails for good is retried over the
// API after the fix and resumes at that step (points are not awarded again); an
// update bumps the version and the run keeps the version it started with.
func TestRunRetryAndVersions(t *testing.T) {
	s := newStack(t)
	slack := testenv.NewSlackReceiver(t, 404, 200)
	a := s.createAutomation(`{"name":"award then tell","trigger":{"event_type":"order.placed"},"steps":[
	 {"id":"award","action":"loyalty.award_points","params":{"customer_id":"cus_cy","points":5}},
	 {"id":"notify","action":"slack.post","params":{"webhook_url":"` + slack.URL + `","text":"{{ .steps.award.balance }}"}}]}`)
	if a.Version != 1 {
		t.Errorf("new automation version %d, want 1", a.Version)
	}
	ev := s.sendEvent(map[string]any{"type": "order.placed"})
	run := s.waitRuns(ev.ID, 1, 30*time.Second)[0]
	if run.Status != models.RunFailed || run.Steps[1].Status != models.RunFailed || !strings.Contains(run.Steps[1].Error, "404") {
		t.Fatalf("run %s, steps %+v: want the notify step failed with the 404", run.Status, run.Steps)
	}
	var patched models.Automation
	if code := s.do("PATCH", "/v1/automations/"+a.ID, `{"name":"renamed"}`, &patched); code != 200 || patched.Version != 2 {
		t.Errorf("PATCH: %d version %d, want 200 and version 2", code, patched.Version)
	}
	if code := s.do("POST", "/v1/runs/"+run.ID+"/retry", nil, nil); code != http.StatusAccepted {
		t.Fatalf("retry: %d", code)
	}
	var got models.AutomationRun
	testenv.Until(30*time.Second, func() bool {
		s.do("GET", "/v1/runs/"+run.ID, nil, &got)
		return got.Status == models.RunSucceeded
	})
	if got.Status != models.RunSucceeded || got.AutomationVersion != 1 {
		t.Fatalf("after retry: %s (version %d), want succeeded on version 1", got.Status, got.AutomationVersion)
	}
	if m := s.member("cus_cy"); m.Balance != 5 {
		t.Errorf("balance %d after the retry, want 5 (award not repeated)", m.Balance)
	}
	if texts := texts(slack); len(texts) != 2 || texts[1] != "5" {
		t.Errorf("slack got %q", texts)
	}
	if code := s.do("POST", "/v1/runs/"+run.ID+"/retry", nil, nil); code != http.StatusConflict {
		t.Errorf("retry of a succeeded run: %d, want 409", code)
	}
}

// TestWebhookStepRecordsAttempts: a webhook.post step follows the delivery contract:
// retried on the schedule with one webhook-id, signed with the step's secret, and
// every attempt recorded as a delivery of the step.
func TestWebhookStepRecordsAttempts(t *testing.T) {
	s := newStack(t)
	crm := testenv.NewReceiver(t, 500, 200)
	erp := testenv.NewReceiver(t, 200)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	a := s.createAutomation(`{"name":"forward","trigger":{"event_type":"order.placed"},"steps":[
	 {"id":"post","action":"webhook.post","params":{"url":"` + crm.URL + `","secret":"` + secret + `","body":{"order":"{{ .event.data.id }}","total":{"$expr":"event.data.total"}}}},
	 {"id":"erp","action":"webhook.post","params":{"url":"` + erp.URL + `","body":{"order":"{{ .event.data.id }}"}}}]}`)
	ev := s.sendEvent(map[string]any{"type": "order.placed", "data": map[string]any{"id": "o-1", "total": 12.5}})
	run := s.waitRuns(ev.ID, 1, 30*time.Second)[0]
	if run.Status != models.RunSucceeded {
		t.Fatalf("run %s: %+v", run.Status, run.Steps)
	}
	reqs := crm.Requests()
	if len(reqs) != 2 || reqs[0].Header.Get("webhook-id") != reqs[1].Header.Get("webhook-id") {
		t.Fatalf("receiver got %d requests (webhook-ids must match)", len(reqs))
	}
	if string(reqs[1].Body) != `{"order":"o-1","total":12.5}` {
		t.Errorf("body %s", reqs[1].Body)
	}
	if err := signing.Verify(secret, reqs[1].Header, reqs[1].Body, time.Now(), 5*time.Minute); err != nil {
		t.Errorf("step delivery does not verify: %v", err)
	}
	if e := erp.Requests(); len(e) != 1 || signing.Verify(a.SigningSecret, e[0].Header, e[0].Body, time.Now(), 5*time.Minute) != nil {
		t.Errorf("a step without params.secret must be signed with the automation's secret (%d requests)", len(e))
	}
	var list struct{ Data []models.Delivery }
	s.do("GET", "/v1/deliveries?endpoint_id=step:"+run.ID+":post", nil, &list)
	if len(list.Data) != 1 {
		t.Fatalf("%d deliveries recorded for the step, want 1", len(list.Data))
	}
	d := s.delivery(list.Data[0].ID)
	if d.Status != models.DeliverySucceeded || len(d.Attempts) != 2 || d.Attempts[0].StatusCode != 500 || d.Attempts[1].StatusCode != 200 {
		t.Fatalf("step delivery %s with attempts %+v", d.Status, d.Attempts)
	}
	// The first attempt ran as a local activity, the second as an activity: the
	// schedule counts on across the two.
	if d.Attempts[0].Number != 1 || d.Attempts[1].Number != 2 {
		t.Errorf("attempts numbered %d, %d; want 1, 2", d.Attempts[0].Number, d.Attempts[1].Number)
	}
}

// TestWebhookStepGivesUp: a step whose receiver keeps failing is tried exactly as
// many times as the schedule allows (three here), the first as a local activity and
// the rest as activities, and then fails the run.
func TestWebhookStepGivesUp(t *testing.T) {
	s := newStack(t)
	down := testenv.NewReceiver(t, 503)
	s.createAutomation(`{"name":"forward","trigger":{"event_type":"order.placed"},"steps":[
	 {"id":"post","action":"webhook.post","params":{"url":"` + down.URL + `","body":{"order":"{{ .event.data.id }}"}}}]}`)
	ev := s.sendEvent(map[string]any{"type": "order.placed", "data": map[string]any{"id": "o-2"}})
	run := s.waitRuns(ev.ID, 1, 30*time.Second)[0]
	if run.Status != models.RunFailed {
		t.Fatalf("run %s, want failed: %+v", run.Status, run.Steps)
	}
	if n := len(down.Requests()); n != 3 {
		t.Errorf("receiver got %d requests, want 3 (the schedule's attempts)", n)
	}
}
