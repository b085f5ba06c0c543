package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/ingest"
	"github.com/hookflow/hookflow/internal/metrics"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

type eventRequest struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	Data json.RawMessage `json:"data"`
}

type eventAccepted struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	ExternalID string `json:"external_id,omitempty"`
	Duplicate  bool   `json:"duplicate"`
}

type eventDetail struct {
	models.Event
	// WorkflowID is the Temporal workflow that took the event in: its batch's,
	// or its own EventWorkflow's when it was accepted alone.
	WorkflowID string                 `json:"workflow_id"`
	Deliveries []models.Delivery      `json:"deliveries"`
	Runs       []models.AutomationRun `json:"runs"`
}

// eventWorkflowID is the workflow that took ev in (see eventDetail).
func eventWorkflowID(ev *models.Event) string {
	if ev.BatchID != "" {
		return workflows.BatchWorkflowID(ev.WorkspaceID, ev.BatchID)
	}
	return workflows.EventWorkflowID(ev.WorkspaceID, ev.DedupKey)
}

// acceptedBody is the 202 answer for an event taken in.
func acceptedBody(acc ingest.Accepted) eventAccepted {
	return eventAccepted{ID: acc.ID, Type: acc.Type, ExternalID: acc.ExternalID, Duplicate: acc.Duplicate}
}

// createEvent accepts an event. The answer is 202 only after the event's workflow has
// started: from then on Temporal holds it durably, and a crash cannot lose it.
func (s *Server) createEvent(c *gin.Context) {
	var req eventRequest
	if !s.bindJSON(c, &req, s.cfg.MaxEventBytes) {
		return
	}
	ev, err := s.apiEvent(req, workspace(c), c.GetHeader("Idempotency-Key"))
	if err != nil {
		s.fail(c, err)
		return
	}
	acc, err := s.intake.Take(c.Request.Context(), ingest.Request{Event: ev, Ingress: metrics.IngressAPI, Source: metrics.IngressAPI})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, acceptedBody(acc))
}

// apiEvent validates a POST /v1/events and builds its event, keyed by the caller's
// id or Idempotency-Key (idem) when it gives one.
func (s *Server) apiEvent(req eventRequest, ws, idem string) (models.Event, error) {
	if err := models.ValidateEventType("type", req.Type); err != nil {
		return models.Event{}, err
	}
	if err := validateKey("id", req.ID); err != nil {
		return models.Event{}, err
	}
	if err := validateKey("Idempotency-Key", idem); err != nil {
		return models.Event{}, err
	}
	data, err := eventData(req.Data)
	if err != nil {
		return models.Event{}, err
	}
	ev := models.Event{
		ID:             ids.New(ids.Event),
		WorkspaceID:    ws,
		Type:           req.Type,
		ExternalID:     req.ID,
		IdempotencyKey: idem,
		Data:           data,
		CreatedAt:      s.cfg.Now(),
	}
	ev.DedupKey = ingest.APIKey(ev.ExternalID, ev.IdempotencyKey, ev.ID)
	return ev, nil
}

// eventData is an event's data compacted: a JSON object, {} when absent or null.
func eventData(raw json.RawMessage) ([]byte, error) {
	data := bytes.TrimSpace(raw)
	switch {
	case len(data) == 0 || bytes.Equal(data, []byte("null")):
		data = []byte("{}")
	case data[0] != '{':
		return nil, models.Invalid("data", "must be a JSON object")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return nil, models.Invalid("data", "is not valid JSON: %v", err)
	}
	return compact.Bytes(), nil
}

func validateKey(field, v string) error {
	if len(v) > models.MaxExternalIDLen {
		return models.Invalid(field, "must be at most %d characters", models.MaxExternalIDLen)
	}
	if !utf8.ValidString(v) {
		return models.Invalid(field, "must be valid UTF-8")
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return models.Invalid(field, "must not contain control characters")
		}
	}
	return nil
}

func (s *Server) listEvents(c *gin.Context) {
	listPage(s, c, ids.Event, s.store.ListEvents)
}

func (s *Server) getEvent(c *gin.Context) {
	ws := workspace(c)
	ev, err := s.store.GetEvent(c.Request.Context(), ws, c.Param("id"))
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			err = notFound("event", c.Param("id"))
		}
		s.fail(c, err)
		return
	}
	ds, err := s.store.DeliveriesForEvent(c.Request.Context(), ws, ev.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	if ds == nil {
		ds = []models.Delivery{}
	}
	runs, err := s.autos.RunsForEvent(c.Request.Context(), ws, ev.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	if runs == nil {
		runs = []models.AutomationRun{}
	}
	c.JSON(http.StatusOK, eventDetail{Event: *ev, WorkflowID: eventWorkflowID(ev), Deliveries: ds, Runs: runs})
}
