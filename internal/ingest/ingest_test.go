package ingest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookflow/hookflow/models"
)

// TestKeys: every key is byte-identical to the one stored in the events table and
// in EventWorkflow IDs before this package existed; a change would take resends
// for new events.
func TestKeys(t *testing.T) {
	tests := []struct{ got, want string }{
		{APIKey("x", "k", "evt_1"), "id:x"},
		{APIKey("", "k", "evt_1"), "key:k"},
		{APIKey("", "", "evt_1"), "evt:evt_1"},
		{SourceKey("src_1", "d-1", "evt_1"), "src:src_1:d-1"},
		{SourceKey("src_1", "", "evt_1"), "evt:evt_1"},
		{EmitKey("run_1:award", "event"), "emit:run_1:award:event"},
		{EndpointDisabledKey("ep_1", "gone:del_1"), "endpoint.disabled:ep_1:gone:del_1"},
		{FreshKey("evt_1"), "evt:evt_1"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

type fakeStore struct {
	events  map[string]models.Event
	budget  map[string]int
	down    bool
	lookups int
}

func (f *fakeStore) EventByDedupKey(_ context.Context, _, key string) (*models.Event, error) {
	f.lookups++
	if f.down {
		return nil, errors.New("connection refused")
	}
	if ev, ok := f.events[key]; ok {
		return &ev, nil
	}
	return nil, models.ErrNotFound
}

func (f *fakeStore) ReserveChainEvent(_ context.Context, root string, limit int, _ time.Time) (bool, error) {
	if f.budget[root] >= limit {
		return false, nil
	}
	f.budget[root]++
	return true, nil
}

type fakeStarter struct{ started []models.Event }

func (s *fakeStarter) StartEvent(_ context.Context, ev models.Event, _ string) (string, bool, error) {
	s.started = append(s.started, ev)
	return ev.ID, false, nil
}

// TestTake: an earlier event answers a resend without a start, budget or Admit;
// a fresh key is never looked up; an outage is ErrUnavailable; a spent budget is
// a BudgetError; Admit runs only for new events and can refuse them.
func TestTake(t *testing.T) {
	refused := errors.New("over the rate")
	tests := []struct {
		name      string
		ev        models.Event
		down      bool
		budget    int
		admit     error
		wantID    string
		wantDup   bool
		wantErr   error
		wantStart int
		lookups   int
		admitted  bool
	}{
		{name: "new", ev: models.Event{ID: "evt_n", DedupKey: "id:new"}, wantID: "evt_n", wantStart: 1, lookups: 1, admitted: true},
		{name: "resend", ev: models.Event{ID: "evt_n", DedupKey: "id:old", RootID: "evt_r"}, budget: 3, wantID: "evt_old", wantDup: true, lookups: 1},
		{name: "fresh key", ev: models.Event{ID: "evt_n", DedupKey: "evt:evt_n"}, down: true, wantID: "evt_n", wantStart: 1, admitted: true},
		{name: "outage", ev: models.Event{ID: "evt_n", DedupKey: "id:new"}, down: true, wantErr: models.ErrUnavailable, lookups: 1},
		{name: "budget spent", ev: models.Event{ID: "evt_n", DedupKey: "emit:x", RootID: "evt_r"}, budget: 3, lookups: 1, admitted: true},
		{name: "refused", ev: models.Event{ID: "evt_n", DedupKey: "emit:x", RootID: "evt_r"}, admit: refused, wantErr: refused, lookups: 1, admitted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &fakeStore{events: map[string]models.Event{"id:old": {ID: "evt_old", Type: "a.b"}}, budget: map[string]int{"evt_r": tt.budget}, down: tt.down}
			starter := &fakeStarter{}
			admitted := false
			admit := func() error { admitted = true; return tt.admit }
			acc, err := New(st, starter, Config{MaxChainEvents: 3}).Take(context.Background(), Request{Event: tt.ev, Admit: admit})
			var budget *BudgetError
			switch {
			case tt.name == "budget spent":
				if !errors.As(err, &budget) || budget.RootID != "evt_r" || budget.Limit != 3 {
					t.Fatalf("got %v, want a BudgetError of evt_r", err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
			case err != nil || acc.ID != tt.wantID || acc.Duplicate != tt.wantDup:
				t.Fatalf("got %+v, %v; want %s duplicate %v", acc, err, tt.wantID, tt.wantDup)
			}
			if len(starter.started) != tt.wantStart || st.lookups != tt.lookups || admitted != tt.admitted {
				t.Errorf("started %d, looked up %d, admitted %v; want %d, %d, %v",
					len(starter.started), st.lookups, admitted, tt.wantStart, tt.lookups, tt.admitted)
			}
		})
	}
}

// TestChild: depth counts up, the root is the first event, and past the limit a
// DepthError names the depth refused.
func TestChild(t *testing.T) {
	d, root, err := Child(Parent{EventID: "evt_1"})
	if err != nil || d != 1 || root != "evt_1" {
		t.Errorf("got %d %s %v, want 1 evt_1", d, root, err)
	}
	d, root, err = Child(Parent{EventID: "evt_2", Depth: 3, RootID: "evt_1"})
	if err != nil || d != 4 || root != "evt_1" {
		t.Errorf("got %d %s %v, want 4 evt_1", d, root, err)
	}
	var deep *DepthError
	if _, _, err = Child(Parent{EventID: "evt_2", Depth: models.MaxChainDepth}); !errors.As(err, &deep) || deep.Depth != models.MaxChainDepth+1 {
		t.Errorf("got %v, want a DepthError at %d", err, models.MaxChainDepth+1)
	}
}
