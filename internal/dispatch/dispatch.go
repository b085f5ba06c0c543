// Package dispatch is hookflow's one outbound HTTP sender: endpoint deliveries and
// the HTTP actions (webhook.post, slack.post, teams.post, http.request) all send
// through a Dispatcher — a POST unless the request names another method — which
// reads at most an excerpt of the answer (or, when asked, a bounded body) and says
// what the receiver asked for (Retry-After, abort). What an answer means (success, final, retry) is the
// caller's to decide, with IsFinalStatus as the shared rule.
package dispatch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultTimeout bounds one attempt from dial to the last byte read.
const DefaultTimeout = 15 * time.Second

// MaxExcerpt is how much of a receiver's answer is kept per attempt.
const MaxExcerpt = 64 << 10

// Dispatcher sends requests with Client, which must enforce the SSRF guard
// (internal/netguard) and not follow redirects.
type Dispatcher struct {
	Client *http.Client
	// Now is the clock an HTTP-date Retry-After is read against (default time.Now).
	Now func() time.Time
}

// Request is one request. Header is sent as given, then Content-Type (when there
// is a body, even an empty one) and User-Agent are set.
type Request struct {
	// Method is the HTTP method; empty means POST, as deliveries and the
	// webhook-style actions send.
	Method string
	URL    string
	Body   []byte
	Header http.Header
	// ContentType is the body's media type; empty means application/json. It is
	// sent when Body is not nil: a nil Body is no body at all (Post sends an
	// empty one instead).
	ContentType string
	// MaxBody, when positive, keeps up to MaxBody bytes of the answer in
	// Response.Body, and Response.TooLarge says there was more. Zero keeps only
	// the excerpt.
	MaxBody int64
}

// Response is what the receiver answered.
type Response struct {
	Status int
	// Excerpt is at most MaxExcerpt of the body, as valid UTF-8.
	Excerpt string
	// RetryAfter is the delay the receiver asked for (Retry-After), or zero.
	RetryAfter time.Duration
	// Abort is the receiver's `webhook-delivery: abort-message`: stop retrying.
	Abort bool
	// Header is the answer's headers.
	Header http.Header
	// Body is the answer's body, at most Request.MaxBody of it; nil when the
	// request did not ask for it.
	Body []byte
	// TooLarge means the body was longer than Request.MaxBody.
	TooLarge bool
}

// OK reports a 2xx.
func (r Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// BadRequestError is a request that could not be built (a malformed URL): nothing
// was sent.
type BadRequestError struct{ Err error }

func (e *BadRequestError) Error() string { return e.Err.Error() }
func (e *BadRequestError) Unwrap() error { return e.Err }

// Post sends req as a POST (whatever req.Method says). An error means no answer
// came: the request could not be built (*BadRequestError), the guard refused the
// destination (netguard.ErrBlocked), or the network or the timeout failed it.
func (d Dispatcher) Post(ctx context.Context, req Request) (Response, error) {
	req.Method = http.MethodPost
	if req.Body == nil {
		// Deliveries always carry a body and its type, if an empty one.
		req.Body = []byte{}
	}
	return d.Do(ctx, req)
}

// Do sends req with its method (POST when empty) and its body, none when nil;
// errors are those of Post.
func (d Dispatcher) Do(ctx context.Context, req Request) (Response, error) {
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	hasBody := req.Body != nil
	if hasBody {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, req.URL, body)
	if err != nil {
		return Response{}, &BadRequestError{err}
	}
	for k, v := range req.Header {
		hr.Header[k] = v
	}
	if hasBody {
		ct := req.ContentType
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	hr.Header.Set("User-Agent", "hookflow/1")
	at := d.now()
	resp, err := d.Client.Do(hr)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	out := Response{
		Status:     resp.StatusCode,
		RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), at),
		Abort:      strings.EqualFold(strings.TrimSpace(resp.Header.Get("webhook-delivery")), "abort-message"),
		Header:     resp.Header,
	}
	readBody(resp.Body, req.MaxBody, &out)
	return out, nil
}

// readBody fills the excerpt, and the body when maxBody is positive. It reads at most
// the excerpt, or maxBody and one byte more to tell a body of exactly maxBody from a
// longer one: a hostile receiver cannot make us hold more.
func readBody(r io.Reader, maxBody int64, out *Response) {
	limit := int64(MaxExcerpt)
	if maxBody > 0 {
		limit = maxBody + 1
	}
	raw, readErr := io.ReadAll(io.LimitReader(r, limit))
	if maxBody > 0 {
		if int64(len(raw)) > maxBody {
			raw, out.TooLarge = raw[:maxBody], true
		}
		out.Body = raw
	}
	excerpt := raw[:min(len(raw), MaxExcerpt)]
	out.Excerpt = strings.ToValidUTF8(string(excerpt), string(utf8.RuneError))
	if readErr != nil && out.Excerpt == "" {
		out.Excerpt = "(reading the response failed: " + readErr.Error() + ")"
	}
}

func (d Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// IsBadRequest reports whether err is a request that could not be built.
func IsBadRequest(err error) bool {
	var bad *BadRequestError
	return errors.As(err, &bad)
}

// IsFinalStatus reports an answer that retrying cannot change: a 4xx says the
// request itself is wrong — except 408 (timeout), 425 (too early) and 429 (slow
// down).
func IsFinalStatus(code int) bool {
	if code < 400 || code >= 500 {
		return false
	}
	switch code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return false
	}
	return true
}

// ParseRetryAfter reads delay-seconds or an HTTP date; anything else is ignored.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs <= 0 {
			return 0
		}
		// Clamp before multiplying so a silly value cannot overflow.
		return time.Duration(min(secs, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
