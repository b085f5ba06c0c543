package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/hookflow/hookflow/models"
)

// The event batches of micro-batching at ingest (docs/BATCHING.md): the outbox
// between the app database, which decides duplicates, and Temporal, which runs
// what was accepted.

type eventBatchRow struct {
	ID          string `gorm:"primaryKey"`
	WorkspaceID string
	EventIDs    string
	CreatedAt   time.Time
}

func (eventBatchRow) TableName() string { return "event_batches" }

func toEventBatch(r eventBatchRow) (models.EventBatch, error) {
	b := models.EventBatch{ID: r.ID, WorkspaceID: r.WorkspaceID, CreatedAt: utc(r.CreatedAt)}
	if err := json.Unmarshal([]byte(r.EventIDs), &b.EventIDs); err != nil {
		return b, fmt.Errorf("batch %s: event ids: %w", r.ID, err)
	}
	return b, nil
}

// InsertEventBatch records batch b, then each of its events (one multi-row
// statement) unless the workspace already holds an event with that dedup key.
// It returns, for each event in order, nil when this call inserted it, else the
// stored event with its key (a duplicate). The batch row comes first and alone:
// should the events' insert fail or the process die after it, the row names
// events that do not exist, and claiming it finds nothing to do. All events must
// belong to b's workspace and carry b.ID as their BatchID.
func (s *Store) InsertEventBatch(ctx context.Context, b models.EventBatch, evs []models.Event) ([]*models.Event, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	idsJSON, err := json.Marshal(b.EventIDs)
	if err != nil {
		return nil, err
	}
	rows := make([]eventRow, len(evs))
	keys := make([]string, len(evs))
	for i := range evs {
		if evs[i].DedupKey == "" || evs[i].WorkspaceID != b.WorkspaceID || evs[i].BatchID != b.ID {
			return nil, fmt.Errorf("insert batch %s: event %s has no dedup key or is not of the batch", b.ID, evs[i].ID)
		}
		if rows[i], err = fromEvent(&evs[i]); err != nil {
			return nil, err
		}
		keys[i] = evs[i].DedupKey
	}
	db := s.db.WithContext(ctx)
	br := eventBatchRow{ID: b.ID, WorkspaceID: b.WorkspaceID, EventIDs: string(idsJSON), CreatedAt: ts(b.CreatedAt)}
	inserted, err := s.insertBatchRows(db, br, rows)
	if err != nil {
		return nil, err
	}
	out := make([]*models.Event, len(evs))
	if inserted == int64(len(rows)) {
		return out, nil // all new: the common case, one statement
	}
	var stored []eventRow
	if err := db.Where("workspace_id = ? AND dedup_key IN ?", b.WorkspaceID, keys).Find(&stored).Error; err != nil {
		return nil, translate(err, "read duplicates of batch")
	}
	byKey := make(map[string]eventRow, len(stored))
	for _, r := range stored {
		byKey[r.DedupKey] = r
	}
	for i := range evs {
		r, ok := byKey[evs[i].DedupKey]
		if !ok {
			return nil, fmt.Errorf("event %s of batch %s neither inserted nor found by its key", evs[i].ID, b.ID)
		}
		if r.ID == evs[i].ID {
			continue
		}
		orig, err := toEvent(r)
		if err != nil {
			return nil, err
		}
		out[i] = &orig
	}
	return out, nil
}

// insertBatchRows inserts the batch's row and then its events, skipping those
// whose key (or id) exists, and returns how many events it inserted. On
// Postgres both go in one statement (one round trip and one commit, on the path
// of every caller's 202); elsewhere in two, the batch row first.
func (s *Store) insertBatchRows(db *gorm.DB, br eventBatchRow, rows []eventRow) (int64, error) {
	if s.dialect != Postgres {
		if err := db.Create(&br).Error; err != nil {
			return 0, translate(err, "insert event batch")
		}
		res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows)
		return res.RowsAffected, translate(res.Error, "insert events of batch")
	}
	var q strings.Builder
	q.WriteString(`WITH batch AS (INSERT INTO event_batches (id, workspace_id, event_ids, created_at) VALUES (?, ?, ?, ?)) ` +
		`INSERT INTO events (id, workspace_id, type, external_id, idempotency_key, dedup_key, source_id, data, headers, depth, root_event_id, batch_id, created_at) VALUES `)
	args := make([]any, 0, 4+13*len(rows))
	args = append(args, br.ID, br.WorkspaceID, br.EventIDs, br.CreatedAt)
	for i, r := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, r.ID, r.WorkspaceID, r.Type, r.ExternalID, r.IdempotencyKey, r.DedupKey, r.SourceID, r.Data, r.Headers, r.Depth, r.RootEventID, r.BatchID, r.CreatedAt)
	}
	q.WriteString(" ON CONFLICT DO NOTHING")
	res := db.Exec(q.String(), args...)
	return res.RowsAffected, translate(res.Error, "insert batch")
}

