package automation

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hookflow/hookflow/models"
)

func known(a string) bool {
	switch a {
	case "loyalty.award_points", "slack.post", "event.emit", "delay":
		return true
	}
	return false
}

func flagship() *models.Automation {
	return &models.Automation{
		Name:    "reviews",
		Trigger: models.Trigger{EventType: "review.created", Filter: "event.data.rating >= 4"},
		Steps: []models.Step{
			{ID: "award", Action: "loyalty.award_points", Params: json.RawMessage(`{"customer_id":"{{ .event.data.customer.id }}",
				"customer_name":"{{ .event.data.customer.name }}","points":{"$expr":"event.data.rating * 10"},"reason":"review {{ .event.id }}",
				"tags":["x","{{ upper .event.data.customer.name }}"]}`)},
			{ID: "notify", Action: "slack.post", If: "steps.award.tier_changed",
				Params: json.RawMessage(`{"webhook_url":"https://hooks.slack.test/x","text":"{{ .steps.award.customer_name }} reached {{ .steps.award.tier }}{{ .event.data.nope }}"}`)},
		},
	}
}

func event(rating any) map[string]any {
	return map[string]any{"id": "evt_1", "type": "review.created",
		"data": map[string]any{"rating": rating, "customer": map[string]any{"id": "cus_ann", "name": "Ann"}}}
}

func TestFlagshipCompilesAndRenders(t *testing.T) {
	p, err := Compile(flagship(), known)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tt := range []struct {
		rating any
		want   bool
	}{{int64(5), true}, {4.5, true}, {int64(2), false}} {
		if got, err := p.Matches(ctx, event(tt.rating)); got != tt.want || err != nil {
			t.Errorf("Matches(rating %v) = %v, %v; want %v", tt.rating, got, err, tt.want)
		}
	}
	params, err := p.Render(ctx, 0, event(int64(5)), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"customer_id": "cus_ann", "customer_name": "Ann", "points": int64(50), "reason": "review evt_1", "tags": []any{"x", "ANN"}}
	if g, w := jsonOf(params), jsonOf(want); g != w {
		t.Errorf("params = %s, want %s", g, w)
	}
	steps := map[string]any{"award": map[string]any{"customer_name": "Ann", "tier": "Gold", "tier_changed": true}}
	if ok, err := p.ShouldRun(ctx, 1, event(int64(5)), steps); !ok || err != nil {
		t.Errorf("ShouldRun = %v, %v", ok, err)
	}
	params, err = p.Render(ctx, 1, event(int64(5)), steps)
	if err != nil || params["text"] != "Ann reached Gold" {
		t.Errorf("text = %q, %v (a missing value must render empty)", params["text"], err)
	}
	steps["award"].(map[string]any)["tier_changed"] = false
	if ok, _ := p.ShouldRun(ctx, 1, event(int64(5)), steps); ok {
		t.Error("notify runs although the tier did not change")
	}
	if p.StepCount() != 2 || p.StepID(1) != "notify" || p.Action(0) != "loyalty.award_points" {
		t.Error("step accessors")
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(a *models.Automation)
		want   Error
	}{
		{"unknown action", func(a *models.Automation) { a.Steps[1].Action = "slak.post" },
			Error{Step: "notify", Index: 1, Field: "action"}},
		{"duplicate id", func(a *models.Automation) { a.Steps[1].ID = "award" },
			Error{Step: "award", Index: 1, Field: "id"}},
		{"bad step id", func(a *models.Automation) { a.Steps[0].ID = "1st" },
			Error{Step: "1st", Index: 0, Field: "id"}},
		{"bad template", func(a *models.Automation) {
			a.Steps[1].Params = json.RawMessage(`{"text":"hello\n{{ .event.data.x "}`)
		}, Error{Step: "notify", Index: 1, Field: "params.text", Line: 2}},
		{"cel error in $expr", func(a *models.Automation) {
			a.Steps[0].Params = json.RawMessage(`{"points":{"$expr":"event.data.rating * evnt"}}`)
		}, Error{Step: "award", Index: 0, Field: "params.points", Line: 1, Column: 21}},
		{"later step in template", func(a *models.Automation) {
			a.Steps[0].Params = json.RawMessage(`{"x":{"y":["{{ .steps.notify.ok }}"]}}`)
		}, Error{Step: "award", Index: 0, Field: "params.x.y[0]", Line: 1, Column: 10}},
		{"unknown step in if", func(a *models.Automation) { a.Steps[1].If = "steps.nope.ok" },
			Error{Step: "notify", Index: 1, Field: "if", Line: 1, Column: 6}},
		{"self reference", func(a *models.Automation) { a.Steps[1].If = "steps.notify.ok" },
			Error{Step: "notify", Index: 1, Field: "if"}},
		{"non-bool if", func(a *models.Automation) { a.Steps[1].If = `"yes"` },
			Error{Step: "notify", Index: 1, Field: "if", Line: 1, Column: 1}},
		{"params not an object", func(a *models.Automation) { a.Steps[0].Params = json.RawMessage(`[1]`) },
			Error{Step: "award", Index: 0, Field: "params"}},
		{"bad trigger filter", func(a *models.Automation) { a.Trigger.Filter = "event.data.rating >" },
			Error{Index: -1, Field: "trigger.filter", Line: 1}},
		{"steps in trigger filter", func(a *models.Automation) { a.Trigger.Filter = "steps.award.ok" },
			Error{Index: -1, Field: "trigger.filter", Line: 1}},
		{"no steps", func(a *models.Automation) { a.Steps = nil }, Error{Index: -1, Field: "steps"}},
		{"no name", func(a *models.Automation) { a.Name = "" }, Error{Index: -1, Field: "name"}},
		{"bad event type", func(a *models.Automation) { a.Trigger.EventType = "has space" }, Error{Index: -1, Field: "trigger.event_type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := flagship()
			tt.mutate(a)
			_, err := Compile(a, known)
			var got *Error
			if !errors.As(err, &got) {
				t.Fatalf("error %v, want *Error", err)
			}
			if got.Step != tt.want.Step || got.Index != tt.want.Index || got.Field != tt.want.Field ||
				(tt.want.Line != 0 && got.Line != tt.want.Line) || (tt.want.Column != 0 && got.Column != tt.want.Column) {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
			if !strings.Contains(got.Error(), tt.want.Field) {
				t.Errorf("message %q does not name the field", got.Error())
			}
		})
	}
}

func TestCostLimit(t *testing.T) {
	a := flagship()
	a.Steps[0].Params = json.RawMessage(`{"points":{"$expr":"[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].map(a, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].map(b, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].map(c, a*b*c))).size()"}}`)
	p, err := Compile(a, known)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Render(context.Background(), 0, event(int64(5)), nil); err == nil {
		t.Error("a runaway expression was not stopped by the cost limit")
	}
}
