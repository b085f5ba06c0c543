package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookflow/hookflow/models"
)

type sourceRow struct {
	ID           string `gorm:"primaryKey"`
	WorkspaceID  string
	Name         string
	Enabled      bool
	Verification string
	Secrets      string
	EventType    string
	EventID      string
	MaxBodyBytes int64
	// AllowUnsignedQuery is 0008's column: query-string data accepted unsigned.
	AllowUnsignedQuery bool
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

func (sourceRow) TableName() string { return "sources" }

func (s *Store) fromSource(src *models.Source) (sourceRow, error) {
	r := sourceRow{ID: src.ID, WorkspaceID: src.WorkspaceID, Name: src.Name, Enabled: src.Enabled, MaxBodyBytes: src.MaxBodyBytes,
		AllowUnsignedQuery: src.AllowUnsignedQuery, CreatedAt: ts(src.CreatedAt), UpdatedAt: ts(src.UpdatedAt)}
	secrets := src.Secrets
	if secrets == nil {
		secrets = []models.Secret{}
	}
	for _, f := range []struct {
		dst *string
		v   any
	}{{&r.Verification, src.Verification}, {&r.Secrets, secrets}, {&r.EventType, src.EventType}} {
		b, err := json.Marshal(f.v)
		if err != nil {
			return r, err
		}
		*f.dst = string(b)
	}
	var err error
	if r.Secrets, err = s.seal([]byte(r.Secrets), "sources.secrets", src.ID); err != nil {
		return r, err
	}
	if src.EventID != nil {
		b, err := json.Marshal(src.EventID)
		if err != nil {
			return r, err
		}
		r.EventID = string(b)
	}
	return r, nil
}

func (s *Store) toSource(r sourceRow) (models.Source, error) {
	src := models.Source{ID: r.ID, WorkspaceID: r.WorkspaceID, Name: r.Name, Enabled: r.Enabled, MaxBodyBytes: r.MaxBodyBytes,
		AllowUnsignedQuery: r.AllowUnsignedQuery, CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt)}
	if err := json.Unmarshal([]byte(r.Verification), &src.Verification); err != nil {
		return src, fmt.Errorf("source %s verification: %w", r.ID, err)
	}
	sec, err := s.open(r.Secrets, "sources.secrets", r.ID)
	if err != nil {
		return src, err
	}
	if err := json.Unmarshal(sec, &src.Secrets); err != nil {
		return src, fmt.Errorf("source %s secrets: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(r.EventType), &src.EventType); err != nil {
		return src, fmt.Errorf("source %s event_type: %w", r.ID, err)
	}
	if r.EventID != "" {
		src.EventID = &models.FieldRef{}
		if err := json.Unmarshal([]byte(r.EventID), src.EventID); err != nil {
			return src, fmt.Errorf("source %s event_id: %w", r.ID, err)
		}
	}
	return src, nil
}

// CreateSource inserts src.
func (s *Store) CreateSource(ctx context.Context, src *models.Source) error {
	r, err := s.fromSource(src)
	if err != nil {
		return err
	}
	return translate(s.db.WithContext(ctx).Create(&r).Error, "create source")
}

// GetSource returns the workspace's source id.
func (s *Store) GetSource(ctx context.Context, workspaceID, id string) (*models.Source, error) {
	return getScoped(ctx, s, "source", workspaceID, id, s.toSource)
}

// SourceByID returns a source by id alone, for the public /hooks route.
func (s *Store) SourceByID(ctx context.Context, id string) (*models.Source, error) {
	var r sourceRow
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, translate(err, "source "+id)
	}
	src, err := s.toSource(r)
	return &src, err
}

// ListSources pages through a workspace's sources by id.
func (s *Store) ListSources(ctx context.Context, workspaceID string, page models.Page) ([]models.Source, string, error) {
	return listScoped(ctx, s, "sources", workspaceID, page, false, func(r sourceRow) string { return r.ID }, s.toSource)
}

// UpdateSource writes src's mutable fields.
func (s *Store) UpdateSource(ctx context.Context, src *models.Source) error {
	r, err := s.fromSource(src)
	if err != nil {
		return err
	}
	err = updateScoped(s.db.WithContext(ctx), &sourceRow{}, &r, src.WorkspaceID, src.ID,
		"name", "enabled", "verification", "secrets", "event_type", "event_id", "max_body_bytes", "allow_unsigned_query", "updated_at")
	return translate(err, "source "+src.ID)
}

// DeleteSource removes a source; its events stay.
func (s *Store) DeleteSource(ctx context.Context, workspaceID, id string) error {
	return deleteScoped(ctx, s, &sourceRow{}, "source", workspaceID, id)
}
