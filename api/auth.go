package api

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/apikeys"
	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/logctx"
	"github.com/hookflow/hookflow/models"
)

const ctxAPIKey = "hookflow.api_key"

// bearer returns the key of an `Authorization: Bearer <key>` header, answering
// 401 itself when there is none.
func bearer(c *gin.Context) (string, bool) {
	scheme, key, ok := strings.Cut(c.GetHeader("Authorization"), " ")
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		c.Header("WWW-Authenticate", `Bearer realm="hookflow"`)
		writeError(c, http.StatusUnauthorized, "unauthorized", "send an API key as 'Authorization: Bearer <key>'")
		return "", false
	}
	return key, true
}

// invalidKey answers 401 for a key that is not one, saying why in message.
func invalidKey(c *gin.Context, message string) {
	c.Header("WWW-Authenticate", `Bearer realm="hookflow", error="invalid_token"`)
	writeError(c, http.StatusUnauthorized, "unauthorized", message)
}

func (s *Server) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		key, ok := bearer(c)
		if !ok {
			return
		}
		k, err := s.keys.Authenticate(c.Request.Context(), key)
		switch {
		case errors.Is(err, apikeys.ErrAdminKey):
			writeError(c, http.StatusForbidden, "forbidden",
				"this is the operator's admin key (HOOKFLOW_ADMIN_KEY); it only manages workspaces (/v1/workspaces). Call this route with a key of the workspace (hfk_…)")
			return
		case errors.Is(err, apikeys.ErrInvalidKey):
			invalidKey(c, "the API key is not valid")
			return
		case err != nil:
			s.fail(c, err)
			return
		}
		c.Set(ctxAPIKey, k)
		c.Request = c.Request.WithContext(logctx.With(c.Request.Context(), slog.String("workspace_id", k.WorkspaceID)))
		// Per workspace, not per key: keys are free to make, so a per-key limit
		// would be no limit at all for a tenant that makes more of them.
		if ok, wait := s.cfg.WorkspaceLimiter.Allow(k.WorkspaceID); !ok {
			tooMany(c, wait, "this workspace", s.cfg.WorkspaceLimiter.PerSecond())
			return
		}
		c.Next()
	}
}

// tooMany answers 429 with Retry-After in whole seconds (at least 1, as the header
// has no finer unit).
func tooMany(c *gin.Context, wait time.Duration, who string, perSecond float64) {
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	c.Header("Retry-After", strconv.Itoa(secs))
	writeError(c, http.StatusTooManyRequests, "rate_limited",
		fmt.Sprintf("too many requests for %s (limit %g a second); retry after %d s", who, perSecond, secs))
}

// workspace is the caller's workspace id.
func workspace(c *gin.Context) string {
	return c.MustGet(ctxAPIKey).(*models.APIKey).WorkspaceID
}

type createKeyRequest struct {
	Name string `json:"name"`
	// WorkspaceID may name the caller's own workspace, nothing else.
	WorkspaceID string `json:"workspace_id"`
	// WorkspaceName is refused (see apikeys.CreateRequest.NewWorkspace).
	WorkspaceName string `json:"workspace_name"`
}

type createKeyResponse struct {
	models.APIKey
	Key string `json:"key"`
}

// errOperatorOnly is the answer to a tenant reaching for another workspace.
const errOperatorOnly = "workspaces are made and reached by the operator: POST /v1/workspaces with the admin key (HOOKFLOW_ADMIN_KEY), or `hookflow workspace create`. A workspace key manages only its own workspace's keys"

// createAPIKey makes a key for the caller's workspace (workspace_id omitted or equal
// to it). A new workspace (workspace_name) or another one is the operator's: 403.
func (s *Server) createAPIKey(c *gin.Context) {
	var req createKeyRequest
	if !s.bindJSON(c, &req, 64<<10) {
		return
	}
	ctx, wsID := c.Request.Context(), workspace(c)
	created, err := s.keys.Create(ctx, apikeys.CreateRequest{WorkspaceID: wsID, Name: req.Name,
		ForWorkspace: req.WorkspaceID, NewWorkspace: req.WorkspaceName,
		Admit: func() error { return s.checkQuota(ctx, wsID, s.apiKeyQuota()) }})
	if err != nil {
		s.fail(c, err)
		return
	}
	s.logger.InfoContext(ctx, "api key created", "key_id", created.Record.ID, "workspace_id", wsID)
	c.JSON(http.StatusCreated, createKeyResponse{APIKey: *created.Record, Key: created.Key})
}

func (s *Server) listAPIKeys(c *gin.Context) {
	keys, err := s.keys.List(c.Request.Context(), workspace(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"data": keys})
}

func (s *Server) revokeAPIKey(c *gin.Context) {
	if err := s.keys.Revoke(c.Request.Context(), workspace(c), c.Param("id")); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) requestLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		rid := c.GetHeader("X-Request-Id")
		if rid == "" || len(rid) > 128 {
			rid = ids.New("req")
		}
		c.Header("X-Request-Id", rid)
		c.Request = c.Request.WithContext(logctx.With(c.Request.Context(), slog.String("request_id", rid)))
		c.Next()
		s.cfg.Metrics.HTTPRequest(c.Request.Method, c.FullPath(), c.Writer.Status(), time.Since(start))
		attrs := []any{
			slog.String("method", c.Request.Method),
			slog.String("path", c.FullPath()),
			slog.Int("status", c.Writer.Status()),
			slog.Duration("duration", time.Since(start)),
		}
		s.logger.InfoContext(c.Request.Context(), "http request", attrs...)
	}
}
