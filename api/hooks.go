package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/chain"
	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/inbound"
	"github.com/hookflow/hookflow/internal/ingest"
	"github.com/hookflow/hookflow/internal/metrics"
	"github.com/hookflow/hookflow/models"
)

// hook is the doorbell: POST, PUT or GET /hooks/{source_id}. Everything is checked
// before anything is stored or started: the source, the size (without reading past
// the limit), the signature, the body; then the event is taken in and the answer is
// 202 with the event id.
func (s *Server) hook(c *gin.Context) {
	ctx := c.Request.Context()
	src, err := s.hookSource(ctx, c.Param("source_id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	if ok, wait := s.cfg.SourceLimiter.Allow(src.ID); !ok {
		tooMany(c, wait, "this source", s.cfg.SourceLimiter.PerSecond())
		return
	}
	now := s.cfg.Now()
	data, err := readHook(c.Writer, c.Request, src, now)
	if err != nil {
		s.fail(c, err)
		return
	}
	if src.Verification.Scheme == inbound.Slack && data["type"] == "url_verification" {
		c.JSON(http.StatusOK, gin.H{"challenge": data["challenge"]})
		return
	}
	ev, err := s.hookEvent(src, c.Request.Header, data, now)
	if err != nil {
		s.fail(c, err)
		return
	}
	acc, err := s.intake.Take(ctx, ingest.Request{Event: ev, Ingress: metrics.IngressHooks, Source: src.ID})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, acceptedBody(acc))
}

// hookRejection is a /hooks answer other than 202, with a code that tells the
// sender which check its request failed.
type hookRejection struct {
	status        int
	code, message string
}

func (e *hookRejection) Error() string { return e.message }

func reject(status int, code, message string) error {
	return &hookRejection{status: status, code: code, message: message}
}

// hookSource is the enabled source a request rings. The route is public, so a
// store outage is 503 rather than an unknown error.
func (s *Server) hookSource(ctx context.Context, id string) (*models.Source, error) {
	src, err := s.sources.SourceByID(ctx, id)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return nil, reject(http.StatusNotFound, "not_found", "no source "+id)
	case err != nil:
		return nil, errors.Join(models.ErrUnavailable, err)
	case !src.Enabled:
		return nil, reject(http.StatusGone, "source_disabled", "this source is disabled")
	}
	return src, nil
}

// readHook reads, verifies and parses a request to src: its body within the
// source's limit, its signature, then its data.
func readHook(w http.ResponseWriter, r *http.Request, src *models.Source, now time.Time) (map[string]any, error) {
	body, err := readHookBody(w, r, src.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	if err := verifyHook(src, r.Header, body, now); err != nil {
		return nil, err
	}
	return parseHook(src, r, body)
}

// readHookBody reads at most limit bytes (DefaultMaxHookBytes when not positive),
// refusing a declared length over it before reading anything.
func readHookBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxHookBytes
	}
	tooLarge := reject(http.StatusRequestEntityTooLarge, "payload_too_large", fmt.Sprintf("body exceeds %d bytes", limit))
	if r.ContentLength > limit {
		// The unread body would otherwise be drained to reuse the connection.
		w.Header().Set("Connection", "close")
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return nil, tooLarge
	case err != nil:
		return nil, reject(http.StatusBadRequest, "bad_request", "could not read the body")
	}
	return body, nil
}

// verifyHook checks the request's signature by the source's scheme with every
// secret active at now (the previous one still counts during a rotation).
func verifyHook(src *models.Source, h http.Header, body []byte, now time.Time) error {
	v, err := inbound.New(inboundConfig(src, models.ActiveSecrets(src.Secrets, now)))
	if err != nil {
		return fmt.Errorf("source %s verification: %w", src.ID, err)
	}
	err = v.Verify(h, body, now)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, inbound.ErrMissing):
		return reject(http.StatusUnauthorized, "missing_signature", err.Error())
	case errors.Is(err, inbound.ErrTimestamp):
		return reject(http.StatusUnauthorized, "stale_timestamp", err.Error())
	}
	return reject(http.StatusUnauthorized, "invalid_signature", err.Error())
}

// parseHook turns a verified request into the event's data: JSON, a form or a
// query string.
func parseHook(src *models.Source, r *http.Request, body []byte) (map[string]any, error) {
	query := r.URL.Query()
	// After the signature, so a stranger learns nothing; before parsing, so data the
	// signature does not cover never becomes an event.
	if err := inbound.CheckQueryData(src.Verification.Scheme, src.AllowUnsignedQuery, r.Method, query, body); err != nil {
		return nil, reject(http.StatusBadRequest, "unsigned_data", err.Error())
	}
	data, err := inbound.ParseBody(r.Method, r.Header.Get("Content-Type"), query, body)
	switch {
	case errors.Is(err, inbound.ErrUnsupportedType):
		return nil, reject(http.StatusUnsupportedMediaType, "unsupported_media_type", err.Error())
	case err != nil:
		return nil, reject(http.StatusBadRequest, "invalid_request", err.Error())
	}
	return data, nil
}

