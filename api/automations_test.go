package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/hookflow/hookflow/models"
)

// TestAutomationDryRunMatches: the dry run answers as a run would: an automation
// whose trigger names a source matches only that source's events, "*" takes every
// type, and the filter decides the rest.
func TestAutomationDryRunMatches(t *testing.T) {
	tests := []struct {
		name    string
		trigger models.Trigger
		event   string
		want    bool
	}{
		{"type and filter", models.Trigger{EventType: "review.created", Filter: "event.data.rating >= 4"}, `{"type":"review.created","data":{"rating":5}}`, true},
		{"filter says no", models.Trigger{EventType: "review.created", Filter: "event.data.rating >= 4"}, `{"type":"review.created","data":{"rating":2}}`, false},
		{"other type", models.Trigger{EventType: "review.created"}, `{"type":"order.paid"}`, false},
		{"any type", models.Trigger{EventType: "*"}, `{"type":"order.paid"}`, true},
		{"its source", models.Trigger{EventType: "review.created", SourceID: "src_a"}, `{"type":"review.created","source_id":"src_a"}`, true},
		{"another source", models.Trigger{EventType: "review.created", SourceID: "src_a"}, `{"type":"review.created","source_id":"src_b"}`, false},
		{"from the API", models.Trigger{EventType: "review.created", SourceID: "src_a"}, `{"type":"review.created"}`, false},
		{"any source", models.Trigger{EventType: "review.created"}, `{"type":"review.created","source_id":"src_b"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFakeStore()
			st.automations["aut_1"] = models.Automation{ID: "aut_1", Name: "dry", WorkspaceID: testWS, Version: 1, Trigger: tt.trigger,
				Steps: []models.Step{{ID: "s", Action: "slack.post", Params: json.RawMessage(`{"webhook_url":"https://hooks.slack.test/x","text":"hi"}`)}}}
			code, body := call(t, fakeServer(st, &fakeEngine{}), http.MethodPost, "/v1/automations/aut_1/test", `{"event":`+tt.event+`}`, nil)
			if code != http.StatusOK {
				t.Fatalf("got %d %s", code, body)
			}
			var got struct{ Matched bool }
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if got.Matched != tt.want {
				t.Errorf("got matched %v, want %v (%s)", got.Matched, tt.want, body)
			}
		})
	}
}
