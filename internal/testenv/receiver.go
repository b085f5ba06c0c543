package testenv

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// Request is one request a Receiver got.
type Request struct {
	Seq    int // its place among the receiver's requests, from 0
	Method string
	Path   string
	Header http.Header
	Body   []byte
	// JSON is Body decoded when it is a JSON object (a delivered event, a
	// Slack message), so checks over thousands of requests decode each once.
	JSON map[string]any
	At   time.Time // when it arrived
	// Key names the message the request carries, so repeats can be counted:
	// the webhook-id header, or for a NewSlackReceiver or NewTeamsReceiver the
	// message's text.
	Key  string
	N    int // the request is the Nth with its Key at this receiver, from 1
	Code int // what the receiver answered; 0 before that, or if the client went away first
}

// Reply is a Receiver's answer to one request.
type Reply struct {
	Code   int
	Header http.Header
	Body   string
}

// JSONReply answers code with a small JSON body naming it, as a webhook
// receiver might.
func JSONReply(code int) Reply {
	return Reply{Code: code, Body: fmt.Sprintf(`{"answer":%d}`, code)}
}

// SlackReply answers code the way a Slack incoming webhook does: "ok" on
// success, and a 429 with Retry-After: 1.
func SlackReply(code int) Reply {
	switch code {
	case http.StatusOK:
		return Reply{Code: code, Body: "ok"}
	case http.StatusTooManyRequests:
		return Reply{Code: code, Header: http.Header{"Retry-After": {"1"}}, Body: "rate_limited"}
	}
	return Reply{Code: code, Body: "rate_limited"}
}

// TeamsReply answers code the way a classic Teams incoming webhook does: "1" on
// success, and a 429 with Retry-After: 1.
func TeamsReply(code int) Reply {
	switch code {
	case http.StatusOK:
		return Reply{Code: code, Body: "1"}
	case http.StatusTooManyRequests:
		return Reply{Code: code, Header: http.Header{"Retry-After": {"1"}}, Body: "Too many requests"}
	}
	return Reply{Code: code, Body: "Webhook message delivery failed"}
}

// Receiver is a real HTTP server on loopback standing in for a webhook
// endpoint or a Slack incoming webhook. It records every request and
// answers as the test says: by a script of status codes, by a function, or
// not yet (Hold).
type Receiver struct {
	// URL is the receiver's base URL, http://127.0.0.1:port.
	URL string

	srv   *httptest.Server
	key   func(*http.Request, map[string]any) string
	shape func(code int) Reply

	mu       sync.Mutex
	got      []Request
	perKey   map[string]int
	inflight map[int]bool
	answer   func(Request) Reply
	hold     chan struct{} // when not nil, requests wait until it is closed
}

// NewReceiver starts a receiver that answers the i-th request with codes[i]
// as a JSONReply (the last code repeats; 200 when there are none) and keys
// requests by their webhook-id. It stops when the test ends.
func NewReceiver(t testing.TB, codes ...int) *Receiver {
	return newReceiver(t, JSONReply, func(req *http.Request, _ map[string]any) string {
		return req.Header.Get("webhook-id")
	}, codes)
}

// NewSlackReceiver starts a receiver that answers as Slack does (SlackReply)
// with the script of codes, and keys requests by the message's text: Slack
// messages carry no id.
func NewSlackReceiver(t testing.TB, codes ...int) *Receiver {
	return newReceiver(t, SlackReply, func(_ *http.Request, body map[string]any) string {
		text, _ := body["text"].(string)
		return text
	}, codes)
}

// NewTeamsReceiver starts a receiver that answers as Teams does (TeamsReply)
// with the script of codes, and keys requests by the text of their card's
// first TextBlock (TeamsText), which is how teams.post sends a text.
func NewTeamsReceiver(t testing.TB, codes ...int) *Receiver {
	return newReceiver(t, TeamsReply, func(_ *http.Request, body map[string]any) string {
		return TeamsText(body)
	}, codes)
}