// hookEvent builds the event a verified request to src makes: its type and id read
// where the source says, its safe headers, its chain position, and its dedup key.
func (s *Server) hookEvent(src *models.Source, h http.Header, data map[string]any, now time.Time) (models.Event, error) {
	eventType, err := hookEventType(src, h, data)
	if err != nil {
		return models.Event{}, err
	}
	externalID, err := hookEventID(src, h, data)
	if err != nil {
		return models.Event{}, err
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return models.Event{}, fmt.Errorf("encode event data: %w", err)
	}
	ev := models.Event{ID: ids.New(ids.Event), WorkspaceID: src.WorkspaceID, Type: eventType, ExternalID: externalID,
		SourceID: src.ID, Data: raw, Headers: safeHeaders(src, h), CreatedAt: now}
	// hookflow's own delivery ringing back in: the event joins the chain it came
	// from (its depth and budget) instead of starting a fresh one.
	if link, chained := s.cfg.Chain.Verify(h.Get(chain.Header)); chained {
		if ev.Depth, ev.RootID, err = ingest.Child(ingest.Parent{Depth: link.Depth, RootID: link.RootID}); err != nil {
			return models.Event{}, err
		}
	}
	ev.DedupKey = ingest.SourceKey(src.ID, externalID, ev.ID)
	return ev, nil
}

// hookEventType reads the event type from a header, the data, or the source's fixed value.
func hookEventType(src *models.Source, h http.Header, data map[string]any) (string, error) {
	eventType := src.EventType.Value
	switch {
	case src.EventType.Header != "":
		eventType = h.Get(src.EventType.Header)
	case src.EventType.Path != "":
		eventType, _ = inbound.Lookup(data, src.EventType.Path)
	}
	if err := models.ValidateEventType("event type", eventType); err != nil {
		return "", reject(http.StatusBadRequest, "invalid_request", "cannot read the event type: "+err.Error())
	}
	return eventType, nil
}

// hookEventID reads the sender's delivery id where the source says, else where its
// scheme's senders put it; empty when there is none (no dedup).
func hookEventID(src *models.Source, h http.Header, data map[string]any) (string, error) {
	ref := defaultEventID(src.Verification.Scheme)
	if src.EventID != nil {
		ref = *src.EventID
	}
	externalID := ""
	switch {
	case ref.Header != "":
		externalID = h.Get(ref.Header)
	case ref.Path != "":
		externalID, _ = inbound.Lookup(data, ref.Path)
	}
	if err := validateKey("event id", externalID); err != nil {
		return "", reject(http.StatusBadRequest, "invalid_request", err.Error())
	}
	return externalID, nil
}

// defaultEventID is where each scheme's senders put their delivery id.
func defaultEventID(scheme string) models.FieldRef {
	switch scheme {
	case inbound.StandardWebhooks:
		return models.FieldRef{Header: "webhook-id"}
	case inbound.GitHub:
		return models.FieldRef{Header: "X-GitHub-Delivery"}
	case inbound.Stripe:
		return models.FieldRef{Path: "id"}
	case inbound.Shopify:
		return models.FieldRef{Header: "X-Shopify-Webhook-Id"}
	case inbound.Slack:
		return models.FieldRef{Path: "event_id"}
	}
	return models.FieldRef{}
}

// sensitiveHeaders are never kept on events: credentials, cookies and signatures.
var sensitiveHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "cookie": true, "set-cookie": true,
	"x-hub-signature": true, "x-hub-signature-256": true, "stripe-signature": true, "webhook-signature": true,
	"x-shopify-hmac-sha256": true, "x-slack-signature": true, "x-api-key": true,
	"hookflow-chain": true,
}

// safeHeaders are the request's headers an event keeps (lower-cased, first value):
// all but credentials, signatures and the source's own signature header, since
// events are delivered on and shown over the API.
func safeHeaders(src *models.Source, h http.Header) map[string]string {
	out := map[string]string{}
	for k, vs := range h {
		lk := strings.ToLower(k)
		if sensitiveHeaders[lk] || (src.Verification.Header != "" && strings.EqualFold(k, src.Verification.Header)) || len(vs) == 0 {
			continue
		}
		out[lk] = vs[0]
	}
	return out
}
