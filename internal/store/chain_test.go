package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookflow/hookflow/models"
)

// TestReserveChainEvent: concurrent reservations against one root never take
// more than the limit, and other roots have their own budget; the root id an
// event carries is stored and read back.
func TestReserveChainEvent(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		const limit, tries = 7, 20
		var taken atomic.Int32
		var wg sync.WaitGroup
		for range tries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.ReserveChainEvent(ctx, "evt_root1", limit, now)
				if err != nil {
					t.Errorf("reserve: %v", err)
				}
				if ok {
					taken.Add(1)
				}
			}()
		}
		wg.Wait()
		if got := taken.Load(); got != limit {
			t.Errorf("%d of %d reservations taken, want the limit %d", got, tries, limit)
		}
		if ok, err := s.ReserveChainEvent(ctx, "evt_root2", limit, now); !ok || err != nil {
			t.Errorf("another root: %v, %v; want its own budget", ok, err)
		}

		ev := event("evt_child", "emit:x")
		ev.RootID, ev.Depth = "evt_root1", 2
		if _, _, err := s.InsertEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetEvent(ctx, models.DefaultWorkspaceID, "evt_child")
		if err != nil || got.RootID != "evt_root1" || got.Root() != "evt_root1" {
			t.Errorf("read back %+v, %v; want root evt_root1", got, err)
		}
	})
}
