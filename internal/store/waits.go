package store

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/models"
)

type waitRow struct {
	ID             string `gorm:"primaryKey"`
	WorkspaceID    string
	RunID          string
	WorkflowID     string
	Kind           string
	StepIndex      int
	EventType      string
	MatchPath      string
	MatchValue     string
	Cond           string
	Scope          string
	BeganAt        time.Time
	ExpiresAt      *time.Time
	MatchedEventID string
}

func (waitRow) TableName() string { return "run_waits" }

func toWait(r waitRow) models.RunWait {
	w := models.RunWait{ID: r.ID, WorkspaceID: r.WorkspaceID, RunID: r.RunID, WorkflowID: r.WorkflowID, Kind: r.Kind,
		StepIndex: r.StepIndex, EventType: r.EventType, MatchPath: r.MatchPath, MatchValue: r.MatchValue, Cond: r.Cond,
		BeganAt: utc(r.BeganAt), ExpiresAt: utcp(r.ExpiresAt), MatchedEventID: r.MatchedEventID}
	if r.Scope != "" {
		w.Scope = json.RawMessage(r.Scope)
	}
	return w
}

// InsertWaits records waits, in one statement; a wait already recorded for its
// run, kind and step index is kept as it is (registering again is a no-op).
// It returns the waits as stored.
func (s *Store) InsertWaits(ctx context.Context, waits []models.RunWait) ([]models.RunWait, error) {
	if len(waits) == 0 {
		return nil, nil
	}
	rows := make([]waitRow, len(waits))
	for i, w := range waits {
		rows[i] = waitRow{ID: w.ID, WorkspaceID: w.WorkspaceID, RunID: w.RunID, WorkflowID: w.WorkflowID, Kind: w.Kind,
			StepIndex: w.StepIndex, EventType: w.EventType, MatchPath: w.MatchPath, MatchValue: w.MatchValue, Cond: w.Cond,
			Scope: string(w.Scope), BeganAt: ts(w.BeganAt), ExpiresAt: tsp(w.ExpiresAt), MatchedEventID: w.MatchedEventID}
	}
	db := s.db.WithContext(ctx)
	paths := make([]waitPathRow, len(waits))
	for i, w := range waits {
		paths[i] = waitPathRow{WorkspaceID: w.WorkspaceID, EventType: w.EventType, MatchPath: w.MatchPath}
	}
	err := db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&paths).Error; err != nil {
			return err
		}
		return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error
	})
	if err != nil {
		return nil, translate(err, "record waits")
	}
	var stored []waitRow
	for _, w := range waits {
		var r waitRow
		if err := db.Where("run_id = ? AND kind = ? AND step_index = ?", w.RunID, w.Kind, w.StepIndex).Take(&r).Error; err != nil {
			return nil, translate(err, "read wait")
		}
		stored = append(stored, r)
	}
	return convertAll(stored, func(r waitRow) (models.RunWait, error) { return toWait(r), nil })
}

type waitPathRow struct {
	WorkspaceID string `gorm:"primaryKey"`
	EventType   string `gorm:"primaryKey"`
	MatchPath   string `gorm:"primaryKey"`
}

func (waitPathRow) TableName() string { return "wait_paths" }

// WaitPaths lists the match paths waits for events of eventType have used in
// the workspace ("" stands for the waits with a condition): a primary-key
// read of a handful of rows, however many runs wait.
func (s *Store) WaitPaths(ctx context.Context, workspaceID, eventType string) ([]string, error) {
	var paths []string
	err := s.db.WithContext(ctx).Model(&waitPathRow{}).
		Where("workspace_id = ? AND event_type = ?", workspaceID, eventType).Order("match_path").
		Pluck("match_path", &paths).Error
	return paths, translate(err, "wait paths")
}

// OpenWaits returns up to limit open waits for events of eventType whose value
// at path is value (path "" and value "": the waits with a condition), oldest
// first.
func (s *Store) OpenWaits(ctx context.Context, workspaceID, eventType, path, value string, limit int) ([]models.RunWait, error) {
	var rows []waitRow
	err := s.db.WithContext(ctx).
		Where("workspace_id = ? AND event_type = ? AND match_path = ? AND match_value = ? AND matched_event_id = ''", workspaceID, eventType, path, value).
		Order("id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, translate(err, "open waits")
	}
	return convertAll(rows, func(r waitRow) (models.RunWait, error) { return toWait(r), nil })
}

// CountCondWaits is how many open waits with a condition there are for events
// of eventType in the workspace.
func (s *Store) CountCondWaits(ctx context.Context, workspaceID, eventType string) (int, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&waitRow{}).
		Where("workspace_id = ? AND event_type = ? AND match_path = '' AND matched_event_id = ''", workspaceID, eventType).Count(&n).Error
	return int(n), translate(err, "count waits")
}

// ClaimWait gives the wait to eventID unless another event took it first (or it
// is gone: expired, or its run ended); it reports whether eventID holds it. A
// claim by the same event again holds (a retried plan).
func (s *Store) ClaimWait(ctx context.Context, waitID, eventID string) (bool, error) {
	res := s.db.WithContext(ctx).Model(&waitRow{}).
		Where("id = ? AND (matched_event_id = '' OR matched_event_id = ?)", waitID, eventID).
		Update("matched_event_id", eventID)
	if res.Error != nil {
		return false, translate(res.Error, "claim wait")
	}
	return res.RowsAffected == 1, nil
}

