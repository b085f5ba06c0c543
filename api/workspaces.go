package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/apikeys"
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
		switch err := s.keys.AuthenticateAdmin(c.Request.Context(), key); {
		case err == nil:
			c.Next()
		case errors.Is(err, apikeys.ErrWorkspaceKey):
			writeError(c, http.StatusForbidden, "forbidden", s.operatorOnlyMessage())
		case errors.Is(err, apikeys.ErrInvalidKey):
			invalidKey(c, "this route takes the operator's admin key (HOOKFLOW_ADMIN_KEY), and that is not it")
		default:
			s.fail(c, err)
		}
	}
}

// operatorOnlyMessage tells a workspace key where workspaces come from on this server.
func (s *Server) operatorOnlyMessage() string {
	if !s.keys.HasAdmin() {
		return "workspaces are made by the operator; this server has no admin API (HOOKFLOW_ADMIN_KEY is not set), so the operator runs `hookflow workspace create`"
	}
	return errOperatorOnly
}

type createWorkspaceRequest struct {
	Name string `json:"name"`
	// KeyName names the first key (default apikeys.DefaultKeyName).
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
	ctx := c.Request.Context()
	nw, err := s.keys.CreateWorkspace(ctx, req.Name, req.KeyName)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.logger.InfoContext(ctx, "workspace created", "workspace_id", nw.Workspace.ID, "key_id", nw.Record.ID)
	c.JSON(http.StatusCreated, workspaceCreated{Workspace: *nw.Workspace, APIKey: *nw.Record, Key: nw.Key})
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
