package actions

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/ratelimit"
	"github.com/hookflow/hookflow/models"
)

// fakeChain is an in-memory ChainStore and EventStarter.
type fakeChain struct {
	mu      sync.Mutex
	events  map[string]models.Event // by dedup key
	budgets map[string]int
}

func newFakeChain() *fakeChain {
	return &fakeChain{events: map[string]models.Event{}, budgets: map[string]int{}}
}

func (f *fakeChain) EventByDedupKey(_ context.Context, _, key string) (*models.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ev, ok := f.events[key]; ok {
		return &ev, nil
	}
	return nil, models.ErrNotFound
}

func (f *fakeChain) ReserveChainEvent(_ context.Context, root string, limit int, _ time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.budgets[root] >= limit {
		return false, nil
	}
	f.budgets[root]++
	return true, nil
}

func (f *fakeChain) StartEvent(_ context.Context, ev models.Event, _ string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events[ev.DedupKey] = ev
	return ev.ID, false, nil
}

// TestEmitBounds: an emit is refused for good past the chain's budget and the
// size limit, waits (retryable, with a delay) past the workspace's rate, and a
// retried step finds the event it emitted without spending budget again.
func TestEmitBounds(t *testing.T) {
	ctx := context.Background()
	f := newFakeChain()
	e := NewEmitter(f, EmitterConfig{Store: f, MaxChainEvents: 3, MaxEventBytes: 100})
	sc := StepContext{WorkspaceID: "ws_1", EventID: "evt_root", Depth: 0, Key: "run_1:s"}

	first, err := e.Emit(ctx, sc, "a", "x.y", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.Emit(ctx, sc, "a", "x.y", map[string]any{})
	if err != nil || again != first || f.budgets["evt_root"] != 1 {
		t.Errorf("retried emit: %s, %v, budget used %d; want %s and 1", again, err, f.budgets["evt_root"], first)
	}
	if ev := f.events["emit:run_1:s:a"]; ev.RootID != "evt_root" || ev.Depth != 1 {
		t.Errorf("emitted %+v, want root evt_root at depth 1", ev)
	}
	// A step of a run on a caused event spends the root's budget.
	child := StepContext{WorkspaceID: "ws_1", EventID: "evt_child", RootID: "evt_root", Depth: 1, Key: "run_2:s"}
	for _, suffix := range []string{"b", "c"} {
		if _, err := e.Emit(ctx, child, suffix, "x.y", map[string]any{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = e.Emit(ctx, child, "d", "x.y", map[string]any{})
	var fe *finalError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "HOOKFLOW_MAX_CHAIN_EVENTS") {
		t.Errorf("past the budget: %v, want a final error naming HOOKFLOW_MAX_CHAIN_EVENTS", err)
	}

	_, err = e.Emit(ctx, StepContext{WorkspaceID: "ws_1", EventID: "evt_2", Key: "k"}, "big", "x.y", map[string]any{"s": strings.Repeat("x", 200)})
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "HOOKFLOW_MAX_EVENT_BYTES") {
		t.Errorf("too big: %v, want a final error naming HOOKFLOW_MAX_EVENT_BYTES", err)
	}

	limited := NewEmitter(f, EmitterConfig{Store: f, Limiter: ratelimit.New(1, 1)})
	if _, err := limited.Emit(ctx, StepContext{WorkspaceID: "ws_2", EventID: "evt_3", Key: "k1"}, "a", "x.y", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	_, err = limited.Emit(ctx, StepContext{WorkspaceID: "ws_2", EventID: "evt_3", Key: "k2"}, "a", "x.y", map[string]any{})
	var ra *retryAfterError
	if !errors.As(err, &ra) || ra.after <= 0 || errors.As(err, &fe) {
		t.Errorf("over the rate: %v, want a retryable error with a delay", err)
	}
}
