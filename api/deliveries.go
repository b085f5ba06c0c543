package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/models"
)

func (s *Server) listDeliveries(c *gin.Context) {
	page, ok := s.page(c)
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
