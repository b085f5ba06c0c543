package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/hookflow/hookflow/models"
)

func TestApplyPoints(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		ws := models.DefaultWorkspaceID
		if tiers, err := s.GetTiers(ctx, ws); err != nil || len(tiers) != 4 || tiers[2].Name != "Gold" {
			t.Errorf("default tiers = %v, %v", tiers, err)
		}
		if err := s.SetTiers(ctx, ws, []models.Tier{{Name: "Bronze", MinPoints: 0}, {Name: "Silver", MinPoints: 500}}); err != nil {
			t.Fatal(err)
		}
		ch, err := s.ApplyPoints(ctx, ws, "cus_1", "Ann", 300, "review", "k1", t0)
		if err != nil || !ch.Applied || ch.Member.Tier != "Bronze" || ch.PreviousTier != "Bronze" || ch.Member.Balance != 300 {
			t.Fatalf("first award: %+v %v", ch, err)
		}
		ch, err = s.ApplyPoints(ctx, ws, "cus_1", "", 300, "review", "k2", t0)
		if err != nil || ch.Member.Tier != "Silver" || ch.PreviousTier != "Bronze" || ch.Entry.TierAfter != "Silver" || ch.Member.Name != "Ann" {
			t.Fatalf("crossing 500: %+v %v", ch, err)
		}
		again, err := s.ApplyPoints(ctx, ws, "cus_1", "", 300, "review", "k2", t0)
		if err != nil || again.Applied || again.Entry.ID != ch.Entry.ID || again.Member.Balance != 600 {
			t.Errorf("same key again: %+v %v; want the first result, not applied", again, err)
		}
		if _, err := s.ApplyPoints(ctx, ws, "cus_1", "", -601, "redeem", "k3", t0); !errors.Is(err, models.ErrInsufficientPoints) || !errors.Is(err, models.ErrConflict) {
			t.Errorf("overdraw: %v, want ErrInsufficientPoints", err)
		}
		ch, err = s.ApplyPoints(ctx, ws, "cus_1", "", -100, "redeem", "k4", t0)
		if err != nil || ch.Member.Balance != 500 || ch.Member.LifetimePoints != 600 || ch.Member.Tier != "Silver" {
			t.Errorf("redeem: %+v %v", ch, err)
		}

		// A storm of one key applies once.
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.ApplyPoints(ctx, ws, "cus_2", "Bob", 10, "x", "storm", t0); err != nil {
					t.Errorf("storm: %v", err)
				}
			}()
		}
		wg.Wait()
		if m, err := s.GetMember(ctx, ws, "cus_2"); err != nil || m.Balance != 10 {
			t.Errorf("after the storm: %+v %v, want balance 10", m, err)
		}
		entries, _, err := s.Ledger(ctx, ws, "cus_1", models.Page{})
		if err != nil || len(entries) != 3 || entries[0].IdempotencyKey != "k4" {
			t.Errorf("ledger = %+v %v, want 3 entries newest first", entries, err)
		}
		if _, err := s.GetMember(ctx, "ws_other", "cus_1"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("other workspace: %v", err)
		}
	})
}

// TestApplyPointsKeyReused: the same key with the same customer and delta answers
// the first change; with another customer or delta it is refused, naming what
// differs, and nothing changes.
func TestApplyPointsKeyReused(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		ws := models.DefaultWorkspaceID
		if _, err := s.ApplyPoints(ctx, ws, "cus_1", "Ann", 500, "seed", "seed1", t0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ApplyPoints(ctx, ws, "cus_2", "Bob", 500, "seed", "seed2", t0); err != nil {
			t.Fatal(err)
		}
		first, err := s.ApplyPoints(ctx, ws, "cus_1", "", -100, "redeem: mug", "api:r1", t0)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name     string
			customer string
			delta    int64
			wantIn   string
		}{
			{"another customer", "cus_2", -100, `customer_id "cus_1" (this request: "cus_2")`},
			{"another amount", "cus_1", -50, "points 100 (this request: 50)"},
			{"both", "cus_2", -50, `customer_id "cus_1" (this request: "cus_2") and points 100 (this request: 50)`},
		} {
			_, err := s.ApplyPoints(ctx, ws, tt.customer, "", tt.delta, "redeem: mug", "api:r1", t0)
			var kr *models.KeyReusedError
			if !errors.As(err, &kr) || !errors.Is(err, models.ErrConflict) || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("%s: %v; want a KeyReusedError naming %s", tt.name, err, tt.wantIn)
			}
		}
		again, err := s.ApplyPoints(ctx, ws, "cus_1", "", -100, "redeem: mug", "api:r1", t0)
		if err != nil || again.Applied || again.Entry.ID != first.Entry.ID {
			t.Errorf("same request again: %+v %v; want the first entry, not applied", again, err)
		}
		for cus, want := range map[string]int64{"cus_1": 400, "cus_2": 500} {
			if m, err := s.GetMember(ctx, ws, cus); err != nil || m.Balance != want {
				t.Errorf("%s balance = %+v %v, want %d", cus, m, err, want)
			}
		}
	})
}
