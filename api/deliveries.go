package api

import (
	"context"
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

// DefaultMaxRecover bounds one recover call: each recovered delivery is a
// workflow started now, so a call starts a bounded burst and answers within the
// request's time; a larger backlog takes more calls, each carrying on from the last.
const DefaultMaxRecover = 1000

// recoverBudget stops a call early (answering more: true) so it ends well within
// the server's write timeout (60 s) even when Temporal is slow, and well within its
// lease; recoverLease is how long a call holds its endpoint's lease. A server that
// dies mid-call blocks the next recover of that endpoint for at most recoverLease.
const (
	recoverBudget = 30 * time.Second
	recoverLease  = 2 * time.Minute
)

type recoverRequest struct {
	Since  time.Time `json:"since"`
	Cursor string    `json:"cursor"`
}

type recoverResponse struct {
	EndpointID string    `json:"endpoint_id"`
	Since      time.Time `json:"since"`
	Recovered  int       `json:"recovered"`
	// More says failed deliveries since Since remain past NextCursor: call again
	// with it as cursor.
	More       bool    `json:"more"`
	NextCursor *string `json:"next_cursor"`
}

// recoverEndpoint re-runs the failed deliveries of an endpoint since a time, each
// with its original webhook-id, newest first, at most MaxRecover per call. One call
// at a time per endpoint, across every server: a second answers 409
// recover_in_progress. The cursor walks the backlog by id, so deliveries recovered
// by an earlier call that failed again are not started a second time.
func (s *Server) recoverEndpoint(c *gin.Context) {
	var req recoverRequest
	if !s.bindJSON(c, &req, 16<<10) {
		return
	}
	if req.Since.IsZero() {
		s.fail(c, models.Invalid("since", "is required (RFC 3339 time)"))
		return
	}
	if req.Cursor != "" && !ids.Valid(ids.Delivery, req.Cursor) {
		s.fail(c, models.Invalid("cursor", "must be the next_cursor of an earlier recover of this endpoint (a del_ ID)"))
		return
	}
	ep, ok := s.loadEndpoint(c)
	if !ok {
		return
	}
	release, ok := s.takeRecoverLease(c, ep.ID)
	if !ok {
		return
	}
	defer release()
	res, err := s.recoverBatch(c.Request.Context(), ep, req)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, res)
}

// takeRecoverLease takes the endpoint's recover lease, answering 409 itself when
// another call holds it. The release runs even if the client has gone away.
func (s *Server) takeRecoverLease(c *gin.Context, endpointID string) (func(), bool) {
	ctx := c.Request.Context()
	token := ids.New("rcv")
	took, err := s.store.TakeRecoverLease(ctx, workspace(c), endpointID, token, s.cfg.Now(), recoverLease)
	if err != nil {
		s.fail(c, err)
		return nil, false
	}
	if !took {
		writeError(c, http.StatusConflict, "recover_in_progress", fmt.Sprintf(
			"a recover of endpoint %s is already running (one at a time per endpoint); wait for it to answer, then call again with its next_cursor if it says more (a stuck one expires within %s)",
			endpointID, recoverLease))
		return nil, false
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.store.ReleaseRecoverLease(ctx, endpointID, token); err != nil {
			s.logger.WarnContext(ctx, "release recover lease; it expires by itself", "endpoint_id", endpointID, "error", err)
		}
	}, true
}

// recoverBatch starts up to MaxRecover of the endpoint's failed deliveries after
// the cursor, stopping early when the time budget is spent.
func (s *Server) recoverBatch(ctx context.Context, ep *models.Endpoint, req recoverRequest) (recoverResponse, error) {
	res := recoverResponse{EndpointID: ep.ID, Since: req.Since.UTC()}
	f := models.DeliveryFilter{EndpointID: ep.ID, Status: models.DeliveryFailed, Since: &req.Since}
	deadline := time.Now().Add(recoverBudget)
	cursor := req.Cursor
	for {
		page, next, err := s.store.ListDeliveries(ctx, ep.WorkspaceID, f, models.Page{Cursor: cursor, Limit: min(250, s.cfg.MaxRecover-res.Recovered)})
		if err != nil {
			return res, err
		}
		for i, d := range page {
			if err := s.recoverOne(ctx, d); err != nil {
				return res, err
			}
			res.Recovered++
			cursor = d.ID
			if time.Now().After(deadline) && (i < len(page)-1 || next != "") {
				res.More = true
				break
			}
		}
		if res.More || next == "" {
			break
		}
		if res.Recovered >= s.cfg.MaxRecover {
			res.More = true
			break
		}
	}
	if res.More {
		res.NextCursor = &cursor
	}
	return res, nil
}

// recoverOne marks a delivery pending and starts it again; one already running
// again (ErrConflict) counts as recovered.
func (s *Server) recoverOne(ctx context.Context, d models.Delivery) error {
	if err := s.store.SetDeliveryStatus(ctx, d.ID, models.DeliveryPending, d.LastError); err != nil {
		return err
	}
	if err := s.engine.RetryDelivery(ctx, d); err != nil && !errors.Is(err, models.ErrConflict) {
		if rerr := s.store.SetDeliveryStatus(ctx, d.ID, d.Status, d.LastError); rerr != nil {
			s.logger.ErrorContext(ctx, "restore delivery status after failed recover", "delivery_id", d.ID, "error", rerr)
		}
		return err
	}
	return nil
}