// CloseWait ends a wait and returns the event that took it ("" when none did:
// the wait timed out, and no event can take it any more). A wait already closed
// is models.ErrNotFound.
func (s *Store) CloseWait(ctx context.Context, waitID string) (matchedEventID string, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Deleting an open wait first decides the race with a claim: a claim
		// after it finds nothing, one before it leaves the row to read.
		res := tx.Where("id = ? AND matched_event_id = ''", waitID).Delete(&waitRow{})
		if res.Error != nil || res.RowsAffected == 1 {
			return res.Error
		}
		var r waitRow
		if err := tx.Where("id = ?", waitID).Take(&r).Error; err != nil {
			return err
		}
		matchedEventID = r.MatchedEventID
		return tx.Where("id = ?", waitID).Delete(&waitRow{}).Error
	})
	return matchedEventID, translate(err, "close wait "+waitID)
}

// DeleteRunWaits removes every wait of a run (it ended).
func (s *Store) DeleteRunWaits(ctx context.Context, runID string) error {
	return translate(s.db.WithContext(ctx).Where("run_id = ?", runID).Delete(&waitRow{}).Error, "delete waits of "+runID)
}

// EventsOfTypeSince returns up to limit events of eventType in the workspace
// accepted at or after since, oldest first: what a wait registered at since
// reads to catch an event accepted while it was being recorded. It reads the
// events index by id, whose ULIDs start with their time.
func (s *Store) EventsOfTypeSince(ctx context.Context, workspaceID, eventType string, since time.Time, limit int) ([]models.Event, error) {
	var rows []eventRow
	err := s.db.WithContext(ctx).
		Where("workspace_id = ? AND id >= ? AND type = ? AND created_at >= ?", workspaceID, ids.Floor(ids.Event, since.Add(-time.Second)), eventType, ts(since)).
		Order("id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, translate(err, "events since")
	}
	return convertAll(rows, toEvent)
}

// SetRunWaiting records what a run not yet started waits for (its turn under a
// concurrency limit or throttle); "" when it waits no more and is about to
// start (pending).
func (s *Store) SetRunWaiting(ctx context.Context, runID, waitingFor string) error {
	status := models.RunWaiting
	if waitingFor == "" {
		status = models.RunPending
	}
	res := s.db.WithContext(ctx).Model(&runRow{}).Where("id = ? AND status IN ?", runID,
		[]string{string(models.RunPending), string(models.RunWaiting)}).
		Updates(map[string]any{"status": string(status), "waiting_for": waitingFor, "updated_at": ts(time.Now())})
	return translate(res.Error, "set run waiting")
}

// CancelRun records a run as cancelled for reason: the run and every step not
// finished, and its waits removed. A run that has finished (succeeded, failed,
// skipped) stays as it ended; one already cancelled, or whose cancellation
// was noted (NoteCancel), keeps that reason.
func (s *Store) CancelRun(ctx context.Context, runID, reason string, at time.Time) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&runRow{}).Where("id = ? AND status NOT IN ?", runID,
			[]string{string(models.RunSucceeded), string(models.RunFailed), string(models.RunSkipped), string(models.RunCancelled)}).
			Updates(map[string]any{"status": string(models.RunCancelled), "waiting_for": "", "finished_at": ts(at), "updated_at": ts(at),
				// A reason noted first (NoteCancel) is kept.
				"reason": gorm.Expr("CASE WHEN reason = '' THEN ? ELSE reason END", reason)})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return nil // finished, or cancelled already
		}
		unfinished := []string{string(models.RunPending), string(models.RunRunning), string(models.RunWaiting)}
		if err := tx.Model(&runStepRow{}).Where("run_id = ? AND status IN ?", runID, unfinished).
			Updates(map[string]any{"status": string(models.RunCancelled), "waiting_for": "", "finished_at": ts(at)}).Error; err != nil {
			return err
		}
		return tx.Where("run_id = ?", runID).Delete(&waitRow{}).Error
	})
	return translate(err, "cancel run "+runID)
}

// MoveRunWaits points a run's waits at workflowID: a retried run runs under a
// workflow of its own (workflows.RunRetryWorkflowID), which its cancel_on
// must reach.
func (s *Store) MoveRunWaits(ctx context.Context, runID, workflowID string) error {
	err := s.db.WithContext(ctx).Model(&waitRow{}).Where("run_id = ? AND workflow_id <> ?", runID, workflowID).
		Update("workflow_id", workflowID).Error
	return translate(err, "move waits of "+runID)
}

// NoteCancel records why a run is about to be cancelled, before its workflow
// is asked to cancel (and records itself cancelled): unless it has finished.
func (s *Store) NoteCancel(ctx context.Context, runID, reason string) error {
	err := s.db.WithContext(ctx).Model(&runRow{}).Where("id = ? AND status NOT IN ?", runID,
		[]string{string(models.RunSucceeded), string(models.RunFailed), string(models.RunSkipped), string(models.RunCancelled)}).
		Update("reason", reason).Error
	return translate(err, "note cancel of "+runID)
}
