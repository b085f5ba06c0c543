package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/api"
	"github.com/hookflow/hookflow/internal/rules"
	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
)

// TestTenantIsolation: a key of workspace B gets 404 on every one of workspace A's
// resources, on every route that names one — the list of routes comes from the
// router itself, so a new route cannot be forgotten.
func TestTenantIsolation(t *testing.T) {
	s := newStack(t)
	rcv := testenv.NewReceiver(t, 400)
	ep := s.createEndpoint(rcv.URL)
	a := s.createAutomation(`{"name":"a","trigger":{"event_type":"order.placed"},"steps":[{"id":"award","action":"loyalty.award_points","params":{"customer_id":"cus_a","points":1}}]}`)
	src := s.createSource(`{"name":"s","verification":{"scheme":"none"},"event_type":{"value":"x.y"}}`)
	ev := s.sendEvent(map[string]any{"type": "order.placed"})
	ds := s.waitDeliveries(ev.ID, 1, 20*time.Second)
	runs := s.waitRuns(ev.ID, 1, 20*time.Second)
	var keys struct{ Data []models.APIKey }
	s.do("GET", "/v1/api-keys", nil, &keys)
	if code := s.do("POST", "/v1/credentials", `{"name":"crm_token","value":"tok_a"}`, nil); code != http.StatusCreated {
		t.Fatalf("create credential: %d", code)
	}

	var other struct{ Key string }
	_, other.Key = s.newWorkspace("B")
	ids := map[string]string{
		"/v1/endpoints/":       ep.ID,
		"/v1/events/":          ev.ID,
		"/v1/deliveries/":      ds[0].ID,
		"/v1/automations/":     a.ID,
		"/v1/runs/":            runs[0].ID,
		"/v1/sources/":         src.ID,
		"/v1/api-keys/":        keys.Data[0].ID,
		"/v1/loyalty/members/": "cus_a",
		"/v1/credentials/":     "crm_token",
	}
	env, _ := rules.NewEnv()
	srv := api.New(s.store, nil, newGuard(s.cfg), env, nil, api.Config{})
	covered := 0
	for _, r := range srv.Routes() {
		method, path := r[0], r[1]
		if !strings.HasPrefix(path, "/v1/") || !strings.Contains(path, ":") {
			continue
		}
		var id string
		for prefix, v := range ids {
			if strings.HasPrefix(path, prefix) {
				id = v
			}
		}
		if id == "" {
			t.Errorf("%s %s names a resource this test does not know", method, path)
			continue
		}
		url := path[:strings.Index(path, ":")] + id + path[strings.Index(path[strings.Index(path, ":"):], "/")+strings.Index(path, ":"):]
		if !strings.Contains(path[strings.Index(path, ":"):], "/") {
			url = path[:strings.Index(path, ":")] + id
		}
		// Valid bodies, so only ownership can make the answer a 404.
		body := any(nil)
		switch {
		case strings.HasSuffix(path, "/recover"):
			body = `{"since":"2020-01-01T00:00:00Z"}`
		case strings.HasSuffix(path, "/redemptions"):
			body = `{"points":1,"reward":"mug"}`
		case method == "PUT" && strings.HasPrefix(path, "/v1/credentials/"):
			body = `{"value":"tok_b"}`
		case method == "PUT" && strings.HasPrefix(path, "/v1/automations/"):
			body = `{"name":"x","trigger":{"event_type":"a.b"},"steps":[{"id":"e","action":"event.emit","params":{"type":"a.c"}}]}`
		case method == "POST" || method == "PUT" || method == "PATCH":
			body = `{}`
		}
		var e apiError
		code := s.doKey(other.Key, method, url, body, &e)
		if code != http.StatusNotFound {
			t.Errorf("%s %s with another workspace's key: %d %+v, want 404", method, url, code, e)
		}
		covered++
	}
	if covered < 20 {
		t.Errorf("only %d resource routes checked", covered)
	}
	// And A's resources are all still there, unchanged.
	if code := s.do("GET", "/v1/endpoints/"+ep.ID, nil, nil); code != 200 {
		t.Errorf("A's endpoint: %d", code)
	}
	if code := s.do("GET", "/v1/automations/"+a.ID, nil, nil); code != 200 {
		t.Errorf("A's automation: %d", code)
	}
	if v, err := s.store.CredentialValue(t.Context(), models.DefaultWorkspaceID, "crm_token"); err != nil || v != "tok_a" {
		t.Errorf("A's credential: %q, %v", v, err)
	}
}
