package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
)

// TestHTTPRequestThenTeams: an http.request step creates a contact in a CRM,
// whose answer a teams.post step then uses (.steps.crm.json.id); and an
// http.request that meets a 500 is retried on the delivery schedule with the same
// idempotency key until it succeeds. On the embedded Temporal server and real
// Postgres.
func TestHTTPRequestThenTeams(t *testing.T) {
	s := newStack(t, withSchedule("0s,300ms,300ms"))
	crm := testenv.NewReceiver(t)
	crm.SetAnswer(func(testenv.Request) testenv.Reply {
		return testenv.Reply{Code: http.StatusCreated, Header: http.Header{"Content-Type": {"application/json"}}, Body: `{"id":"crm_42"}`}
	})
	teams := testenv.NewTeamsReceiver(t, 200)
	s.createAutomation(`{"name":"Contacts reach the CRM","trigger":{"event_type":"customer.created"},"steps":[
	 {"id":"crm","action":"http.request","params":{"method":"PUT","url":"` + crm.URL + `/contacts/{{ .event.data.customer_id }}",
	  "headers":{"Authorization":"Bearer crm-token"},"json":{"name":"{{ .event.data.name }}","tier":"Gold"}}},
	 {"id":"tell","action":"teams.post","params":{"webhook_url":"` + teams.URL + `","text":"created {{ .steps.crm.json.id }}"}}]}`)

	ev := s.sendEvent(map[string]any{"type": "customer.created", "id": "cus-1", "data": map[string]any{"customer_id": "cus_ann", "name": "Ann"}})
	run := s.waitRuns(ev.ID, 1, 30*time.Second)[0]
	if run.Status != models.RunSucceeded || len(run.Steps) != 2 {
		t.Fatalf("run %s: %+v, want both steps succeeded", run.Status, run.Steps)
	}
	reqs := crm.Requests()
	if len(reqs) != 1 {
		t.Fatalf("CRM got %d requests, want 1", len(reqs))
	}
	got := reqs[0]
	if got.Method != "PUT" || got.Path != "/contacts/cus_ann" || string(got.Body) != `{"name":"Ann","tier":"Gold"}` {
		t.Errorf("CRM got %s %s %s", got.Method, got.Path, got.Body)
	}
	if got.Header.Get("Authorization") != "Bearer crm-token" || got.Header.Get("Idempotency-Key") != run.ID+":crm" {
		t.Errorf("CRM headers %v, want the step's Authorization and Idempotency-Key %s:crm", got.Header, run.ID)
	}
	if texts := texts(teams); len(texts) != 1 || texts[0] != "created crm_42" {
		t.Errorf("Teams got %q, want [\"created crm_42\"]", texts)
	}
	var out struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		JSON    map[string]any    `json:"json"`
	}
	if err := json.Unmarshal(run.Steps[0].Output, &out); err != nil || out.Status != 201 || out.JSON["id"] != "crm_42" || out.Headers["content-type"] != "application/json" {
		t.Errorf("crm step output %s (%v), want status 201 and the CRM's JSON", run.Steps[0].Output, err)
	}

	t.Run("a 500 is retried", func(t *testing.T) {
		flaky := testenv.NewReceiver(t, 500, 200)
		s.createAutomation(`{"name":"Paid orders reach the ERP","trigger":{"event_type":"order.paid"},"steps":[
		 {"id":"erp","action":"http.request","params":{"url":"` + flaky.URL + `/orders","json":{"order":"{{ .event.data.order_id }}"}}}]}`)
		ev := s.sendEvent(map[string]any{"type": "order.paid", "id": "ord-1", "data": map[string]any{"order_id": "ord_1"}})
		run := s.waitRuns(ev.ID, 1, 30*time.Second)[0]
		if run.Status != models.RunSucceeded || run.Steps[0].Attempts != 2 {
			t.Fatalf("run %s: %+v, want succeeded on the 2nd attempt", run.Status, run.Steps)
		}
		reqs := flaky.Requests()
		if len(reqs) != 2 || reqs[0].Code != 500 || reqs[1].Code != 200 {
			t.Fatalf("ERP got %d requests (%+v), want a 500 then a 200", len(reqs), reqs)
		}
		if k0, k1 := reqs[0].Header.Get("Idempotency-Key"), reqs[1].Header.Get("Idempotency-Key"); k0 == "" || k0 != k1 {
			t.Errorf("idempotency keys %q and %q, want the same on both attempts", k0, k1)
		}
		if gap := reqs[1].At.Sub(reqs[0].At); gap < 250*time.Millisecond {
			t.Errorf("retry came %s after the 500, want the schedule's 300ms", gap)
		}
	})
}
