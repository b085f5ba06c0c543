package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/models"
)

// authenticateAdmin lets only the operator's admin key through. A workspace key is
// recognised and told why not (403), anything else is not a key at all (401).
func (s *Server) authenticateAdmin() gin.HandlerFunc {
	return func(c *gin.Context) {
		key, ok := bearer(c)
		if !ok {
			return
		}
		hash := HashKey(key)
		if s.isAdmin(hash) {
			c.Next()
			return
		}
		_, err := s.store.APIKeyByHash(c.Request.Context(), hash)
		switch {
		case err == nil:
			writeError(c, http.StatusForbidden, "forbidden", s.operatorOnlyMessage())
		case errors.Is(err, models.ErrNotFound):
			c.Header("WWW-Authenticate", `Bearer realm="hookflow", error="invalid_token"`)
			writeError(c, http.StatusUnauthorized, "unauthorized", "this route takes the operator's admin key (HOOKFLOW_ADMIN_KEY), and that is not it")
		default:
			s.fail(c, err)
		}
	}
}

// operatorOnlyMessage tells a workspace key where workspaces come from on this server.
func (s *Server) operatorOnlyMessage() string {
	if s.adminHash == "" {
		return "workspaces are made by the operator; this server has no admin API (HOOKFLOW_ADMIN_KEY is not set), so the operator runs `hookflow workspace create`"
	}
	return errOperatorOnly
}

type createWorkspaceRequest struct {
	Name string `json:"name"`
	// KeyName names the first key (default "first key").
	KeyName string `json:"key_name"`
}

// workspaceCreated is a new workspace with its first key, shown only here.
type workspaceCreated struct {
	models.Workspace
	APIKey models.APIKey `json:"api_key"`
	Key    string        `json:"key"`
}

// createWorkspace makes a workspace and its first key in one transaction.
func (s *Server) createWorkspace(c *gin.Context) {
	var req createWorkspaceRequest
	if !s.bindJSON(c, &req, 16<<10) {
		return
	}
	if strings.TrimSpace(req.Name) == "" {
		s.fail(c, models.Invalid("name", "is required"))
		return
	}
	if err := models.ValidateText("name", req.Name, 200); err != nil {
		s.fail(c, err)
		return
	}
	if err := models.ValidateText("key_name", req.KeyName, 200); err != nil {
		s.fail(c, err)
		return
	}
	if req.KeyName == "" {
		req.KeyName = "first key"
	}
	ws, k, key, err := NewWorkspace(req.Name, req.KeyName, s.cfg.Now())
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.store.CreateWorkspaceWithKey(c.Request.Context(), ws, k); err != nil {
		s.fail(c, err)
		return
	}
	s.logger.InfoContext(c.Request.Context(), "workspace created", "workspace_id", ws.ID, "key_id", k.ID)
	c.JSON(http.StatusCreated, workspaceCreated{Workspace: *ws, APIKey: *k, Key: key})
}

func (s *Server) listWorkspaces(c *gin.Context) {
	page, ok := s.page(c, ids.Workspace)
	if !ok {
		return
	}
	list, next, err := s.store.ListWorkspaces(c.Request.Context(), page)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, listResponse(list, next))
}
