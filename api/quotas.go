package api

import (
	"context"
	"fmt"

	"github.com/gin-gonic/gin"
)

// Quotas cap how many of each resource one workspace may hold, so no tenant can
// grow the tables every event is matched against (endpoints, automations) or the
// ones every request is authenticated against (keys) without the operator's say.
// Zero means no cap.
type Quotas struct {
	Endpoints   int
	Automations int
	Sources     int
	APIKeys     int
}

// quota is one cap as a create handler checks it.
type quota struct {
	noun  string // "endpoints", "active API keys"
	env   string // the setting that raises it
	undo  string // how the tenant makes room: "delete one"
	limit int
	count func(ctx context.Context, workspaceID string) (int64, error)
}

// quotaError is a create refused because the workspace is at a quota.
type quotaError struct {
	Noun, Env, Undo string
	Have            int64
	Limit           int
}

// Error implements error; it says which quota, how to make room and who raises it.
func (e *quotaError) Error() string {
	return fmt.Sprintf("this workspace has %d %s and its quota is %d (%s); %s or ask the operator to raise it",
		e.Have, e.Noun, e.Limit, e.Env, e.Undo)
}

func (s *Server) endpointQuota() quota {
	return quota{"endpoints", "HOOKFLOW_QUOTA_ENDPOINTS", "delete one", s.cfg.Quotas.Endpoints, s.store.CountEndpoints}
}

func (s *Server) automationQuota() quota {
	return quota{"automations", "HOOKFLOW_QUOTA_AUTOMATIONS", "delete one", s.cfg.Quotas.Automations, s.autos.CountAutomations}
}

func (s *Server) sourceQuota() quota {
	return quota{"sources", "HOOKFLOW_QUOTA_SOURCES", "delete one", s.cfg.Quotas.Sources, s.sources.CountSources}
}

func (s *Server) apiKeyQuota() quota {
	return quota{"active API keys", "HOOKFLOW_QUOTA_API_KEYS", "revoke one", s.cfg.Quotas.APIKeys, s.store.CountActiveAPIKeys}
}

// withinQuota reports whether the caller's workspace may create one more of q's
// resource, answering the refusal itself.
func (s *Server) withinQuota(c *gin.Context, q quota) bool {
	if err := s.checkQuota(c.Request.Context(), workspace(c), q); err != nil {
		s.fail(c, err)
		return false
	}
	return true
}

// checkQuota is nil when workspaceID may create one more of q's resource, else a
// *quotaError (or the count's error). It counts and then the caller inserts,
// without a lock between: concurrent creates of one workspace can each pass at
// limit-1 and overshoot by as many as run at once. That is bounded by the
// workspace's rate limit and harmless (the quota keeps tables from growing without
// bound, not exact to the row), and it keeps every create a single insert.
func (s *Server) checkQuota(ctx context.Context, workspaceID string, q quota) error {
	if q.limit <= 0 {
		return nil
	}
	have, err := q.count(ctx, workspaceID)
	if err != nil {
		return err
	}
	if have >= int64(q.limit) {
		return &quotaError{Noun: q.noun, Env: q.env, Undo: q.undo, Have: have, Limit: q.limit}
	}
	return nil
}
