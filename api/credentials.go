package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/automation"
	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/models"
)

// CredentialStore keeps a workspace's credentials: named secrets that step
// params reference, sealed at rest, never returned.
type CredentialStore interface {
	CreateCredential(ctx context.Context, c *models.Credential) error
	ListCredentials(ctx context.Context, workspaceID string) ([]models.Credential, error)
	GetCredential(ctx context.Context, workspaceID, name string) (*models.Credential, error)
	RotateCredential(ctx context.Context, workspaceID, name, value string, at time.Time) (*models.Credential, error)
	DeleteCredential(ctx context.Context, workspaceID, name string) error
	CountCredentials(ctx context.Context, workspaceID string) (int, error)
}

// Bounds of credentials.
const (
	// MaxCredentials is how many credentials one workspace may hold.
	MaxCredentials = 100
	// MaxCredentialBytes bounds a credential's value (a token, a webhook URL).
	MaxCredentialBytes = 8 << 10
)

type credentialRequest struct {
	Name  *string `json:"name"`
	Value *string `json:"value"`
}

// credentialValue checks a credential's value.
func credentialValue(v *string) (string, error) {
	if v == nil || *v == "" {
		return "", models.Invalid("value", "is required: the secret to store (a token, a webhook URL)")
	}
	if len(*v) > MaxCredentialBytes || !utf8.ValidString(*v) {
		return "", models.Invalid("value", "must be valid UTF-8 of at most %d bytes", MaxCredentialBytes)
	}
	return *v, nil
}

func (s *Server) createCredential(c *gin.Context) {
	var req credentialRequest
	if !s.bindJSON(c, &req, 2*MaxCredentialBytes) {
		return
	}
	if req.Name == nil || !automation.CredentialName.MatchString(*req.Name) {
		s.fail(c, models.Invalid("name", "is required: lower-case letters, digits and _, starting with a letter, at most 64 (such as \"crm_token\")"))
		return
	}
	value, err := credentialValue(req.Value)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	if n, err := s.creds.CountCredentials(ctx, workspace(c)); err != nil || n >= MaxCredentials {
		if err == nil {
			err = fmt.Errorf("the workspace holds %d credentials, the most it may: delete one: %w", n, models.ErrConflict)
		}
		s.fail(c, err)
		return
	}
	now := s.cfg.Now()
	cr := &models.Credential{ID: ids.New(ids.Credential), WorkspaceID: workspace(c), Name: *req.Name, Value: value, CreatedAt: now, UpdatedAt: now}
	if err := s.creds.CreateCredential(ctx, cr); err != nil {
		if errors.Is(err, models.ErrConflict) {
			err = fmt.Errorf("credential %q exists already; PUT /v1/credentials/%s rotates its value: %w", cr.Name, cr.Name, models.ErrConflict)
		}
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, cr)
}

func (s *Server) listCredentials(c *gin.Context) {
	list, err := s.creds.ListCredentials(c.Request.Context(), workspace(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"data": list, "next_cursor": nil})
}

func (s *Server) getCredential(c *gin.Context) {
	cr, err := s.creds.GetCredential(c.Request.Context(), workspace(c), c.Param("name"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, cr)
}

// rotateCredential replaces a credential's value: steps that start after it
// use the new one.
func (s *Server) rotateCredential(c *gin.Context) {
	var req credentialRequest
	if !s.bindJSON(c, &req, 2*MaxCredentialBytes) {
		return
	}
	if req.Name != nil && *req.Name != c.Param("name") {
		s.fail(c, models.Invalid("name", "a credential cannot be renamed; create one under the new name"))
		return
	}
	value, err := credentialValue(req.Value)
	if err != nil {
		s.fail(c, err)
		return
	}
	cr, err := s.creds.RotateCredential(c.Request.Context(), workspace(c), c.Param("name"), value, s.cfg.Now())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, cr)
}

func (s *Server) deleteCredential(c *gin.Context) {
	if err := s.creds.DeleteCredential(c.Request.Context(), workspace(c), c.Param("name")); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// dryRunSecrets stands in for credentials in the dry run: a placeholder,
// never the value, or the error a run would meet when the credential is
// missing.
type dryRunSecrets struct {
	s           *Server
	workspaceID string
}

// Secret implements automation.Secrets.
func (d dryRunSecrets) Secret(ctx context.Context, name string) (string, error) {
	if _, err := d.s.creds.GetCredential(ctx, d.workspaceID, name); err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return "", fmt.Errorf("credential %q does not exist: create it with POST /v1/credentials", name)
		}
		return "", err
	}
	return "[secret " + name + "]", nil
}

// literalSecret finds params that hold what belongs in a credential: a Slack
// or Teams webhook URL (its path is the secret), an Authorization header.
var literalSecret = regexp.MustCompile(`(?i)hooks\.slack\.com/services/|\.webhook\.office\.com/|\.logic\.azure\.com[:/]|"authorization"\s*:\s*"(bearer|basic|token)\s`)

// credentialWarnings are what saving a would warn of: literal secrets in its
// params, and credentials it names that do not exist (yet).
func (s *Server) credentialWarnings(ctx context.Context, a *models.Automation, prog *automation.Program) []string {
	var out []string
	for i, st := range a.Steps {
		if literalSecret.Match(st.Params) {
			out = append(out, fmt.Sprintf("steps[%d] (id %q) params hold a literal webhook URL or Authorization header: store it with POST /v1/credentials and write {\"$secret\": \"name\"} or {{ secret \"name\" }}, so it stays out of the automation and its versions", i, st.ID))
		}
	}
	for _, name := range prog.Secrets() {
		if _, err := s.creds.GetCredential(ctx, a.WorkspaceID, name); errors.Is(err, models.ErrNotFound) {
			out = append(out, fmt.Sprintf("credential %q does not exist yet: runs fail until it is created with POST /v1/credentials", name))
		}
	}
	return out
}
