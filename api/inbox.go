package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookflow/hookflow/internal/devsmtp"
)

// Bounds of the dev inbox. It lives in memory and takes requests from anyone who
// can reach the dev API, so each bound keeps one noisy sender (or a loop of
// deliveries into it) from growing the process without end.
const (
	maxInboxBoxes = 100      // names kept at once
	maxInboxName  = 100      // characters of a name
	maxInboxBody  = 1 << 20  // bytes of one recorded body (413 above)
	maxInboxBytes = 64 << 20 // bodies and headers of every box together
)

// errInboxFull is a request the inbox has no room for (507).
var errInboxFull = errors.New("inbox full")

// inbox is the dev request bin: it records what is POSTed to /dev/inbox/{name} so a
// newcomer can watch deliveries and Slack messages without any outside service.
type inbox struct {
	mu    sync.Mutex
	max   int // requests kept per box; older ones are dropped
	boxes map[string][]inboxRequest
	bytes int // held by every box together
}

type inboxRequest struct {
	At      time.Time         `json:"at"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	// Email is a message the dev SMTP sink took in (Method "SMTP"; Headers are
	// the message's, as sent).
	Email *inboxEmail `json:"email,omitempty"`
}

// inboxEmail is what a newcomer looks for in a message: its envelope (bcc
// recipients too), subject and bodies decoded.
type inboxEmail struct {
	From      string   `json:"from"`
	To        []string `json:"to"`
	Subject   string   `json:"subject"`
	MessageID string   `json:"message_id"`
	Text      string   `json:"text,omitempty"`
	HTML      string   `json:"html,omitempty"`
}

// size is what a request holds in memory, near enough for a budget.
func (r inboxRequest) size() int {
	n := len(r.Body)
	for k, v := range r.Headers {
		n += len(k) + len(v)
	}
	if e := r.Email; e != nil {
		n += len(e.From) + len(e.Subject) + len(e.MessageID) + len(e.Text) + len(e.HTML)
		for _, to := range e.To {
			n += len(to)
		}
	}
	return n
}

// MailBox is the dev inbox box the dev SMTP sink records into.
const MailBox = "email"

// RecordMail keeps a message of the dev SMTP sink in the dev inbox box "email"
// (GET /dev/inbox/email), within the inbox's bounds. It implements
// devsmtp.Recorder; an error means no dev inbox or no room.
func (s *Server) RecordMail(m devsmtp.Message) error {
	if s.inbox == nil {
		return errors.New("the dev inbox is off")
	}
	h := make(map[string]string, len(m.Header))
	for k, v := range m.Header {
		if len(v) > 0 {
			h[k] = v[0]
		}
	}
	return s.inbox.add(MailBox, inboxRequest{At: s.cfg.Now(), Method: "SMTP", Headers: h, Email: &inboxEmail{
		From: m.From, To: m.To, Subject: m.Subject, MessageID: m.MessageID, Text: m.Text, HTML: m.HTML,
	}})
}

func newInbox(max int) *inbox {
	return &inbox{max: max, boxes: map[string][]inboxRequest{}}
}

// add keeps r in box name, dropping the box's oldest requests past max or past
// the byte budget. It refuses a new box past maxInboxBoxes, and a request that
// does not fit even with its box emptied of older ones (other boxes hold the room).
func (in *inbox) add(name string, r inboxRequest) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	box, exists := in.boxes[name]
	if !exists && len(in.boxes) >= maxInboxBoxes {
		return fmt.Errorf("%w: the dev inbox keeps at most %d boxes; DELETE /dev/inbox/{name} of one you no longer need", errInboxFull, maxInboxBoxes)
	}
	// Decide on copies of the count and total: a refusal leaves the box as it was.
	box = append(box, r)
	total := in.bytes + r.size()
	for len(box) > 1 && (len(box) > in.max || total > maxInboxBytes) {
		total -= box[0].size()
		box = box[1:]
	}
	if total > maxInboxBytes {
		return fmt.Errorf("%w: the dev inbox holds at most %d MiB of requests; DELETE /dev/inbox/{name} of boxes you no longer need", errInboxFull, maxInboxBytes>>20)
	}
	in.boxes[name], in.bytes = box, total
	return nil
}

// list copies box name's requests, oldest first.
func (in *inbox) list(name string) []inboxRequest {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]inboxRequest{}, in.boxes[name]...)
}

// clear drops box name and frees its room.
func (in *inbox) clear(name string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, r := range in.boxes[name] {
		in.bytes -= r.size()
	}
	delete(in.boxes, name)
}

func (s *Server) inboxRecord(c *gin.Context) {
	name := c.Param("name")
	if len(name) > maxInboxName {
		writeError(c, http.StatusBadRequest, "invalid_request", fmt.Sprintf("inbox names are at most %d characters", maxInboxName))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxInboxBody))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			writeError(c, http.StatusRequestEntityTooLarge, "payload_too_large", fmt.Sprintf("the dev inbox records bodies of at most %d bytes (1 MiB); send less", maxInboxBody))
			return
		}
		writeError(c, http.StatusBadRequest, "bad_request", "could not read the body")
		return
	}
	h := make(map[string]string, len(c.Request.Header))
	for k, v := range c.Request.Header {
		if len(v) > 0 {
			h[k] = v[0]
		}
	}
	r := inboxRequest{At: s.cfg.Now(), Method: c.Request.Method, Headers: h, Body: string(body)}
	if err := s.inbox.add(name, r); err != nil {
		writeError(c, http.StatusInsufficientStorage, "inbox_full", err.Error())
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

func (s *Server) inboxList(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"requests": s.inbox.list(c.Param("name"))})
}

func (s *Server) inboxClear(c *gin.Context) {
	s.inbox.clear(c.Param("name"))
	c.Status(http.StatusNoContent)
}
