package store

import (
	"context"
	"fmt"
	"time"

	"github.com/hookflow/hookflow/models"
)

type credentialRow struct {
	ID          string `gorm:"primaryKey"`
	WorkspaceID string
	Name        string
	Value       string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (credentialRow) TableName() string { return "credentials" }

const credentialColumn = "credentials.value"

func toCredentialMeta(r credentialRow) (models.Credential, error) {
	return models.Credential{ID: r.ID, WorkspaceID: r.WorkspaceID, Name: r.Name, CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt)}, nil
}

// CreateCredential stores c with its value sealed; a name the workspace
// already has is models.ErrConflict.
func (s *Store) CreateCredential(ctx context.Context, c *models.Credential) error {
	sealed, err := s.seal([]byte(c.Value), credentialColumn, c.ID)
	if err != nil {
		return err
	}
	r := credentialRow{ID: c.ID, WorkspaceID: c.WorkspaceID, Name: c.Name, Value: sealed, CreatedAt: ts(c.CreatedAt), UpdatedAt: ts(c.UpdatedAt)}
	return translate(s.db.WithContext(ctx).Create(&r).Error, "credential "+c.Name)
}

// ListCredentials lists a workspace's credentials by name, without values.
func (s *Store) ListCredentials(ctx context.Context, workspaceID string) ([]models.Credential, error) {
	var rows []credentialRow
	if err := s.db.WithContext(ctx).Select("id, workspace_id, name, created_at, updated_at").
		Where("workspace_id = ?", workspaceID).Order("name").Find(&rows).Error; err != nil {
		return nil, translate(err, "list credentials")
	}
	return convertAll(rows, toCredentialMeta)
}

// GetCredential returns the workspace's credential name without its value.
func (s *Store) GetCredential(ctx context.Context, workspaceID, name string) (*models.Credential, error) {
	var r credentialRow
	if err := s.db.WithContext(ctx).Select("id, workspace_id, name, created_at, updated_at").
		Where("workspace_id = ? AND name = ?", workspaceID, name).Take(&r).Error; err != nil {
		return nil, translate(err, "credential "+name)
	}
	c, _ := toCredentialMeta(r)
	return &c, nil
}

// CredentialValue opens the workspace's credential name: for the activity that
// resolves it, and nothing else.
func (s *Store) CredentialValue(ctx context.Context, workspaceID, name string) (string, error) {
	var r credentialRow
	if err := s.db.WithContext(ctx).Where("workspace_id = ? AND name = ?", workspaceID, name).Take(&r).Error; err != nil {
		return "", translate(err, fmt.Sprintf("credential %q", name))
	}
	v, err := s.open(r.Value, credentialColumn, r.ID)
	return string(v), err
}

// RotateCredential replaces the value of the workspace's credential name.
func (s *Store) RotateCredential(ctx context.Context, workspaceID, name, value string, at time.Time) (*models.Credential, error) {
	c, err := s.GetCredential(ctx, workspaceID, name)
	if err != nil {
		return nil, err
	}
	sealed, err := s.seal([]byte(value), credentialColumn, c.ID)
	if err != nil {
		return nil, err
	}
	if err := s.db.WithContext(ctx).Model(&credentialRow{}).Where("id = ?", c.ID).
		Updates(map[string]any{"value": sealed, "updated_at": ts(at)}).Error; err != nil {
		return nil, translate(err, "rotate credential "+name)
	}
	c.UpdatedAt = utc(ts(at))
	return c, nil
}

// DeleteCredential removes the workspace's credential name.
func (s *Store) DeleteCredential(ctx context.Context, workspaceID, name string) error {
	res := s.db.WithContext(ctx).Where("workspace_id = ? AND name = ?", workspaceID, name).Delete(&credentialRow{})
	if res.Error != nil {
		return translate(res.Error, "delete credential "+name)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("credential %q: %w", name, models.ErrNotFound)
	}
	return nil
}

// CountCredentials is how many credentials the workspace has (its quota).
func (s *Store) CountCredentials(ctx context.Context, workspaceID string) (int, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&credentialRow{}).Where("workspace_id = ?", workspaceID).Count(&n).Error
	return int(n), translate(err, "count credentials")
}
