package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hookflow/hookflow/models"
)

func automation(id, eventType, source string) *models.Automation {
	return &models.Automation{ID: id, WorkspaceID: models.DefaultWorkspaceID, Name: "a " + id, Enabled: true, Version: 1,
		Trigger:   models.Trigger{EventType: eventType, SourceID: source},
		Steps:     []models.Step{{ID: "one", Action: "event.emit", Params: json.RawMessage(`{"type":"x.y"}`)}},
		CreatedAt: t0, UpdatedAt: t0}
}

func TestAutomationsAndRuns(t *testing.T) {
	backends(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		ws := models.DefaultWorkspaceID
		for _, a := range []*models.Automation{automation("auto_1", "review.created", ""), automation("auto_2", "*", ""),
			automation("auto_3", "review.created", "src_a"), automation("auto_4", "order.placed", "")} {
			if err := s.CreateAutomation(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.AutomationsForEvent(ctx, ws, "review.created", "")
		if err != nil || len(got) != 2 || got[0].ID != "auto_1" || got[1].ID != "auto_2" {
			t.Errorf("for review.created: %v %v", got, err)
		}
		if got, _ = s.AutomationsForEvent(ctx, ws, "review.created", "src_a"); len(got) != 3 {
			t.Errorf("from src_a: %d automations, want 3", len(got))
		}
		a, _ := s.GetAutomation(ctx, ws, "auto_1")
		a.Name, a.Version, a.Enabled = "renamed", 2, false
		if err := s.UpdateAutomation(ctx, a); err != nil {
			t.Fatal(err)
		}
		if got, _ = s.AutomationsForEvent(ctx, ws, "review.created", ""); len(got) != 1 {
			t.Errorf("disabled automation still matches: %d", len(got))
		}
		v1, err := s.GetAutomationVersion(ctx, ws, "auto_1", 1)
		if err != nil || v1.Name != "a auto_1" || v1.Version != 1 {
			t.Errorf("version 1 = %+v %v", v1, err)
		}
		if _, err := s.GetAutomationVersion(ctx, "ws_other", "auto_1", 1); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("other workspace version: %v", err)
		}
		if _, err := s.GetAutomation(ctx, "ws_other", "auto_1"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("other workspace: %v", err)
		}

		run := &models.AutomationRun{ID: "run_1", WorkspaceID: ws, AutomationID: "auto_2", AutomationVersion: 1, EventID: "evt_1", WorkflowID: "run/auto_2/evt_1",
			Status: models.RunPending, CreatedAt: t0, UpdatedAt: t0,
			Steps: []models.RunStep{{ID: "one", Action: "event.emit", Status: models.RunPending}, {ID: "two", Action: "slack.post", Status: models.RunPending}}}
		if _, err := s.EnsureRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		run.ID = "run_2"
		stored, err := s.EnsureRun(ctx, run)
		if err != nil || stored.ID != "run_1" || len(stored.Steps) != 2 {
			t.Fatalf("EnsureRun again: %+v %v; want run_1", stored, err)
		}
		now := t0.Add(time.Second)
		if err := s.SetRunStep(ctx, "run_1", 0, models.RunStep{Status: models.RunSucceeded, Output: json.RawMessage(`{"event_id":"evt_2"}`), StartedAt: &t0, FinishedAt: &now}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetRunStep(ctx, "run_1", 1, models.RunStep{Status: models.RunFailed, Error: "slack: HTTP 404 no_service", Attempts: 3}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetRunStatus(ctx, "run_1", models.RunFailed, "step two failed", &now); err != nil {
			t.Fatal(err)
		}
		r, err := s.GetRun(ctx, ws, "run_1")
		if err != nil || r.Status != models.RunFailed || r.Steps[0].Status != models.RunSucceeded || string(r.Steps[0].Output) != `{"event_id":"evt_2"}` ||
			r.Steps[1].Error == "" || r.Steps[1].Attempts != 3 || r.FinishedAt == nil {
			t.Fatalf("run = %+v %v", r, err)
		}
		if err := s.ResetRun(ctx, "run_1"); err != nil {
			t.Fatal(err)
		}
		r, _ = s.GetRunAnyWorkspace(ctx, "run_1")
		if r.Status != models.RunRunning || r.Steps[0].Status != models.RunSucceeded || r.Steps[1].Status != models.RunPending || r.Steps[1].Attempts != 0 || r.FinishedAt != nil {
			t.Errorf("after reset (the failed step's schedule starts over): %+v", r)
		}
		runs, err := s.RunsForEvent(ctx, ws, "evt_1")
		if err != nil || len(runs) != 1 {
			t.Errorf("RunsForEvent = %v %v", runs, err)
		}
		list, _, err := s.ListRuns(ctx, ws, "auto_2", models.Page{})
		if err != nil || len(list) != 1 || len(list[0].Steps) != 2 {
			t.Errorf("ListRuns = %v %v", list, err)
		}
		if err := s.DeleteAutomation(ctx, ws, "auto_2"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetRun(ctx, ws, "run_1"); err != nil {
			t.Errorf("runs must outlive their automation: %v", err)
		}
	})
}
