package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/ingest"
	"github.com/hookflow/hookflow/internal/netguard"
	"github.com/hookflow/hookflow/internal/rules"
	"github.com/hookflow/hookflow/internal/signing"
	"github.com/hookflow/hookflow/models"
)

// SecretOverlap is how long a rotated-out secret keeps signing.
const SecretOverlap = 24 * time.Hour

type endpointRequest struct {
	URL         *string   `json:"url"`
	EventTypes  *[]string `json:"event_types"`
	Description *string   `json:"description"`
	Filter      *string   `json:"filter"`
	Enabled     *bool     `json:"enabled"`
	// RateLimit is rate_limit_per_second: 0 removes the limit.
	RateLimit *int `json:"rate_limit_per_second"`
}

// MaxRateLimit is the highest rate_limit_per_second an endpoint may set.
const MaxRateLimit = 10000

type endpointWithSecret struct {
	models.Endpoint
	Secret string `json:"secret"`
}

// applyEndpoint validates req and writes it onto e. It checks everything before it
// changes anything, so a bad PATCH leaves e as it was.
func (s *Server) applyEndpoint(e *models.Endpoint, req endpointRequest) error {
	if req.URL != nil {
		if err := s.validateURL(*req.URL); err != nil {
			return err
		}
	}
	if req.EventTypes != nil {
		if err := models.ValidateEventTypes(*req.EventTypes); err != nil {
			return err
		}
	}
	if req.Description != nil {
		if err := models.ValidateText("description", *req.Description, models.MaxDescriptionLen); err != nil {
			return err
		}
	}
	if req.Filter != nil && *req.Filter != "" {
		if err := s.validateFilter(*req.Filter); err != nil {
			return err
		}
	}
	if req.RateLimit != nil && (*req.RateLimit < 0 || *req.RateLimit > MaxRateLimit) {
		return models.Invalid("rate_limit_per_second", "must be between 0 (no limit) and %d", MaxRateLimit)
	}
	if req.RateLimit != nil {
		e.RateLimitPerSecond = *req.RateLimit
	}
	if req.URL != nil {
		e.URL = *req.URL
	}
	if req.EventTypes != nil {
		e.EventTypes = dedupe(*req.EventTypes)
	}
	if req.Description != nil {
		e.Description = *req.Description
	}
	if req.Filter != nil {
		e.Filter = *req.Filter
	}
	if req.Enabled != nil {
		e.Enabled = *req.Enabled
		if e.Enabled {
			e.DisabledReason = ""
			e.FailingSince = nil
		} else if e.DisabledReason == "" {
			e.DisabledReason = "disabled by user"
		}
	}
	return nil
}

func (s *Server) validateURL(raw string) error {
	if len(raw) > models.MaxURLLen {
		return models.Invalid("url", "must be at most %d characters", models.MaxURLLen)
	}
	if err := s.guard.CheckURL(raw); err != nil {
		if errors.Is(err, netguard.ErrBlocked) {
			return models.Invalid("url", "destination is not allowed: %v", err)
		}
		return models.Invalid("url", "%v", err)
	}
	return nil
}

func (s *Server) validateFilter(expr string) error {
	if len(expr) > models.MaxFilterLen {
		return models.Invalid("filter", "must be at most %d characters", models.MaxFilterLen)
	}
	if _, err := s.rules.CompileFilter(expr); err != nil {
		var ce *rules.CompileError
		if errors.As(err, &ce) {
			return models.Invalid("filter", "line %d, column %d: %s", ce.Line, ce.Column, ce.Message)
		}
		return models.Invalid("filter", "%v", err)
	}
	return nil
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func (s *Server) createEndpoint(c *gin.Context) {
	var req endpointRequest
	if !s.bindJSON(c, &req, 64<<10) {
		return
	}
	if req.URL == nil {
		s.fail(c, models.Invalid("url", "is required"))
		return
	}
	if req.EventTypes == nil {
		s.fail(c, models.Invalid("event_types", "is required (use [\"*\"] for every event)"))
		return
	}
	if !s.withinQuota(c, s.endpointQuota()) {
		return
	}
	now := s.cfg.Now()
	e := &models.Endpoint{ID: ids.New(ids.Endpoint), WorkspaceID: workspace(c), Enabled: true, CreatedAt: now, UpdatedAt: now}
	if err := s.applyEndpoint(e, req); err != nil {
		s.fail(c, err)
		return
	}
	secret, err := signing.NewSecret()
	if err != nil {
		s.fail(c, err)
		return
	}
	e.Secrets = []models.Secret{{Value: secret, CreatedAt: now}}
	if err := s.store.CreateEndpoint(c.Request.Context(), e); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, endpointWithSecret{Endpoint: *e, Secret: secret})
}

