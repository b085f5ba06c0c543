package matching

import (
	"context"
	"errors"
	"testing"

	"github.com/hookflow/hookflow/internal/automation"
	"github.com/hookflow/hookflow/models"
)

// TestSelects: the type and source rule both runs and the dry run apply.
func TestSelects(t *testing.T) {
	tests := []struct {
		trigger          models.Trigger
		eventType, srcID string
		want             bool
	}{
		{models.Trigger{EventType: "a.b"}, "a.b", "", true},
		{models.Trigger{EventType: "a.b"}, "a.c", "", false},
		{models.Trigger{EventType: "*"}, "a.c", "src_1", true},
		{models.Trigger{EventType: "a.b", SourceID: "src_1"}, "a.b", "src_1", true},
		{models.Trigger{EventType: "a.b", SourceID: "src_1"}, "a.b", "src_2", false},
		{models.Trigger{EventType: "a.b", SourceID: "src_1"}, "a.b", "", false},
	}
	for _, tt := range tests {
		if got := Selects(tt.trigger, tt.eventType, tt.srcID); got != tt.want {
			t.Errorf("Selects(%+v, %s, %q) = %v, want %v", tt.trigger, tt.eventType, tt.srcID, got, tt.want)
		}
	}
}

type candidates []models.Automation

func (c candidates) AutomationsForEvent(context.Context, string, string, string) ([]models.Automation, error) {
	return c, nil
}

// TestMatcher: a candidate the filter refuses, one that does not compile and one
// whose filter fails are skipped; the rest match in order.
func TestMatcher(t *testing.T) {
	auto := func(id, filter string) models.Automation {
		return models.Automation{ID: id, Name: id, Trigger: models.Trigger{EventType: "a.b", Filter: filter},
			Steps: []models.Step{{ID: "s", Action: "event.emit", Params: []byte(`{"type":"x.y"}`)}}}
	}
	c := candidates{auto("aut_1", ""), auto("aut_2", "event.data.n > 1"), auto("aut_3", "event.data.nope.deeper"), auto("aut_4", "true"), auto("aut_bad", "")}
	compile := func(a *models.Automation) (*automation.Program, error) {
		if a.ID == "aut_bad" {
			return nil, errors.New("does not compile")
		}
		return automation.Compile(a, func(string) bool { return true })
	}
	ev := &models.Event{ID: "evt_1", Type: "a.b", Data: []byte(`{"n":1}`)}
	m, err := models.EventMap(ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := New(c, compile, nil).Automations(context.Background(), ev, m)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range got {
		ids = append(ids, a.ID)
	}
	if len(ids) != 2 || ids[0] != "aut_1" || ids[1] != "aut_4" {
		t.Errorf("got %v, want [aut_1 aut_4]", ids)
	}
}

type countingCandidates struct{ reads int }

func (c *countingCandidates) AutomationsForEvent(_ context.Context, ws, typ, src string) ([]models.Automation, error) {
	c.reads++
	return []models.Automation{{ID: "auto_" + ws + typ + src}}, nil
}

// TestMemoReadsOncePerKey: a batch's events of one type and source read their
// candidates once; another type or source reads its own.
func TestMemoReadsOncePerKey(t *testing.T) {
	c := &countingCandidates{}
	m := NewMemo(c)
	for _, k := range [][3]string{{"ws", "a", ""}, {"ws", "a", ""}, {"ws", "b", ""}, {"ws", "a", "src"}, {"ws", "b", ""}} {
		got, err := m.AutomationsForEvent(context.Background(), k[0], k[1], k[2])
		if err != nil || len(got) != 1 || got[0].ID != "auto_"+k[0]+k[1]+k[2] {
			t.Fatalf("%v: %+v %v", k, got, err)
		}
	}
	if c.reads != 3 {
		t.Errorf("%d reads, want 3 (one per workspace, type and source)", c.reads)
	}
}
