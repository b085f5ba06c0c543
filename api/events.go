package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/metrics"
	"github.com/hookflow/hookflow/models"
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
	Deliveries []models.Delivery `json:"deliveries"`
	Runs       []models.Run      `json:"runs"`
}

// DedupKey is what makes two sends the same event: the caller's own event id, else
// its Idempotency-Key, else nothing (hookflow's fresh id).
func DedupKey(externalID, idempotencyKey, eventID string) string {
	switch {
	case externalID != "":
		return "id:" + externalID
	case idempotencyKey != "":
		return "key:" + idempotencyKey
	}
	return "evt:" + eventID
}

// createEvent accepts an event. The answer is 202 only after the event's workflow has
// started: from then on Temporal holds it durably, and a crash cannot lose it.
func (s *Server) createEvent(c *gin.Context) {
	var req eventRequest
	if !s.bindJSON(c, &req, s.cfg.MaxEventBytes) {
		return
	}
	if err := models.ValidateEventType("type", req.Type); err != nil {
		s.fail(c, err)
		return
	}
	if err := validateKey("id", req.ID); err != nil {
		s.fail(c, err)
		return
	}
	idem := c.GetHeader("Idempotency-Key")
	if err := validateKey("Idempotency-Key", idem); err != nil {
		s.fail(c, err)
		return
	}
	data := bytes.TrimSpace(req.Data)
	switch {
	case len(data) == 0 || bytes.Equal(data, []byte("null")):
		data = []byte("{}")
	case data[0] != '{':
		s.fail(c, models.Invalid("data", "must be a JSON object"))
		return
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		s.fail(c, models.Invalid("data", "is not valid JSON: %v", err))
		return
	}

	ws := workspace(c)
	ev := models.Event{
		ID:             ids.New(ids.Event),
		WorkspaceID:    ws,
		Type:           req.Type,
		ExternalID:     req.ID,
		IdempotencyKey: idem,
		Data:           compact.Bytes(),
		CreatedAt:      s.cfg.Now(),
	}
	ev.DedupKey = DedupKey(ev.ExternalID, ev.IdempotencyKey, ev.ID)

	// Temporal forgets workflow IDs after the namespace's retention; the store does not.
	if ev.ExternalID != "" || ev.IdempotencyKey != "" {
		prior, err := s.store.EventByDedupKey(c.Request.Context(), ws, ev.DedupKey)
		switch {
		case err == nil:
			c.JSON(http.StatusAccepted, eventAccepted{ID: prior.ID, Type: prior.Type, ExternalID: prior.ExternalID, Duplicate: true})
			return
		case !errors.Is(err, models.ErrNotFound):
			s.fail(c, errors.Join(models.ErrUnavailable, err))
			return
		}
	}
	id, dup, err := s.engine.StartEvent(c.Request.Context(), ev, "")
	if err != nil {
		s.fail(c, err)
		return
	}
	if !dup {
		s.cfg.Metrics.EventAccepted(metrics.IngressAPI, metrics.IngressAPI, ev.Type)
	}
	c.JSON(http.StatusAccepted, eventAccepted{ID: id, Type: ev.Type, ExternalID: ev.ExternalID, Duplicate: dup})
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
	page, ok := s.page(c, ids.Event)
	if !ok {
		return
	}
	evs, next, err := s.store.ListEvents(c.Request.Context(), workspace(c), page)
	if err != nil {
		s.fail(c, err)
		return
	}
	if evs == nil {
		evs = []models.Event{}
	}
	c.JSON(http.StatusOK, listResponse(evs, next))
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
		runs = []models.Run{}
	}
	c.JSON(http.StatusOK, eventDetail{Event: *ev, Deliveries: ds, Runs: runs})
}
