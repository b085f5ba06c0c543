package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/models"
)

// loadOne reads the caller's workspace's resource named by the :id parameter; one
// that is missing (or another workspace's) is a 404 naming kind. On false the
// answer has been written.
func loadOne[T any](s *Server, c *gin.Context, kind string, get func(ctx context.Context, workspaceID, id string) (*T, error)) (*T, bool) {
	v, err := get(c.Request.Context(), workspace(c), c.Param("id"))
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			err = notFound(kind, c.Param("id"))
		}
		s.fail(c, err)
		return nil, false
	}
	return v, true
}

// listPage answers one page of the caller's workspace's resources whose ids start
// with prefix: `{"data": [...], "next_cursor": ...}`, data never null.
func listPage[T any](s *Server, c *gin.Context, prefix string, list func(ctx context.Context, workspaceID string, page models.Page) ([]T, string, error)) {
	listViews(s, c, prefix, list, func(v T) T { return v })
}

// listViews is listPage for resources the API shows as view makes them (a URL
// added, a secret left out).
func listViews[T, V any](s *Server, c *gin.Context, prefix string, list func(ctx context.Context, workspaceID string, page models.Page) ([]T, string, error), view func(T) V) {
	page, ok := s.page(c, prefix)
	if !ok {
		return
	}
	items, next, err := list(c.Request.Context(), workspace(c), page)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]V, 0, len(items))
	for _, it := range items {
		out = append(out, view(it))
	}
	c.JSON(http.StatusOK, listResponse(out, next))
}

// changeOne loads the caller's workspace's resource named by :id (a 404 naming its
// kind), lets change validate and apply the request to it, and saves it. A change
// refused is answered with its error and saves nothing; so is a resource that is
// gone by the time it is saved. On false the answer has been written.
func changeOne[T any](s *Server, c *gin.Context, load func(*gin.Context) (*T, bool), change func(*T) error, save func(ctx context.Context, v *T) error) (*T, bool) {
	v, ok := load(c)
	if !ok {
		return nil, false
	}
	if err := change(v); err != nil {
		s.fail(c, err)
		return nil, false
	}
	if err := save(c.Request.Context(), v); err != nil {
		s.fail(c, err)
		return nil, false
	}
	return v, true
}

// deleteOne deletes the caller's workspace's resource named by :id: 204, or a 404
// naming kind.
func deleteOne(s *Server, c *gin.Context, kind string, del func(ctx context.Context, workspaceID, id string) error) {
	if err := del(c.Request.Context(), workspace(c), c.Param("id")); err != nil {
		if errors.Is(err, models.ErrNotFound) {
			err = notFound(kind, c.Param("id"))
		}
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