func (s *Server) listEndpoints(c *gin.Context) {
	listPage(s, c, ids.Endpoint, s.store.ListEndpoints)
}

func (s *Server) loadEndpoint(c *gin.Context) (*models.Endpoint, bool) {
	return loadOne(s, c, "endpoint", s.store.GetEndpoint)
}

func (s *Server) getEndpoint(c *gin.Context) {
	if e, ok := s.loadEndpoint(c); ok {
		c.JSON(http.StatusOK, e)
	}
}

func (s *Server) patchEndpoint(c *gin.Context) {
	var req endpointRequest
	if !s.bindJSON(c, &req, 64<<10) {
		return
	}
	e, ok := changeOne(s, c, s.loadEndpoint, func(e *models.Endpoint) error {
		e.UpdatedAt = s.cfg.Now()
		return s.applyEndpoint(e, req)
	}, s.store.UpdateEndpoint)
	if ok {
		c.JSON(http.StatusOK, e)
	}
}

func (s *Server) deleteEndpoint(c *gin.Context) {
	deleteOne(s, c, "endpoint", s.store.DeleteEndpoint)
}

func (s *Server) getEndpointSecret(c *gin.Context) {
	e, ok := s.loadEndpoint(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, gin.H{"secret": currentSecret(e), "active": models.ActiveSecrets(e.Secrets, s.cfg.Now())})
}

func currentSecret(e *models.Endpoint) string {
	if len(e.Secrets) == 0 {
		return ""
	}
	return e.Secrets[len(e.Secrets)-1].Value
}

// rotateEndpointSecret adds a new secret; the previous one keeps signing for 24 h so
// receivers can switch without rejecting a delivery. Secrets already expired are dropped.
func (s *Server) rotateEndpointSecret(c *gin.Context) {
	var secret string
	var expires time.Time
	_, ok := changeOne(s, c, s.loadEndpoint, func(e *models.Endpoint) (err error) {
		if secret, err = signing.NewSecret(); err != nil {
			return err
		}
		e.UpdatedAt = s.cfg.Now()
		e.Secrets, expires = models.RotateSecrets(e.Secrets, secret, e.UpdatedAt, SecretOverlap)
		return nil
	}, s.store.UpdateEndpoint)
	if ok {
		c.JSON(http.StatusOK, gin.H{"secret": secret, "previous_expires_at": expires})
	}
}

// testEndpoint sends a hookflow.ping event to this endpoint only.
func (s *Server) testEndpoint(c *gin.Context) {
	e, ok := s.loadEndpoint(c)
	if !ok {
		return
	}
	now := s.cfg.Now()
	data, _ := json.Marshal(map[string]any{"endpoint_id": e.ID, "message": "ping from hookflow"})
	ev := models.Event{ID: ids.New(ids.Event), WorkspaceID: e.WorkspaceID, Type: "hookflow.ping", Data: data, CreatedAt: now}
	ev.DedupKey = ingest.FreshKey(ev.ID)
	acc, err := s.intake.Take(c.Request.Context(), ingest.Request{Event: ev, OnlyEndpointID: e.ID})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"event_id": acc.ID, "type": ev.Type, "endpoint_id": e.ID})
}

// page reads ?cursor= and ?limit=. A cursor is the last ID of the page before, so
// it must be an ID of the kind listed (prefix).
func (s *Server) page(c *gin.Context, prefix string) (models.Page, bool) {
	p := models.Page{Cursor: c.Query("cursor")}
	if p.Cursor != "" && !ids.Valid(prefix, p.Cursor) {
		s.fail(c, models.Invalid("cursor", "must be the next_cursor of an earlier page of this list (a %s_ ID)", prefix))
		return p, false
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 250 {
			s.fail(c, models.Invalid("limit", "must be a whole number from 1 to 250"))
			return p, false
		}
		p.Limit = n
	}
	return p.Normalize(), true
}

type listBody[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

func listResponse[T any](items []T, next string) listBody[T] {
	b := listBody[T]{Data: items}
	if next != "" {
		b.NextCursor = &next
	}
	return b
}