// ClaimEventBatch is the batch workflow's first step: it deletes the batch's row
// (from then on the intake that inserted it cannot abandon it) and returns those
// of eventIDs that the batch inserted, in order. It is idempotent: a retried claim
// finds no row and reads the same events. A batch its intake abandoned has no
// events left, and the claim returns none.
func (s *Store) ClaimEventBatch(ctx context.Context, batchID string, eventIDs []string) ([]models.Event, error) {
	db := s.db.WithContext(ctx)
	var rows []eventRow
	switch {
	case len(eventIDs) == 0:
		if err := db.Where("id = ?", batchID).Delete(&eventBatchRow{}).Error; err != nil {
			return nil, translate(err, "claim batch "+batchID)
		}
		return nil, nil
	case s.dialect == Postgres:
		// One statement, one round trip: the claim and the read see the same
		// snapshot, and an abandon waiting on the row's lock finds it claimed.
		if err := db.Raw(`WITH claim AS (DELETE FROM event_batches WHERE id = ?) SELECT * FROM events WHERE id IN ? AND batch_id = ?`,
			batchID, eventIDs, batchID).Scan(&rows).Error; err != nil {
			return nil, translate(err, "claim batch "+batchID)
		}
	default:
		if err := db.Where("id = ?", batchID).Delete(&eventBatchRow{}).Error; err != nil {
			return nil, translate(err, "claim batch "+batchID)
		}
		if err := db.Where("id IN ? AND batch_id = ?", eventIDs, batchID).Find(&rows).Error; err != nil {
			return nil, translate(err, "events of batch "+batchID)
		}
	}
	byID := make(map[string]eventRow, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	out := make([]models.Event, 0, len(rows))
	for _, id := range eventIDs {
		r, ok := byID[id]
		if !ok {
			continue
		}
		e, err := toEvent(r)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// AbandonEventBatch undoes a batch whose workflow could not be started: it
// deletes the batch's row and events, in one transaction, unless the batch's
// workflow claimed it first (it did start after all). It reports whether the
// batch was abandoned; false means the workflow holds it.
func (s *Store) AbandonEventBatch(ctx context.Context, batchID string) (bool, error) {
	abandoned := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var r eventBatchRow
		if err := tx.Where("id = ?", batchID).Take(&r).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return nil // claimed
			}
			return err
		}
		// The claim may delete the row between the read and here: then this
		// deletes nothing, and the batch is the workflow's.
		res := tx.Where("id = ?", batchID).Delete(&eventBatchRow{})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		abandoned = true
		var ids []string
		if err := json.Unmarshal([]byte(r.EventIDs), &ids); err != nil {
			return fmt.Errorf("batch %s: event ids: %w", batchID, err)
		}
		if len(ids) == 0 {
			return nil
		}
		return tx.Where("id IN ? AND batch_id = ?", ids, batchID).Delete(&eventRow{}).Error
	})
	if err != nil {
		return false, translate(err, "abandon batch "+batchID)
	}
	return abandoned, nil
}

// GetEventBatch returns batch id while it is unclaimed (inserted, its workflow
// not yet known to be running); models.ErrNotFound once claimed or abandoned.
func (s *Store) GetEventBatch(ctx context.Context, id string) (*models.EventBatch, error) {
	var r eventBatchRow
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, translate(err, "batch "+id)
	}
	b, err := toEventBatch(r)
	return &b, err
}

// OpenEventBatches lists up to limit unclaimed batches created before before,
// oldest first: the ones whose intake died between insert and start, for the
// sweep to start.
func (s *Store) OpenEventBatches(ctx context.Context, before time.Time, limit int) ([]models.EventBatch, error) {
	var rows []eventBatchRow
	if err := s.db.WithContext(ctx).Where("created_at < ?", ts(before)).Order("created_at").Limit(limit).Find(&rows).Error; err != nil {
		return nil, translate(err, "open batches")
	}
	out := make([]models.EventBatch, 0, len(rows))
	for _, r := range rows {
		b, err := toEventBatch(r)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
