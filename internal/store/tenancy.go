package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/hookflow/hookflow/models"
)

// CreateWorkspaceWithKey inserts a workspace and its first API key in one
// transaction, so an operator never gets a workspace nobody can reach.
func (s *Store) CreateWorkspaceWithKey(ctx context.Context, w *models.Workspace, k *models.APIKey) error {
	if k.WorkspaceID != w.ID {
		return fmt.Errorf("create workspace %s: key %s belongs to %s", w.ID, k.ID, k.WorkspaceID)
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&workspaceRow{ID: w.ID, Name: w.Name, CreatedAt: ts(w.CreatedAt)}).Error; err != nil {
			return err
		}
		return tx.Create(&apiKeyRow{ID: k.ID, WorkspaceID: k.WorkspaceID, Name: k.Name, Prefix: k.Prefix, Hash: k.Hash, CreatedAt: ts(k.CreatedAt)}).Error
	})
	return translate(err, "create workspace")
}

// ListWorkspaces pages through every workspace by id, for the operator.
func (s *Store) ListWorkspaces(ctx context.Context, page models.Page) ([]models.Workspace, string, error) {
	rows, next, err := keyset(s.db.WithContext(ctx).Model(&workspaceRow{}), page, false, func(r workspaceRow) string { return r.ID })
	if err != nil {
		return nil, "", translate(err, "list workspaces")
	}
	out := make([]models.Workspace, 0, len(rows))
	for _, r := range rows {
		out = append(out, toWorkspace(r))
	}
	return out, next, nil
}

// count is how many rows of model a workspace has, for its quotas. Deleted
// endpoints, automations and sources are gone from their tables, so they do not count.
func (s *Store) count(ctx context.Context, model any, what, workspaceID string, where ...any) (int64, error) {
	q := s.db.WithContext(ctx).Model(model).Where("workspace_id = ?", workspaceID)
	if len(where) > 0 {
		q = q.Where(where[0], where[1:]...)
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return 0, translate(err, "count "+what)
	}
	return n, nil
}

// CountEndpoints is how many endpoints the workspace has.
func (s *Store) CountEndpoints(ctx context.Context, workspaceID string) (int64, error) {
	return s.count(ctx, &endpointRow{}, "endpoints", workspaceID)
}

// CountAutomations is how many automations the workspace has.
func (s *Store) CountAutomations(ctx context.Context, workspaceID string) (int64, error) {
	return s.count(ctx, &automationRow{}, "automations", workspaceID)
}

// CountSources is how many sources the workspace has.
func (s *Store) CountSources(ctx context.Context, workspaceID string) (int64, error) {
	return s.count(ctx, &sourceRow{}, "sources", workspaceID)
}

// CountActiveAPIKeys is how many of the workspace's API keys are not revoked.
func (s *Store) CountActiveAPIKeys(ctx context.Context, workspaceID string) (int64, error) {
	return s.count(ctx, &apiKeyRow{}, "api keys", workspaceID, "revoked_at IS NULL")
}

// TakeRecoverLease takes the endpoint's recover lease with token until now+ttl,
// unless another holder's lease is still running; it reports whether it took it.
// One conditional UPDATE decides: on Postgres the second of two concurrent ones
// waits for the first's row lock and then no longer matches, on SQLite writes are
// serialised, so across any number of server processes one recover wins.
func (s *Store) TakeRecoverLease(ctx context.Context, workspaceID, endpointID, token string, now time.Time, ttl time.Duration) (bool, error) {
	if token == "" {
		return false, fmt.Errorf("take recover lease of %s: empty token", endpointID)
	}
	res := s.db.WithContext(ctx).Exec(
		`UPDATE endpoints SET recover_lease = ?, recover_until = ?
		  WHERE workspace_id = ? AND id = ? AND (recover_until IS NULL OR recover_until <= ?)`,
		token, ts(now.Add(ttl)), workspaceID, endpointID, ts(now))
	if res.Error != nil {
		return false, translate(res.Error, "take recover lease of "+endpointID)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	// Nothing matched: held by another, or not this workspace's endpoint at all.
	n, err := s.count(ctx, &endpointRow{}, "endpoints", workspaceID, "id = ?", endpointID)
	if err != nil {
		return false, err
	}
	if n == 0 {
		return false, fmt.Errorf("endpoint %s: %w", endpointID, models.ErrNotFound)
	}
	return false, nil
}

// ReleaseRecoverLease gives the lease back if token still holds it: a holder that
// overran its lease must not release the next holder's.
func (s *Store) ReleaseRecoverLease(ctx context.Context, endpointID, token string) error {
	err := s.db.WithContext(ctx).Exec(
		`UPDATE endpoints SET recover_lease = '', recover_until = NULL WHERE id = ? AND recover_lease = ?`,
		endpointID, token).Error
	return translate(err, "release recover lease of "+endpointID)
}
