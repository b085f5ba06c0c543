package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/hookflow/hookflow/models"
)

// A workspace's endpoints, sources, automations and events are read, listed,
// changed and deleted by the same rule: only where both workspace_id and id match,
// so another workspace's id is not found (the API answers it 404, never 403, and
// tells nothing about what other tenants have). These helpers are that rule once.

// getScoped returns the workspace's row id of R as its model (to decrypts and
// decodes); none is models.ErrNotFound naming noun and id.
func getScoped[R, T any](ctx context.Context, s *Store, noun, workspaceID, id string, to func(R) (T, error)) (*T, error) {
	var r R
	if err := s.db.WithContext(ctx).Where("workspace_id = ? AND id = ?", workspaceID, id).Take(&r).Error; err != nil {
		return nil, translate(err, noun+" "+id)
	}
	v, err := to(r)
	return &v, err
}

// listScoped pages through the workspace's rows of R by id (see keyset) as their
// models; plural names them in errors.
func listScoped[R, T any](ctx context.Context, s *Store, plural, workspaceID string, page models.Page, newestFirst bool,
	id func(R) string, to func(R) (T, error)) ([]T, string, error) {
	rows, next, err := keyset(s.db.WithContext(ctx).Where("workspace_id = ?", workspaceID), page, newestFirst, id)
	if err != nil {
		return nil, "", translate(err, "list "+plural)
	}
	out, err := convertAll(rows, to)
	return out, next, err
}

// convertAll turns rows into their models, in order; the first row that does not
// convert (a secret that does not open, JSON that does not decode) fails them all.
func convertAll[R, T any](rows []R, to func(R) (T, error)) ([]T, error) {
	out := make([]T, 0, len(rows))
	for _, r := range rows {
		v, err := to(r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// updateScoped writes the columns cols of the row r onto the workspace's row id of
// model's table. None matched is gorm.ErrRecordNotFound, for the caller's translate:
// a caller in a transaction must see it as an error to roll back.
func updateScoped(db *gorm.DB, model, r any, workspaceID, id string, cols ...string) error {
	res := db.Model(model).Where("workspace_id = ? AND id = ?", workspaceID, id).Select(cols).Updates(r)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return gorm.ErrRecordNotFound
	}
	return nil
}

// deleteScoped deletes the workspace's row id of model's table; none is
// models.ErrNotFound naming noun and id.
func deleteScoped(ctx context.Context, s *Store, model any, noun, workspaceID, id string) error {
	res := s.db.WithContext(ctx).Where("workspace_id = ? AND id = ?", workspaceID, id).Delete(model)
	if res.Error != nil {
		return translate(res.Error, "delete "+noun)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%s %s: %w", noun, id, models.ErrNotFound)
	}
	return nil
}
