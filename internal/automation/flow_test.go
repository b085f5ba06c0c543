package automation

import (
	"context"
	"errors"
	"testing"

	"github.com/hookflow/hookflow/models"
)

func TestPathValue(t *testing.T) {
	ev := map[string]any{"data": map[string]any{"order_id": "o1", "n": int64(3), "items": []any{map[string]any{"sku": "a"}},
		"obj": map[string]any{"b": 1, "a": 2}, "none": nil}}
	for path, want := range map[string]string{"data.order_id": `"o1"`, "data.n": "3", "data.items.0.sku": `"a"`, "data.obj": `{"a":2,"b":1}`} {
		if got, ok := PathValue(ev, path); !ok || got != want {
			t.Errorf("PathValue(%s) = %q, %v; want %q", path, got, ok, want)
		}
	}
	for _, path := range []string{"data.missing", "data.none", "data.items.1", "data.order_id.x", "data.items.x"} {
		if got, ok := PathValue(ev, path); ok {
			t.Errorf("PathValue(%s) = %q, want nothing", path, got)
		}
	}
}

func TestFlowKeys(t *testing.T) {
	a := &models.Automation{Name: "x", Trigger: models.Trigger{EventType: "a.b"},
		Concurrency: &models.Concurrency{Key: "event.data.customer", Limit: 1},
		RateLimit:   &models.PeriodLimit{Key: "event.data.n", Limit: 1, Period: "1m"},
		CancelOn:    []models.EventMatch{{EventType: "a.c", If: "async.data.x == event.data.x"}},
		Steps:       []models.Step{{ID: "one", Action: "delay", Params: []byte(`{"duration":"1s"}`)}}}
	p, err := Compile(a, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	ev := map[string]any{"data": map[string]any{"customer": "cus_1", "n": int64(7), "x": "y"}}
	ctx := context.Background()
	if k, err := p.Flow().Key(ctx, "concurrency", ev); err != nil || k != "cus_1" {
		t.Errorf("concurrency key %q, %v", k, err)
	}
	if k, err := p.Flow().Key(ctx, "rate_limit", ev); err != nil || k != "7" {
		t.Errorf("rate_limit key %q, %v (want the number as JSON)", k, err)
	}
	if k, err := p.Flow().Key(ctx, "throttle", ev); err != nil || k != "" {
		t.Errorf("no throttle: key %q, %v", k, err)
	}
	if _, err := p.Flow().Key(ctx, "concurrency", map[string]any{"data": map[string]any{}}); err == nil {
		t.Error("a key missing from the event evaluated")
	}
	ok, err := MatchCond(ctx, p.CancelOn()[0].Cond, ev, map[string]any{"data": map[string]any{"x": "y"}}, nil)
	if err != nil || !ok {
		t.Errorf("cancel_on if: %v, %v", ok, err)
	}
}

type fakeSecrets map[string]string

func (f fakeSecrets) Secret(_ context.Context, name string) (string, error) {
	v, ok := f[name]
	if !ok {
		return "", errors.New("no credential " + name)
	}
	return v, nil
}

func TestSecrets(t *testing.T) {
	a := &models.Automation{Name: "x", Trigger: models.Trigger{EventType: "a.b"}, Steps: []models.Step{{ID: "one", Action: "http.request",
		Params: []byte(`{"url":{"$secret":"crm_url"},"headers":{"Authorization":"Bearer {{ secret \"crm_token\" }}"}}`)}}}
	p, err := Compile(a, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Secrets(); len(got) != 2 || got[0] != "crm_token" || got[1] != "crm_url" {
		t.Errorf("Secrets() = %v", got)
	}
	ctx := WithSecrets(context.Background(), fakeSecrets{"crm_url": "https://crm.example/x", "crm_token": "tok"})
	params, err := p.Render(ctx, 0, map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if params["url"] != "https://crm.example/x" || params["headers"].(map[string]any)["Authorization"] != "Bearer tok" {
		t.Errorf("rendered %v", params)
	}
	if _, err := p.Render(context.Background(), 0, map[string]any{}, nil); err == nil {
		t.Error("rendered credentials without a resolver")
	}
	for _, bad := range []string{`{"url":{"$secret":"Bad-Name"}}`, `{"url":"{{ secret .event.data.x }}"}`, `{"url":"{{ secret }}"}`} {
		a.Steps[0].Params = []byte(bad)
		if _, err := Compile(a, func(string) bool { return true }); err == nil {
			t.Errorf("%s compiled", bad)
		}
	}
}
