package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime/debug"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/apikeys"
	"github.com/hookflow/hookflow/internal/ingest"
	"github.com/hookflow/hookflow/models"
)

// errorBody is every error answer: {"error":{"code","message"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(c *gin.Context, status int, code, message string) {
	c.AbortWithStatusJSON(status, errorBody{Error: errorDetail{Code: code, Message: message}})
}

// fail maps an error to its HTTP answer. It is the only place that knows how domain
// errors look over HTTP; unknown errors are logged and answered 500 without detail.
func (s *Server) fail(c *gin.Context, err error) {
	var maxErr *http.MaxBytesError
	var verr *models.ValidationError
	var qerr *quotaError
	var kerr *models.KeyReusedError
	var rej *hookRejection
	var deep *ingest.DepthError
	var budget *ingest.BudgetError
	switch {
	case errors.As(err, &rej):
		writeError(c, rej.status, rej.code, rej.message)
	case errors.As(err, &deep):
		// Only /hooks takes in events with a parent: hookflow's own deliveries.
		writeError(c, http.StatusBadRequest, "chain_limit", fmt.Sprintf(
			"this request comes from an event chain at depth %d, the limit is %d; an endpoint or webhook step probably points back at this source", deep.Depth-1, deep.Limit))
	case errors.As(err, &budget):
		writeError(c, http.StatusBadRequest, "chain_limit", fmt.Sprintf(
			"event %s has caused %d events, the limit of one chain (HOOKFLOW_MAX_CHAIN_EVENTS); an endpoint or webhook step probably points back at this source", budget.RootID, budget.Limit))
	case errors.Is(err, apikeys.ErrOtherWorkspace):
		writeError(c, http.StatusForbidden, "forbidden", errOperatorOnly)
	case errors.As(err, &qerr):
		writeError(c, http.StatusConflict, "quota_exceeded", qerr.Error())
	case errors.As(err, &kerr):
		// Only redemptions reach the ledger over the API, keyed by the header.
		writeError(c, http.StatusConflict, "idempotency_key_reused",
			"this Idempotency-Key was already used with "+kerr.Differs()+"; send a new key for a new redemption, or the same request to get its answer again")
	case errors.As(err, &maxErr):
		writeError(c, http.StatusRequestEntityTooLarge, "payload_too_large", fmt.Sprintf("request body exceeds %d bytes", maxErr.Limit))
	case errors.As(err, &verr):
		writeError(c, http.StatusBadRequest, "invalid_request", verr.Error())
	case errors.Is(err, models.ErrInvalid):
		writeError(c, http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, models.ErrNotFound):
		writeError(c, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, models.ErrConflict):
		writeError(c, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, models.ErrUnauthenticated):
		writeError(c, http.StatusUnauthorized, "unauthorized", err.Error())
	case errors.Is(err, models.ErrUnavailable):
		s.logger.WarnContext(c.Request.Context(), "dependency unavailable", "error", err)
		c.Header("Retry-After", "5")
		writeError(c, http.StatusServiceUnavailable, "unavailable", "a dependency is unavailable; try again shortly")
	default:
		s.logger.ErrorContext(c.Request.Context(), "request failed", "error", err)
		writeError(c, http.StatusInternalServerError, "internal", "internal error")
	}
}

// notFound is the answer for a resource that does not exist in the caller's workspace.
func notFound(kind, id string) error {
	return fmt.Errorf("%s %q: %w", kind, id, models.ErrNotFound)
}

// decodeJSON reads one JSON object from the body into dst: Content-Type must be JSON
// when given, unknown fields are refused (a typo should not pass silently), trailing
// data is refused, and the body is cut at limit bytes.
func decodeJSON(c *gin.Context, dst any, limit int64) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !hasJSONSuffix(mt)) {
			return &unsupportedMediaType{ct}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return err
		}
		return models.Invalid("", "could not read the request body: %v", err)
	}
	// JSON is UTF-8 (RFC 8259); Go's decoder would quietly turn invalid bytes in
	// strings into U+FFFD, storing and delivering something the client never sent.
	if !utf8.Valid(body) {
		return models.Invalid("", "request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return describeJSONError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return models.Invalid("", "request body must hold a single JSON object")
	}
	return nil
}

func hasJSONSuffix(mt string) bool {
	return len(mt) > 5 && mt[len(mt)-5:] == "+json"
}

type unsupportedMediaType struct{ ct string }

func (e *unsupportedMediaType) Error() string {
	return fmt.Sprintf("Content-Type %q is not supported; send application/json", e.ct)
}

func describeJSONError(err error) error {
	var maxErr *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return err
	case errors.Is(err, io.EOF):
		return models.Invalid("", "request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return models.Invalid("", "request body is truncated JSON")
	case errors.As(err, &syn):
		return models.Invalid("", "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		if typ.Field != "" {
			return models.Invalid(typ.Field, "must be %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return models.Invalid("", "request body must be a JSON object, not %s", typ.Value)
	default:
		// json's unknown-field and other errors are already readable.
		return models.Invalid("", "%s", err.Error())
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "ptr":
		return "a value"
	}
	return "a number"
}

// bindJSON decodes and answers the error itself; it reports whether to go on.
func (s *Server) bindJSON(c *gin.Context, dst any, limit int64) bool {
	err := decodeJSON(c, dst, limit)
	if err == nil {
		return true
	}
	var umt *unsupportedMediaType
	if errors.As(err, &umt) {
		writeError(c, http.StatusUnsupportedMediaType, "unsupported_media_type", umt.Error())
		return false
	}
	s.fail(c, err)
	return false
}

func (s *Server) recoverJSON() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.logger.ErrorContext(c.Request.Context(), "panic in handler", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				writeError(c, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		c.Next()
	}
}
