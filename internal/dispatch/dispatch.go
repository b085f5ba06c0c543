// Package dispatch is hookflow's one outbound HTTP sender: endpoint deliveries and
// the HTTP actions (webhook.post, slack.post) all POST through a Dispatcher, which
// reads at most an excerpt of the answer and says what the receiver asked for
// (Retry-After, abort). What an answer means (success, final, retry) is the
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

// Request is one POST with a JSON body. Header is sent as given, then
// Content-Type and User-Agent are set.
type Request struct {
	URL    string
	Body   []byte
	Header http.Header
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
}

// OK reports a 2xx.
func (r Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// BadRequestError is a request that could not be built (a malformed URL): nothing
// was sent.
type BadRequestError struct{ Err error }

func (e *BadRequestError) Error() string { return e.Err.Error() }
func (e *BadRequestError) Unwrap() error { return e.Err }

// Post sends req. An error means no answer came: the request could not be built
// (*BadRequestError), the guard refused the destination (netguard.ErrBlocked), or
// the network or the timeout failed it.
func (d Dispatcher) Post(ctx context.Context, req Request) (Response, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return Response{}, &BadRequestError{err}
	}
	for k, v := range req.Header {
		hr.Header[k] = v
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("User-Agent", "hookflow/1")
	at := d.now()
	resp, err := d.Client.Do(hr)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	// Read at most the excerpt: a hostile receiver cannot make us hold more.
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxExcerpt))
	excerpt := strings.ToValidUTF8(string(raw), string(utf8.RuneError))
	if readErr != nil && excerpt == "" {
		excerpt = "(reading the response failed: " + readErr.Error() + ")"
	}
	return Response{
		Status:     resp.StatusCode,
		Excerpt:    excerpt,
		RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), at),
		Abort:      strings.EqualFold(strings.TrimSpace(resp.Header.Get("webhook-delivery")), "abort-message"),
	}, nil
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
