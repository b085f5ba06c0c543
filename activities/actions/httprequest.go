package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/hookflow/hookflow/internal/chain"
	"github.com/hookflow/hookflow/internal/dispatch"
	"github.com/hookflow/hookflow/internal/signing"
	"github.com/hookflow/hookflow/models"
)

// HTTPRequest is `http.request`: any call to an HTTP API through the SSRF guard,
// {"method"?, "url", "headers"?, "query"?, "json" | "form" | "body"?, "expect"?,
// "sign"?, "timeout"?} (httpCall). Its output {"status", "headers", "json" |
// "body"} lets later steps use the answer (`.steps.crm.json.id`). A status outside
// expect (default 2xx) fails the step: 429 waits for Retry-After, 408, 425 and
// 5xx retry on the delivery schedule, anything else (3xx, 4xx) is final. Requests
// other than GET and HEAD carry `Idempotency-Key: <run>:<step>`, the same on
// every attempt, unless the step sets its own.
type HTTPRequest struct {
	Dispatcher dispatch.Dispatcher
	// Chain signs the chain header, so a request aimed at hookflow's own /hooks
	// keeps its chain's depth and budget; nil sends none.
	Chain *chain.Signer
}

// MaxResponseBytes bounds the answer a step reads; a longer one fails the step
// for good. The answer becomes the step's output, which Temporal carries in the
// run's history and in every later step's input (2 MiB per payload): 256 KiB,
// the default HOOKFLOW_MAX_EVENT_BYTES, leaves room for several such steps.
const MaxResponseBytes = 256 << 10

// IdempotencyHeader carries sc.Key on requests that change something.
const IdempotencyHeader = "Idempotency-Key"

// outputHeaders are the answer's headers a step's output keeps (lower case):
// the ones later steps act on, not the transport's.
var outputHeaders = []string{"Content-Type", "Content-Length", "Location", "ETag", "Last-Modified", "Link", "Retry-After", "X-Request-Id", "Request-Id"}

// Name implements Action.
func (HTTPRequest) Name() string { return "http.request" }

// Retry implements Action.
func (HTTPRequest) Retry() RetryKind { return RetryHTTP }

// Run implements Action.
func (a HTTPRequest) Run(ctx context.Context, sc StepContext, params map[string]any) (map[string]any, error) {
	call, err := parseHTTPCall(params)
	if err != nil {
		return nil, err
	}
	header, err := a.headers(sc, call)
	if err != nil {
		return nil, err
	}
	if call.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, call.timeout)
		defer cancel()
	}
	resp, err := send(ctx, a.Dispatcher, dispatch.Request{
		Method: call.method, URL: call.url, Body: call.body, Header: header, ContentType: call.contentType, MaxBody: MaxResponseBytes,
	})
	if err != nil {
		return nil, err
	}
	if err := call.check(resp); err != nil {
		return nil, err
	}
	return httpOutput(resp), nil
}

// headers are the step's own, then the idempotency key (unless the step set
// one), the chain header and, with sign, the Standard Webhooks signature, which
// the step cannot override.
func (a HTTPRequest) headers(sc StepContext, call *httpCall) (http.Header, error) {
	h := call.header.Clone()
	if call.method != http.MethodGet && call.method != http.MethodHead && sc.Key != "" && h.Get(IdempotencyHeader) == "" {
		h.Set(IdempotencyHeader, sc.Key)
	}
	h.Del(chain.Header)
	if link := a.Chain.Sign(chain.Link{RootID: sc.RootID, Depth: sc.Depth}); link != "" {
		h.Set(chain.Header, link)
	}
	if !call.sign {
		return h, nil
	}
	if sc.SigningSecret == "" {
		return nil, Final(fmt.Errorf("params.sign: the automation has no signing secret"))
	}
	// Like webhook.post: the id is the run and step, stable across retries.
	sh, err := signing.Headers([]string{sc.SigningSecret}, "msg_"+sc.Key, time.Now(), call.body)
	if err != nil {
		return nil, Final(fmt.Errorf("params.sign: %w", err))
	}
	for k, v := range sh {
		h[k] = v
	}
	return h, nil
}

// check says what an answer means for the step: nil for a status in expect
// within the size cap, else an error naming the status and what came back.
func (c *httpCall) check(resp dispatch.Response) error {
	if !c.accepts(resp.Status) {
		return statusError(resp, c.expectText())
	}
	if resp.TooLarge {
		return Final(fmt.Errorf("http.request: HTTP %d, but the answer is over the %d KiB a step reads (MaxResponseBytes)", resp.Status, MaxResponseBytes>>10))
	}
	return nil
}

// statusError is an unexpected status: 429 waits for Retry-After, 408, 425 and
// 5xx retry, the rest (3xx: redirects are not followed; 4xx) is final.
func statusError(resp dispatch.Response, expected string) error {
	status := resp.Status
	note := ""
	if loc := resp.Header.Get("Location"); status >= 300 && status < 400 && loc != "" {
		note = fmt.Sprintf(" (redirect to %s, not followed)", loc)
	}
	err := fmt.Errorf("http.request: HTTP %d%s, expected %s: %s", status, note, expected, excerpt(strings.TrimSpace(resp.Excerpt)))
	switch {
	case status == http.StatusTooManyRequests:
		return RetryAfter(err, resp.RetryAfter)
	case status == http.StatusRequestTimeout || status == http.StatusTooEarly || status >= 500:
		if resp.RetryAfter > 0 {
			return RetryAfter(err, resp.RetryAfter)
		}
		return err
	}
	return Final(err)
}

// httpOutput is the step's output: the status, the selected headers, and the
// body parsed as "json" when it is JSON, else as text in "body" (an excerpt).
func httpOutput(resp dispatch.Response) map[string]any {
	headers := map[string]any{}
	for _, name := range outputHeaders {
		if vs := resp.Header.Values(name); len(vs) > 0 {
			headers[strings.ToLower(name)] = strings.Join(vs, ", ")
		}
	}
	out := map[string]any{"status": resp.Status, "headers": headers}
	if v, ok := jsonBody(resp); ok {
		out["json"] = v
	} else {
		out["body"] = resp.Excerpt
	}
	return out
}

// jsonBody parses the answer when it is JSON: its type says so (application/json,
// anything+json), or it has no type or text/plain (what many frameworks send by
// default) and is an object or a list. Numbers come out as templates and CEL
// expect them (models.Numbers).
func jsonBody(resp dispatch.Response) (any, bool) {
	body := bytes.TrimSpace(resp.Body)
	if len(body) == 0 {
		return nil, false
	}
	ct := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	typed := mt == "application/json" || strings.HasSuffix(mt, "+json")
	untyped := (ct == "" || mt == "text/plain") && (body[0] == '{' || body[0] == '[')
	if !typed && !untyped {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // more after the value: not one JSON document
	}
	return models.Numbers(v), true
}
