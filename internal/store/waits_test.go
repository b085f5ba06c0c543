package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
)

func wait(run, path, value string, began time.Time) models.RunWait {
	return models.RunWait{ID: ids.New("wait"), WorkspaceID: models.DefaultWorkspaceID, RunID: run, WorkflowID: "run/" + run,
		Kind: models.WaitEvent, EventType: "payment.succeeded", MatchPath: path, MatchValue: value, BeganAt: began}
}

// TestWaits: waits are found by path and value, registered once per run and
// step, taken by one event only, and an event that takes a wait wins over a
// timeout that comes after it (and loses to one before it).
func TestWaits(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a, b := wait("run_a", "data.order_id", `"o1"`, t0), wait("run_b", "data.order_id", `"o2"`, t0)
		c := wait("run_c", "", "", t0)
		c.Cond = "async.data.x == event.data.x"
		if _, err := s.InsertWaits(ctx, []models.RunWait{a, b, c}); err != nil {
			t.Fatal(err)
		}
		again := wait("run_a", "data.order_id", `"o1"`, t0.Add(time.Hour))
		stored, err := s.InsertWaits(ctx, []models.RunWait{again})
		if err != nil || len(stored) != 1 || stored[0].ID != a.ID || !stored[0].BeganAt.Equal(t0) {
			t.Fatalf("registering again: %+v, %v; want the first wait", stored, err)
		}
		paths, err := s.WaitPaths(ctx, models.DefaultWorkspaceID, "payment.succeeded")
		if err != nil || fmt.Sprint(paths) != "[ data.order_id]" {
			t.Errorf("paths %q, %v", paths, err)
		}
		open, _ := s.OpenWaits(ctx, models.DefaultWorkspaceID, "payment.succeeded", "data.order_id", `"o1"`, 10)
		if len(open) != 1 || open[0].RunID != "run_a" {
			t.Errorf("open waits for o1: %+v", open)
		}
		if n, _ := s.CountCondWaits(ctx, models.DefaultWorkspaceID, "payment.succeeded"); n != 1 {
			t.Errorf("%d waits with a condition, want 1", n)
		}
		if ok, _ := s.ClaimWait(ctx, a.ID, "evt_1"); !ok {
			t.Error("first claim refused")
		}
		if ok, _ := s.ClaimWait(ctx, a.ID, "evt_1"); !ok {
			t.Error("the same event's claim again refused")
		}
		if ok, _ := s.ClaimWait(ctx, a.ID, "evt_2"); ok {
			t.Error("a second event took a taken wait")
		}
		if open, _ := s.OpenWaits(ctx, models.DefaultWorkspaceID, "payment.succeeded", "data.order_id", `"o1"`, 10); len(open) != 0 {
			t.Errorf("a taken wait is still open: %+v", open)
		}
		if got, err := s.CloseWait(ctx, a.ID); err != nil || got != "evt_1" {
			t.Errorf("closing the taken wait: %q, %v; want evt_1", got, err)
		}
		if got, err := s.CloseWait(ctx, b.ID); err != nil || got != "" {
			t.Errorf("closing an open wait (timeout): %q, %v", got, err)
		}
		if ok, _ := s.ClaimWait(ctx, b.ID, "evt_3"); ok {
			t.Error("an event took a wait after its timeout")
		}
		if err := s.DeleteRunWaits(ctx, "run_c"); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.CountCondWaits(ctx, models.DefaultWorkspaceID, "payment.succeeded"); n != 0 {
			t.Errorf("%d waits with a condition after the run ended", n)
		}
	})
}

// TestEnsureRunLimited: one token per period and key; a run planned again
// spends nothing; another key has its own bucket.
func TestEnsureRunLimited(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		run := func(ev, key string, at time.Time) models.RunStatus {
			r := &models.AutomationRun{ID: ids.New(ids.Run), WorkspaceID: models.DefaultWorkspaceID, AutomationID: "auto_l", AutomationVersion: 1,
				EventID: ev, WorkflowID: "run/auto_l/" + ev, Status: models.RunPending, CreatedAt: at, UpdatedAt: at,
				Steps: []models.RunStep{{ID: "one", Action: "delay", Status: models.RunPending}}}
			got, err := s.EnsureRunLimited(ctx, r, &models.RunLimit{Key: key, Limit: 1, Period: time.Minute, Now: at, Reason: "limited"})
			if err != nil {
				t.Fatal(err)
			}
			return got.Status
		}
		if st := run("evt_l1", "k", t0); st != models.RunPending {
			t.Errorf("first run %s", st)
		}
		if st := run("evt_l1", "k", t0.Add(time.Second)); st != models.RunPending {
			t.Errorf("the first run planned again: %s, want it as it was", st)
		}
		if st := run("evt_l2", "k", t0.Add(time.Second)); st != models.RunSkipped {
			t.Errorf("second run in the minute %s, want skipped", st)
		}
		if st := run("evt_l3", "other", t0.Add(time.Second)); st != models.RunPending {
			t.Errorf("another key's run %s", st)
		}
		if st := run("evt_l4", "k", t0.Add(61*time.Second)); st != models.RunPending {
			t.Errorf("a run a minute later %s", st)
		}
	})
}

// BenchmarkWaitLookup is what an incoming event pays to find the runs waiting
// for it, with n runs waiting on other values of the same path: the paths
// (one primary-key read) and the waits with its value (one index read).
func BenchmarkWaitLookup(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, testenv.NewPostgres(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	have := 0
	for _, n := range []int{0, 1_000, 10_000, 100_000} {
		for have < n {
			var batch []models.RunWait
			for i := 0; i < 1000 && have < n; i++ {
				batch = append(batch, wait(fmt.Sprintf("run_%d", have), "data.order_id", fmt.Sprintf(`"o%d"`, have), t0))
				have++
			}
			if _, err := s.InsertWaits(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.db.Exec("ANALYZE run_waits").Error; err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("waiting=%d", n), func(b *testing.B) {
			for b.Loop() {
				paths, err := s.WaitPaths(ctx, models.DefaultWorkspaceID, "payment.succeeded")
				if err != nil {
					b.Fatal(err)
				}
				for _, p := range paths {
					if _, err := s.OpenWaits(ctx, models.DefaultWorkspaceID, "payment.succeeded", p, `"o-none"`, 10_000); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
