package api

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/inbound"
	"github.com/hookflow/hookflow/internal/signing"
	"github.com/hookflow/hookflow/models"
)

// DefaultMaxHookBytes is the body limit of /hooks unless a source sets its own.
const DefaultMaxHookBytes = 256 << 10

type verificationRequest struct {
	models.Verification
	Secret string `json:"secret"`
}

type sourceRequest struct {
	Name         *string              `json:"name"`
	Enabled      *bool                `json:"enabled"`
	Verification *verificationRequest `json:"verification"`
	EventType    *models.FieldRef     `json:"event_type"`
	EventID      *models.FieldRef     `json:"event_id"`
	MaxBodyBytes *int64               `json:"max_body_bytes"`
	// AllowUnsignedQuery opts a body-signing source into unsigned query-string data.
	AllowUnsignedQuery *bool `json:"allow_unsigned_query"`
}

type sourceResponse struct {
	models.Source
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"`
}

func (s *Server) sourceURL(id string) string {
	return strings.TrimRight(s.cfg.PublicURL, "/") + "/hooks/" + id
}

func newSourceSecret(scheme string) (string, error) {
	if scheme == inbound.StandardWebhooks {
		return signing.NewSecret()
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "src_sec_" + base64.RawURLEncoding.EncodeToString(b), nil
}

func inboundConfig(src *models.Source, secrets []string) inbound.Config {
	v := src.Verification
	return inbound.Config{Scheme: v.Scheme, Secrets: secrets, Header: v.Header, Algorithm: v.Algorithm, Encoding: v.Encoding,
		Prefix: v.Prefix, TimestampHeader: v.TimestampHeader, Tolerance: time.Duration(v.ToleranceSecs) * time.Second, Username: v.Username}
}

// applySource validates req and writes it onto src; it returns a secret given or
// made for a new verification.
func (s *Server) applySource(src *models.Source, req sourceRequest) (string, error) {
	if req.Name != nil {
		if strings.TrimSpace(*req.Name) == "" || len(*req.Name) > 200 {
			return "", models.Invalid("name", "is required (at most 200 characters)")
		}
		src.Name = *req.Name
	}
	if req.Enabled != nil {
		src.Enabled = *req.Enabled
	}
	if req.EventType != nil {
		if !req.EventType.Valid() {
			return "", models.Invalid("event_type", "give exactly one of header, path or value")
		}
		if req.EventType.Value != "" {
			if err := models.ValidateEventType("event_type.value", req.EventType.Value); err != nil {
				return "", err
			}
		}
		src.EventType = *req.EventType
	}
	if req.EventID != nil {
		if req.EventID.Value != "" || (req.EventID.Header == "") == (req.EventID.Path == "") {
			return "", models.Invalid("event_id", "give exactly one of header or path")
		}
		src.EventID = req.EventID
	}
	if req.MaxBodyBytes != nil {
		if *req.MaxBodyBytes < 0 || *req.MaxBodyBytes > 10<<20 {
			return "", models.Invalid("max_body_bytes", "must be between 0 (default 256 KiB) and 10 MiB")
		}
		src.MaxBodyBytes = *req.MaxBodyBytes
	}
	if req.AllowUnsignedQuery != nil {
		src.AllowUnsignedQuery = *req.AllowUnsignedQuery
	}
	secret := ""
	if req.Verification != nil {
		v := req.Verification
		if v.Scheme == "" {
			return "", models.Invalid("verification.scheme", "is required (standard-webhooks, github, stripe, shopify, slack, hmac, basic, token, or none)")
		}
		secret = v.Secret
		if secret == "" && v.Scheme != inbound.None {
			var err error
			if secret, err = newSourceSecret(v.Scheme); err != nil {
				return "", err
			}
		}
		src.Verification = v.Verification
		if _, err := inbound.New(inboundConfig(src, []string{secret})); err != nil {
			return "", models.Invalid("verification", "%v", err)
		}
		src.Secrets = nil
		if secret != "" {
			src.Secrets = []models.Secret{{Value: secret, CreatedAt: s.cfg.Now()}}
		}
	}
	return secret, nil
}

func (s *Server) createSource(c *gin.Context) {
	var req sourceRequest
	if !s.bindJSON(c, &req, 64<<10) {
		return
	}
	switch {
	case req.Name == nil:
		s.fail(c, models.Invalid("name", "is required"))
		return
	case req.Verification == nil:
		s.fail(c, models.Invalid("verification", `is required; choose a scheme (use {"scheme":"none"} to accept unsigned requests)`))
		return
	case req.EventType == nil:
		s.fail(c, models.Invalid("event_type", `is required: {"header":…}, {"path":…} or {"value":…}`))
		return
	}
	if !s.withinQuota(c, s.sourceQuota()) {
		return
	}
	now := s.cfg.Now()
	src := &models.Source{ID: ids.New(ids.Source), WorkspaceID: workspace(c), Enabled: true, CreatedAt: now, UpdatedAt: now}
	secret, err := s.applySource(src, req)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.sources.CreateSource(c.Request.Context(), src); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, sourceResponse{Source: *src, URL: s.sourceURL(src.ID), Secret: secret})
}

