package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hookflow/hookflow/models"
)

func batchEvent(id, key, batchID string) models.Event {
	ev := *event(id, key)
	ev.BatchID = batchID
	ev.Headers = map[string]string{"X-Shop": "a"}
	return ev
}

// TestEventBatches: a batch's insert decides duplicates (against the stored
// events) in order, the claim returns the batch's own events and makes the
// batch unabandonable, an abandon undoes an unclaimed batch, and an unclaimed
// batch is listed for the sweep once old.
func TestEventBatches(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, _, err := s.InsertEvent(ctx, event("evt_0", "id:order-0")); err != nil {
			t.Fatal(err)
		}
		b := models.EventBatch{ID: "bat_1", WorkspaceID: models.DefaultWorkspaceID, EventIDs: []string{"evt_1", "evt_2", "evt_3"}, CreatedAt: t0}
		evs := []models.Event{batchEvent("evt_1", "id:order-1", "bat_1"), batchEvent("evt_2", "id:order-0", "bat_1"), batchEvent("evt_3", "id:order-3", "bat_1")}
		dups, err := s.InsertEventBatch(ctx, b, evs)
		if err != nil {
			t.Fatal(err)
		}
		if len(dups) != 3 || dups[0] != nil || dups[1] == nil || dups[1].ID != "evt_0" || dups[2] != nil {
			t.Fatalf("duplicates %+v: want only evt_2, as a duplicate of evt_0", dups)
		}
		open, err := s.OpenEventBatches(ctx, t0.Add(time.Second), 10)
		if err != nil || len(open) != 1 || open[0].ID != "bat_1" || len(open[0].EventIDs) != 3 {
			t.Fatalf("open batches %+v (%v)", open, err)
		}
		if open, _ := s.OpenEventBatches(ctx, t0, 10); len(open) != 0 {
			t.Errorf("a batch created at the bound is listed: %+v", open)
		}
		got, err := s.ClaimEventBatch(ctx, "bat_1", b.EventIDs)
		if err != nil || len(got) != 2 || got[0].ID != "evt_1" || got[1].ID != "evt_3" {
			t.Fatalf("claim: %+v (%v), want evt_1 and evt_3", got, err)
		}
		var data map[string]any
		if json.Unmarshal(got[0].Data, &data) != nil || data["total"] != 12.5 || got[0].Headers["X-Shop"] != "a" || got[0].BatchID != "bat_1" {
			t.Errorf("claimed event %+v lost its data, headers or batch", got[0])
		}
		if again, err := s.ClaimEventBatch(ctx, "bat_1", b.EventIDs); err != nil || len(again) != 2 {
			t.Errorf("a retried claim read %d events (%v), want the same 2", len(again), err)
		}
		if abandoned, err := s.AbandonEventBatch(ctx, "bat_1"); err != nil || abandoned {
			t.Errorf("abandon of a claimed batch: %v %v, want false", abandoned, err)
		}
		if _, err := s.GetEventBatch(ctx, "bat_1"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("claimed batch: %v, want not found", err)
		}

		b2 := models.EventBatch{ID: "bat_2", WorkspaceID: models.DefaultWorkspaceID, EventIDs: []string{"evt_4"}, CreatedAt: t0}
		if _, err := s.InsertEventBatch(ctx, b2, []models.Event{batchEvent("evt_4", "id:order-4", "bat_2")}); err != nil {
			t.Fatal(err)
		}
		if rec, err := s.GetEventBatch(ctx, "bat_2"); err != nil || rec.EventIDs[0] != "evt_4" {
			t.Errorf("unclaimed batch: %+v %v", rec, err)
		}
		if abandoned, err := s.AbandonEventBatch(ctx, "bat_2"); err != nil || !abandoned {
			t.Fatalf("abandon: %v %v", abandoned, err)
		}
		if _, err := s.GetEvent(ctx, models.DefaultWorkspaceID, "evt_4"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("abandoned batch's event: %v, want deleted", err)
		}
		if got, _ := s.ClaimEventBatch(ctx, "bat_2", b2.EventIDs); len(got) != 0 {
			t.Errorf("claim of an abandoned batch found %+v", got)
		}
		// Its key is free again: a retry is a new event.
		if dups, err := s.InsertEventBatch(ctx, models.EventBatch{ID: "bat_3", WorkspaceID: models.DefaultWorkspaceID, EventIDs: []string{"evt_5"}, CreatedAt: t0},
			[]models.Event{batchEvent("evt_5", "id:order-4", "bat_3")}); err != nil || dups[0] != nil {
			t.Errorf("retry after abandon: %+v %v", dups, err)
		}
		if _, err := s.InsertEventBatch(ctx, models.EventBatch{ID: "bat_4", WorkspaceID: models.DefaultWorkspaceID},
			[]models.Event{batchEvent("evt_6", "id:order-6", "bat_other")}); err == nil {
			t.Error("an event of another batch was accepted")
		}
	})
}
