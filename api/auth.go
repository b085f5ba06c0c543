package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/logctx"
	"github.com/hookflow/hookflow/models"
)

const ctxAPIKey = "hookflow.api_key"

// KeyPrefix starts every generated API key, so a leaked one is easy to spot.
const KeyPrefix = "hfk_"

// HashKey is how API keys are stored: SHA-256, hex. Keys carry 256 random bits, so a
// fast hash is enough; nobody can brute-force them through it.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// DisplayPrefix is the part of a key shown in listings to tell keys apart.
func DisplayPrefix(key string) string {
	n := len(KeyPrefix) + 8
	if !strings.HasPrefix(key, KeyPrefix) {
		n = 6
	}
	if len(key) < n {
		return key
	}
	return key[:n]
}

// GenerateKey returns a new random API key.
func GenerateKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// NewAPIKey builds the stored form of key for workspaceID.
func NewAPIKey(workspaceID, name, key string, now time.Time) *models.APIKey {
	return &models.APIKey{
		ID:          ids.New(ids.APIKey),
		WorkspaceID: workspaceID,
		Name:        name,
		Prefix:      DisplayPrefix(key),
		Hash:        HashKey(key),
		CreatedAt:   now,
	}
}

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

// isAdmin reports whether hash (HashKey of the presented key) is the admin key's.
// It compares in constant time, and over hashes so the admin key's length does not
// show either.
func (s *Server) isAdmin(hash string) bool {
	return s.adminHash != "" && subtle.ConstantTimeCompare([]byte(hash), []byte(s.adminHash)) == 1
}

// NewWorkspace builds a workspace named name and its first key (named keyName),
// for POST /v1/workspaces and `hookflow workspace create` alike. key is the secret
// to show once; only its hash is in k.
func NewWorkspace(name, keyName string, now time.Time) (ws *models.Workspace, k *models.APIKey, key string, err error) {
	if key, err = GenerateKey(); err != nil {
		return nil, nil, "", fmt.Errorf("generate api key: %w", err)
	}
	ws = &models.Workspace{ID: ids.New(ids.Workspace), Name: name, CreatedAt: now}
	return ws, NewAPIKey(ws.ID, keyName, key, now), key, nil
}

func (s *Server) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		key, ok := bearer(c)
		if !ok {
			return
		}
		hash := HashKey(key)
		if s.isAdmin(hash) {
			// The operator's key belongs to no workspace; acting as one would make
			// the operator a tenant of whichever workspace a default picked.
			writeError(c, http.StatusForbidden, "forbidden",
				"this is the operator's admin key (HOOKFLOW_ADMIN_KEY); it only manages workspaces (/v1/workspaces). Call this route with a key of the workspace (hfk_…)")
			return
		}
		k, err := s.store.APIKeyByHash(c.Request.Context(), hash)
		if errors.Is(err, models.ErrNotFound) || (err == nil && subtle.ConstantTimeCompare([]byte(k.Hash), []byte(hash)) != 1) {
			c.Header("WWW-Authenticate", `Bearer realm="hookflow", error="invalid_token"`)
			writeError(c, http.StatusUnauthorized, "unauthorized", "the API key is not valid")
			return
		}
		if err != nil {
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
	// WorkspaceName is refused: it used to make a workspace, which only the
	// operator may now. It stays in the request so the answer can say so.
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
	if err := models.ValidateText("name", req.Name, 200); err != nil {
		s.fail(c, err)
		return
	}
	wsID := workspace(c)
	if req.WorkspaceName != "" || (req.WorkspaceID != "" && req.WorkspaceID != wsID) {
		// 403 whether or not that workspace exists, so the answer tells nothing about it.
		writeError(c, http.StatusForbidden, "forbidden", errOperatorOnly)
		return
	}
	if !s.withinQuota(c, s.apiKeyQuota()) {
		return
	}
	key, err := GenerateKey()
	if err != nil {
		s.fail(c, err)
		return
	}
	k := NewAPIKey(wsID, req.Name, key, s.cfg.Now())
	if err := s.store.CreateAPIKey(c.Request.Context(), k); err != nil {
		s.fail(c, err)
		return
	}
	s.logger.InfoContext(c.Request.Context(), "api key created", "key_id", k.ID, "workspace_id", wsID)
	c.JSON(http.StatusCreated, createKeyResponse{APIKey: *k, Key: key})
}

func (s *Server) listAPIKeys(c *gin.Context) {
	keys, err := s.store.ListAPIKeys(c.Request.Context(), workspace(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	if keys == nil {
		keys = []models.APIKey{}
	}
	c.JSON(http.StatusOK, gin.H{"data": keys})
}

func (s *Server) revokeAPIKey(c *gin.Context) {
	if err := s.store.RevokeAPIKey(c.Request.Context(), workspace(c), c.Param("id"), s.cfg.Now()); err != nil {
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