func (s *Server) loadSource(c *gin.Context) (*models.Source, bool) {
	return loadOne(s, c, "source", s.sources.GetSource)
}

func (s *Server) getSource(c *gin.Context) {
	if src, ok := s.loadSource(c); ok {
		c.JSON(http.StatusOK, sourceResponse{Source: *src, URL: s.sourceURL(src.ID)})
	}
}

func (s *Server) listSources(c *gin.Context) {
	listViews(s, c, ids.Source, s.sources.ListSources, func(src models.Source) sourceResponse {
		return sourceResponse{Source: src, URL: s.sourceURL(src.ID)}
	})
}

func (s *Server) patchSource(c *gin.Context) {
	var req sourceRequest
	if !s.bindJSON(c, &req, 64<<10) {
		return
	}
	var secret string
	src, ok := changeOne(s, c, s.loadSource, func(src *models.Source) (err error) {
		src.UpdatedAt = s.cfg.Now()
		secret, err = s.applySource(src, req)
		return err
	}, s.sources.UpdateSource)
	if ok {
		c.JSON(http.StatusOK, sourceResponse{Source: *src, URL: s.sourceURL(src.ID), Secret: secret})
	}
}

func (s *Server) deleteSource(c *gin.Context) {
	deleteOne(s, c, "source", s.sources.DeleteSource)
}

// rotateSourceSecret sets a new secret (given, or made); the previous one is still
// accepted for 24 h while the sender switches.
func (s *Server) rotateSourceSecret(c *gin.Context) {
	var req struct {
		Secret string `json:"secret"`
	}
	if c.Request.ContentLength != 0 && !s.bindJSON(c, &req, 16<<10) {
		return
	}
	secret := req.Secret
	var expires time.Time
	_, ok := changeOne(s, c, s.loadSource, func(src *models.Source) (err error) {
		if src.Verification.Scheme == inbound.None {
			return models.Invalid("verification.scheme", "none has no secret to rotate")
		}
		if secret == "" {
			if secret, err = newSourceSecret(src.Verification.Scheme); err != nil {
				return err
			}
		}
		if _, err := inbound.New(inboundConfig(src, []string{secret})); err != nil {
			return models.Invalid("secret", "%v", err)
		}
		src.UpdatedAt = s.cfg.Now()
		src.Secrets, expires = models.RotateSecrets(src.Secrets, secret, src.UpdatedAt, SecretOverlap)
		return nil
	}, s.sources.UpdateSource)
	if ok {
		c.JSON(http.StatusOK, gin.H{"secret": secret, "previous_expires_at": expires})
	}
}
