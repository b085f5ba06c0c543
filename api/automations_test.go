package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
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

func (f *fakeStore) CreateAutomation(_ context.Context, a *models.Automation) error {
	f.automations[a.ID] = *a
	return nil
}

func (f *fakeStore) CountAutomations(context.Context, string) (int64, error) {
	return int64(len(f.automations)), nil
}

func (f *fakeStore) UpdateAutomation(_ context.Context, a *models.Automation) error {
	f.automations[a.ID] = *a
	return nil
}

func (f *fakeStore) ListAutomations(_ context.Context, ws string, _ models.Page) ([]models.Automation, string, error) {
	var out []models.Automation
	for _, a := range f.automations {
		if a.WorkspaceID == ws {
			out = append(out, a)
		}
	}
	return out, "", nil
}

// TestAutomationSecretShownOnce: as with endpoints, the signing secret is in the
// create answer and behind /secret only; GET, list, PUT and PATCH leave it out,
// and an update keeps it.
func TestAutomationSecretShownOnce(t *testing.T) {
	st := newFakeStore()
	h := fakeServer(st, &fakeEngine{})
	const def = `{"name":"n","trigger":{"event_type":"review.created"},"steps":[{"id":"s","action":"slack.post","params":{"webhook_url":"https://hooks.slack.test/x","text":"hi"}}]}`
	code, body := call(t, h, http.MethodPost, "/v1/automations", def, nil)
	if code != http.StatusCreated {
		t.Fatalf("create: got %d %s", code, body)
	}
	var created struct {
		ID            string `json:"id"`
		SigningSecret string `json:"signing_secret"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.SigningSecret, "whsec_") {
		t.Fatalf("create answer holds signing_secret %q, want whsec_…", created.SigningSecret)
	}
	for _, r := range []struct{ method, path, body string }{
		{http.MethodGet, "/v1/automations/" + created.ID, ""},
		{http.MethodGet, "/v1/automations", ""},
		{http.MethodPatch, "/v1/automations/" + created.ID, `{"name":"renamed"}`},
		{http.MethodPut, "/v1/automations/" + created.ID, def},
	} {
		code, body := call(t, h, r.method, r.path, r.body, nil)
		if code != http.StatusOK || !strings.Contains(body, created.ID) {
			t.Fatalf("%s %s: got %d %s", r.method, r.path, code, body)
		}
		if strings.Contains(body, "signing_secret") || strings.Contains(body, created.SigningSecret) {
			t.Errorf("%s %s shows the signing secret: %s", r.method, r.path, body)
		}
	}
	code, body = call(t, h, http.MethodGet, "/v1/automations/"+created.ID+"/secret", "", nil)
	var got struct{ Secret string }
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != http.StatusOK || got.Secret != created.SigningSecret {
		t.Errorf("GET /secret: got %d %s, want the secret of the create answer", code, body)
	}
	if code, body := call(t, h, http.MethodGet, "/v1/automations/auto_other/secret", "", nil); code != http.StatusNotFound {
		t.Errorf("GET /secret of an unknown automation: got %d %s, want 404", code, body)
	}
}
