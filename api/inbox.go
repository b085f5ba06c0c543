package api

import (
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// inbox is the dev request bin: it records what is POSTed to /dev/inbox/{name} so a
// newcomer can watch deliveries and Slack messages without any outside service.
type inbox struct {
	mu    sync.Mutex
	max   int
	boxes map[string][]inboxRequest
}

type inboxRequest struct {
	At      time.Time         `json:"at"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

func newInbox(max int) *inbox {
	return &inbox{max: max, boxes: map[string][]inboxRequest{}}
}

const maxInboxBody = 1 << 20

func (s *Server) inboxRecord(c *gin.Context) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxInboxBody))
	if err != nil {
		s.fail(c, err)
		return
	}
	h := make(map[string]string, len(c.Request.Header))
	for k, v := range c.Request.Header {
		if len(v) > 0 {
			h[k] = v[0]
		}
	}
	r := inboxRequest{At: s.cfg.Now(), Method: c.Request.Method, Headers: h, Body: string(body)}
	name := c.Param("name")
	s.inbox.mu.Lock()
	box := append(s.inbox.boxes[name], r)
	if len(box) > s.inbox.max {
		box = box[len(box)-s.inbox.max:]
	}
	s.inbox.boxes[name] = box
	s.inbox.mu.Unlock()
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

func (s *Server) inboxList(c *gin.Context) {
	s.inbox.mu.Lock()
	reqs := append([]inboxRequest{}, s.inbox.boxes[c.Param("name")]...)
	s.inbox.mu.Unlock()
	c.JSON(http.StatusOK, gin.H{"requests": reqs})
}

func (s *Server) inboxClear(c *gin.Context) {
	s.inbox.mu.Lock()
	delete(s.inbox.boxes, c.Param("name"))
	s.inbox.mu.Unlock()
	c.Status(http.StatusNoContent)
}