// TeamsText is the text of the first TextBlock of a Teams message's first
// Adaptive Card, or "".
func TeamsText(msg map[string]any) string {
	atts, _ := msg["attachments"].([]any)
	if len(atts) == 0 {
		return ""
	}
	att, _ := atts[0].(map[string]any)
	card, _ := att["content"].(map[string]any)
	blocks, _ := card["body"].([]any)
	for _, b := range blocks {
		if block, _ := b.(map[string]any); block["type"] == "TextBlock" {
			text, _ := block["text"].(string)
			return text
		}
	}
	return ""
}

func newReceiver(t testing.TB, shape func(int) Reply, key func(*http.Request, map[string]any) string, codes []int) *Receiver {
	t.Helper()
	r := &Receiver{shape: shape, key: key, perKey: map[string]int{}, inflight: map[int]bool{}}
	r.SetCodes(codes...)
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL
	t.Cleanup(func() {
		r.Release()
		r.srv.CloseClientConnections()
		r.srv.Close()
	})
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	got := r.record(req)
	defer r.done(got.Seq)
	r.mu.Lock()
	hold, answer := r.hold, r.answer
	r.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-req.Context().Done():
			return // the sender gave up: nothing was answered
		}
	}
	reply := answer(got)
	r.mu.Lock()
	r.got[got.Seq].Code = reply.Code
	r.mu.Unlock()
	for k, v := range reply.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(reply.Code)
	_, _ = io.WriteString(w, reply.Body)
}

// record books req as received and in flight.
func (r *Receiver) record(req *http.Request) Request {
	body, _ := io.ReadAll(req.Body)
	got := Request{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Body: body, At: time.Now()}
	_ = json.Unmarshal(body, &got.JSON)
	got.Key = r.key(req, got.JSON)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.perKey[got.Key]++
	got.N = r.perKey[got.Key]
	got.Seq = len(r.got)
	r.got = append(r.got, got)
	r.inflight[got.Seq] = true
	return got
}

func (r *Receiver) done(seq int) {
	r.mu.Lock()
	delete(r.inflight, seq)
	r.mu.Unlock()
}

// SetCodes replaces the script: from now on the request with Seq i gets
// codes[i] (the last code repeats; 200 when there are none), shaped as the
// receiver's kind answers.
func (r *Receiver) SetCodes(codes ...int) {
	r.SetAnswer(func(req Request) Reply {
		if len(codes) == 0 {
			return r.shape(http.StatusOK)
		}
		return r.shape(codes[min(req.Seq, len(codes)-1)])
	})
}

// SetAnswer makes f decide every reply from now on. f runs on the server's
// goroutines, possibly many at once.
func (r *Receiver) SetAnswer(f func(Request) Reply) {
	r.mu.Lock()
	r.answer = f
	r.mu.Unlock()
}

// Hold makes requests wait, unanswered, until Release (or until their
// sender gives up): a receiver that is slow at the worst moment.
func (r *Receiver) Hold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hold == nil {
		r.hold = make(chan struct{})
	}
}

// Release answers the held requests and stops holding new ones.
func (r *Receiver) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hold != nil {
		close(r.hold)
		r.hold = nil
	}
}

// Requests is every request so far, in the order they arrived.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.got...)
}

// InFlight is the requests received and not answered yet.
func (r *Receiver) InFlight() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Request, 0, len(r.inflight))
	for seq := range r.inflight {
		out = append(out, r.got[seq])
	}
	slices.SortFunc(out, func(a, b Request) int { return a.Seq - b.Seq })
	return out
}

// Answered counts, per Key, the requests answered with a 2xx: how often the
// receiver took each message.
func (r *Receiver) Answered() map[string]int {
	out := map[string]int{}
	for _, g := range r.Requests() {
		if g.Code >= 200 && g.Code < 300 {
			out[g.Key]++
		}
	}
	return out
}
