package automation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
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

// defineChain is the attacker's 1.5 KB template: n defines that each call the next
// twice, 2^n calls in all.
func defineChain(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{{define "t%d"}}{{template "t%d"}}{{template "t%d"}}{{end}}`, i, i+1, i+1)
	}
	fmt.Fprintf(&b, `{{define "t%d"}}x{{end}}{{template "t0"}}`, n)
	return b.String()
}

// TestUnboundedTemplatesRefused: what cannot be bounded is refused when saved, at
// its position.
func TestUnboundedTemplatesRefused(t *testing.T) {
	for name, tmpl := range map[string]string{
		"range over a huge number": "{{ range $i := 9223372036854775807 }}{{ end }}",
		"range over a number":      "ok {{ range 10 }}x{{ end }}",
		"define chain":             defineChain(30),
		"template call":            `{{ template "x" }}`,
		"block":                    `{{ block "b" . }}x{{ end }}`,
		"define only":              `{{- define "b" }}x{{ end }}`,
	} {
		t.Run(name, func(t *testing.T) {
			a := flagship()
			params, _ := json.Marshal(map[string]any{"text": tmpl})
			a.Steps[1].Params = params
			_, err := Compile(a, known)
			var got *Error
			if !errors.As(err, &got) || got.Field != "params.text" || got.Line < 1 {
				t.Fatalf("Compile = %v, want an *Error at params.text", err)
			}
			if !strings.Contains(got.Message, "not allowed") {
				t.Errorf("message %q does not say what is not allowed", got.Message)
			}
		})
	}
}

// doubling assigns $a = fn($a, $a) 30 times without writing anything.
func doubling(fn string) string {
	return "{{ $a := .event.data.s }}" + strings.Repeat("{{ $a = "+fn+" }}", 30) + "{{ len $a }}"
}

// TestRenderBounded: templates and expressions that would run for ever or grow
// without bound over the data stop with ErrBudget, having allocated a bounded
// amount; a cancelled context stops them with its own error.
func TestRenderBounded(t *testing.T) {
	big := make([]any, 5000)
	for i := range big {
		big[i] = i
	}
	ev := map[string]any{"id": "evt_1", "data": map[string]any{"n": int64(9223372036854775807), "items": big, "s": strings.Repeat("x", 100_000)}}
	for name, param := range map[string]any{
		"range over a number from the event": "{{ range $i := .event.data.n }}{{ end }}",
		"nested ranges":                      "{{ range .event.data.items }}{{ range $.event.data.items }}{{ end }}{{ end }}",
		"output past the cap":                "{{ range .event.data.items }}{{ $.event.data.s }}{{ end }}",
		"printf width":                       `{{ printf "%0999999d" 1 }}`,
		"printf width from data":             `{{ printf "%*d" 999999 1 }}`,
		"expr past the cap":                  map[string]any{"$expr": `[event.data.s, event.data.s, event.data.s]`},
		"printf doubling unwritten":          doubling(`printf "%s%s" $a $a`),
		"print doubling unwritten":           doubling(`print $a $a`),
		"html doubling unwritten":            doubling(`html $a $a`),
	} {
		t.Run(name, func(t *testing.T) {
			a := flagship()
			params, _ := json.Marshal(map[string]any{"text": param})
			a.Steps[1].Params = params
			p, err := Compile(a, known)
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err = p.Render(context.Background(), 1, ev, map[string]any{"award": map[string]any{}})
			runtime.ReadMemStats(&after)
			if err == nil || (!errors.Is(err, ErrBudget) && !strings.Contains(err.Error(), "not allowed")) {
				t.Errorf("Render = %v, want an ErrBudget error", err)
			}
			if testing.Verbose() {
				t.Logf("stopped: %v", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 50<<20 {
				t.Errorf("allocated %d MB on the way, want under 50 MB", grew>>20)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		a := flagship()
		a.Steps[1].Params = json.RawMessage(`{"text":"{{ range .event.data.items }}{{ range $.event.data.items }}{{ end }}{{ end }}"}`)
		p, err := Compile(a, known)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = p.Render(ctx, 1, ev, map[string]any{"award": map[string]any{}})
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrBudget) {
			t.Errorf("Render = %v, want context.Canceled", err)
		}
	})
	t.Run("ordinary range", func(t *testing.T) {
		a := flagship()
		a.Steps[1].Params = json.RawMessage(`{"text":"{{ range $i, $x := .event.data.items }}{{ if lt $i 3 }}{{ $x }},{{ end }}{{ end }}{{ printf \"%05.1f\" 3.14159 }}"}`)
		p, err := Compile(a, known)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Render(context.Background(), 1, ev, map[string]any{"award": map[string]any{}})
		if err != nil || got["text"] != "0,1,2,003.1" {
			t.Errorf("Render = %v, %v; want text 0,1,2,003.1", got, err)
		}
	})
}
