package delivery

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hookflow/hookflow/models"
)

// countingStore answers GetEvent, counting reads; the rest of Store is not used.
type countingStore struct {
	Store
	reads   atomic.Int32
	fail    atomic.Bool
	release chan struct{}
}

func (s *countingStore) GetEvent(_ context.Context, ws, id string) (*models.Event, error) {
	s.reads.Add(1)
	if s.release != nil {
		<-s.release
	}
	if s.fail.Load() {
		return nil, errors.New("database is down")
	}
	if ws != "ws_1" {
		return nil, models.ErrNotFound
	}
	return &models.Event{ID: id, WorkspaceID: ws, Type: "order.placed", Data: []byte(`{"a": 1}`)}, nil
}

func TestEventCacheSharesOneRead(t *testing.T) {
	st := &countingStore{release: make(chan struct{})}
	a := &Activities{store: st}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev, err := a.event(context.Background(), "ws_1", "evt_1")
			if err != nil || ev.ID != "evt_1" || string(ev.Data) != `{"a": 1}` {
				t.Errorf("event = %+v, %v", ev, err)
			}
		}()
	}
	for st.reads.Load() == 0 {
		runtime.Gosched() // until the first reader is in the store
	}
	close(st.release)
	wg.Wait()
	if n := st.reads.Load(); n != 1 {
		t.Errorf("50 concurrent deliveries read the event %d times, want once", n)
	}
	// Another workspace's key never gets the cached event.
	if _, err := a.event(context.Background(), "ws_2", "evt_1"); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("other workspace: %v", err)
	}
}

func TestEventCacheDoesNotKeepFailures(t *testing.T) {
	st := &countingStore{}
	a := &Activities{store: st}
	st.fail.Store(true)
	if _, err := a.event(context.Background(), "ws_1", "evt_2"); err == nil {
		t.Fatal("want the store's error")
	}
	st.fail.Store(false)
	if ev, err := a.event(context.Background(), "ws_1", "evt_2"); err != nil || ev.ID != "evt_2" {
		t.Fatalf("after the database came back: %+v, %v", ev, err)
	}
	if _, err := a.event(context.Background(), "ws_1", "evt_2"); err != nil {
		t.Fatal(err)
	}
	if n := st.reads.Load(); n != 2 {
		t.Errorf("%d reads, want 2 (the failure, then one cached read)", n)
	}
	// The ring evicts the oldest once full.
	for i := range eventCacheSize + 1 {
		if _, err := a.event(context.Background(), "ws_1", fmt.Sprintf("evt_fill_%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(a.recent.byID) > eventCacheSize {
		t.Errorf("cache holds %d events, bound is %d", len(a.recent.byID), eventCacheSize)
	}
}
