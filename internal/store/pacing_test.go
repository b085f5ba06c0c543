package store

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookflow/hookflow/models"
)

// TestReserveSendSlot: concurrent reservations get distinct slots one interval
// apart; a slot further off than maxWait is not taken.
func TestReserveSendSlot(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		ep := endpoint(models.DefaultWorkspaceID, "ep_paced", "*")
		ep.RateLimitPerSecond = 10
		if err := s.CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
		got, _ := s.GetEndpoint(ctx, ep.WorkspaceID, ep.ID)
		if got.RateLimitPerSecond != 10 {
			t.Errorf("rate limit read back %d", got.RateLimitPerSecond)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		const n, interval = 12, 100 * time.Millisecond
		var (
			mu    sync.Mutex
			waits []time.Duration
			wg    sync.WaitGroup
		)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w, ok, err := s.ReserveSendSlot(ctx, ep.ID, interval, 5*time.Second, now)
				if err != nil || !ok {
					t.Errorf("reserve: %v, %v", ok, err)
					return
				}
				mu.Lock()
				waits = append(waits, w)
				mu.Unlock()
			}()
		}
		wg.Wait()
		slices.Sort(waits)
		for i, w := range waits {
			if want := time.Duration(i) * interval; w != want {
				t.Fatalf("waits %v: slot %d is %v, want %v", waits, i, w, want)
			}
		}
		// The next free slot is 1.2 s away: over a 1 s maxWait nothing is taken.
		w, ok, err := s.ReserveSendSlot(ctx, ep.ID, interval, time.Second, now)
		if err != nil || ok || w != n*interval {
			t.Errorf("over maxWait: wait %v reserved %v err %v; want %v, not reserved", w, ok, err, n*interval)
		}
		if w, ok, _ := s.ReserveSendSlot(ctx, ep.ID, interval, time.Second, now.Add(time.Hour)); !ok || w != 0 {
			t.Errorf("an hour later: wait %v reserved %v; want at once", w, ok)
		}
		if _, _, err := s.ReserveSendSlot(ctx, "ep_missing", interval, time.Second, now); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("missing endpoint: %v", err)
		}
	})
}
