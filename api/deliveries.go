package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/models"
)

func (s *Server) listDeliveries(c *gin.Context) {
	page, ok := s.page(c, ids.Delivery)
	if !ok {
		return
	}
	f := models.DeliveryFilter{
		EndpointID: c.Query("endpoint_id"),
		EventID:    c.Query("event_id"),
		Status:     models.DeliveryStatus(c.Query("status")),
	}
	if f.Status != "" && !f.Status.Valid() {
		s.fail(c, models.Invalid("status", "must be one of pending, succeeded, failed"))
		return
	}
	ds, next, err := s.store.ListDeliveries(c.Request.Context(), workspace(c), f, page)
	if err != nil {
		s.fail(c, err)
		return
	}
	if ds == nil {
		ds = []models.Delivery{}
	}
	c.JSON(http.StatusOK, listResponse(ds, next))
}

func (s *Server) loadDelivery(c *gin.Context) (*models.Delivery, bool) {
	d, err := s.store.GetDelivery(c.Request.Context(), workspace(c), c.Param("id"))
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			err = notFound("delivery", c.Param("id"))
		}
		s.fail(c, err)
		return nil, false
	}
	if d.Attempts == nil {
		d.Attempts = []models.Attempt{}
	}
	return d, true
}

// deliveryDetail always lists attempts, even none (models.Delivery omits them in lists).
type deliveryDetail struct {
	models.Delivery
	Attempts []models.Attempt `json:"attempts"`
}

func (s *Server) getDelivery(c *gin.Context) {
	if d, ok := s.loadDelivery(c); ok {
		c.JSON(http.StatusOK, deliveryDetail{Delivery: *d, Attempts: d.Attempts})
	}
}

// retryDelivery runs a finished delivery again with the same webhook-id. A delivery
// still in progress is refused (409): its own retries are already scheduled.
func (s *Server) retryDelivery(c *gin.Context) {
	d, ok := s.loadDelivery(c)
	if !ok {
		return
	}
	if d.Status == models.DeliveryPending {
		s.fail(c, fmt.Errorf("delivery %s is still pending: %w", d.ID, models.ErrConflict))
		return
	}
	// Mark it pending before the retry starts, so the retry's own outcome is what stays.
	if err := s.store.SetDeliveryStatus(c.Request.Context(), d.ID, models.DeliveryPending, d.LastError); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.engine.RetryDelivery(c.Request.Context(), *d); err != nil {
		if rerr := s.store.SetDeliveryStatus(c.Request.Context(), d.ID, d.Status, d.LastError); rerr != nil {
			s.logger.ErrorContext(c.Request.Context(), "restore delivery status after failed retry", "delivery_id", d.ID, "error", rerr)
		}
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"id": d.ID, "status": models.DeliveryPending, "message_id": d.MessageID})
}

// maxRecover bounds one recover call; a larger backlog takes several calls.
const maxRecover = 10000

// recoverEndpoint re-runs every failed delivery of an endpoint since a time, each
// with its original webhook-id, and answers how many.
func (s *Server) recoverEndpoint(c *gin.Context) {
	var req struct {
		Since time.Time `json:"since"`
	}
	if !s.bindJSON(c, &req, 16<<10) {
		return
	}
	if req.Since.IsZero() {
		s.fail(c, models.Invalid("since", "is required (RFC 3339 time)"))
		return
	}
	ep, ok := s.loadEndpoint(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	f := models.DeliveryFilter{EndpointID: ep.ID, Status: models.DeliveryFailed, Since: &req.Since}
	n, cursor := 0, ""
	for n < maxRecover {
		page, next, err := s.store.ListDeliveries(ctx, ep.WorkspaceID, f, models.Page{Cursor: cursor, Limit: 250})
		if err != nil {
			s.fail(c, err)
			return
		}
		for _, d := range page {
			if err := s.store.SetDeliveryStatus(ctx, d.ID, models.DeliveryPending, d.LastError); err != nil {
				s.fail(c, err)
				return
			}
			if err := s.engine.RetryDelivery(ctx, d); err != nil && !errors.Is(err, models.ErrConflict) {
				_ = s.store.SetDeliveryStatus(ctx, d.ID, d.Status, d.LastError)
				s.fail(c, err)
				return
			}
			n++
		}
		if next == "" {
			break
		}
		cursor = next
	}
	c.JSON(http.StatusAccepted, gin.H{"endpoint_id": ep.ID, "recovered": n, "since": req.Since.UTC()})
}
