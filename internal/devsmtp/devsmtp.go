// Package devsmtp is `hookflow dev`'s SMTP sink: a go-smtp server on loopback
// that accepts any message, without a login, and hands it, parsed, to a
// Recorder (the dev inbox, box "email"), so a newcomer can watch what
// email.send steps send without a mail account. Nothing is relayed.
package devsmtp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// Bounds of the sink: it lives in the dev process's memory.
const (
	// MaxMessageBytes is the largest message taken (552 above): email.send
	// bodies are at most 1 MiB, which quoted-printable may make up to 3 MiB.
	MaxMessageBytes = 4 << 20
	// MaxRecipients is the most RCPT TO of one message.
	MaxRecipients = 100
	// maxDepth is how deep multipart bodies are looked into.
	maxDepth = 5
)

// Message is one message the sink took in.
type Message struct {
	// From and To are the envelope: MAIL FROM and every RCPT TO (bcc too).
	From string
	To   []string
	// Subject is decoded (RFC 2047); MessageID as in the header, with its <>.
	Subject   string
	MessageID string
	// Text and HTML are the text/plain and text/html bodies, decoded; either may
	// be empty. Attachments are left out.
	Text string
	HTML string
	// Header is every header as sent, not decoded.
	Header mail.Header
}

// Recorder keeps what the sink takes in. An error refuses the message with a
// transient 452, so the sender tries again later.
type Recorder interface {
	RecordMail(Message) error
}

// Sink is a running sink.
type Sink struct {
	srv *smtp.Server
	ln  net.Listener
}

// Start listens on addr (a taken port fails here, not later) and serves in the
// background until Close.
func Start(addr string, rec Recorder, logger *slog.Logger) (*Sink, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dev SMTP sink: listen on %s (set HOOKFLOW_DEV_SMTP_ADDR to another port, or off): %w", addr, err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{rec: rec, logger: logger}, nil
	}))
	srv.Domain = "hookflow-dev"
	srv.MaxMessageBytes = MaxMessageBytes
	srv.MaxRecipients = MaxRecipients
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.ErrorLog = logAdapter{logger}
	go func() {
		if err := srv.Serve(ln); err != nil {
			logger.Error("dev SMTP sink stopped", "error", err)
		}
	}()
	return &Sink{srv: srv, ln: ln}, nil
}

// Addr is where the sink listens (host:port).
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Close stops the sink and its connections.
func (s *Sink) Close() error { return s.srv.Close() }

// logAdapter sends go-smtp's log lines to slog.
type logAdapter struct{ logger *slog.Logger }

// Printf implements smtp.Logger.
func (l logAdapter) Printf(format string, v ...any) {
	l.logger.Warn("dev SMTP sink: " + fmt.Sprintf(format, v...))
}

// Println implements smtp.Logger.
func (l logAdapter) Println(v ...any) {
	l.logger.Warn("dev SMTP sink: " + strings.TrimSpace(fmt.Sprintln(v...)))
}

// session is one SMTP conversation: any sender, any recipient.
type session struct {
	rec    Recorder
	logger *slog.Logger
	from   string
	to     []string
}

// Mail implements smtp.Session.
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.to = from, nil
	return nil
}

// Rcpt implements smtp.Session.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

// Data implements smtp.Session: the message is parsed and recorded.
func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err // over MaxMessageBytes: go-smtp's 552
	}
	m, err := Parse(s.from, s.to, raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: err.Error()}
	}
	if err := s.rec.RecordMail(m); err != nil {
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: err.Error()}
	}
	s.logger.Info("dev SMTP sink: message recorded in /dev/inbox/email", "from", m.From, "to", m.To, "message_id", m.MessageID)
	return nil
}

// Reset implements smtp.Session.
func (s *session) Reset() { s.from, s.to = "", nil }

// Logout implements smtp.Session.
func (s *session) Logout() error { return nil }

// Parse reads raw, a message sent from `from` to `to`: its headers, decoded
// subject and text and HTML bodies, wherever they sit in a multipart tree.
func Parse(from string, to []string, raw []byte) (Message, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, fmt.Errorf("not a message: %w", err)
	}
	msg := Message{From: from, To: to, Header: m.Header, MessageID: m.Header.Get("Message-Id")}
	var dec mime.WordDecoder
	if msg.Subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		msg.Subject = m.Header.Get("Subject") // an unknown charset: shown as sent
	}
	if err := msg.readBody(textproto.MIMEHeader(m.Header), m.Body, 0); err != nil {
		return Message{}, fmt.Errorf("body: %w", err)
	}
	return msg, nil
}

// readBody keeps the first text/plain and text/html parts of body, looking into
// multipart ones; other parts (attachments, images) are skipped.
func (msg *Message) readBody(h textproto.MIMEHeader, body io.Reader, depth int) error {
	ct, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		ct = "text/plain" // RFC 2045's default
	}
	if strings.HasPrefix(ct, "multipart/") {
		if depth >= maxDepth {
			return nil
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// NextPart undoes quoted-printable itself (and drops the header).
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := msg.readBody(p.Header, p, depth+1); err != nil {
				return err
			}
		}
	}
	dst := map[string]*string{"text/plain": &msg.Text, "text/html": &msg.HTML}[ct]
	if dst == nil || *dst != "" || isAttachment(h) {
		return nil
	}
	b, err := io.ReadAll(decoded(h.Get("Content-Transfer-Encoding"), body))
	if err != nil {
		return fmt.Errorf("%s part: %w", ct, err)
	}
	*dst = string(b)
	return nil
}

// isAttachment: a part meant as a file, even a text one, is not the body.
func isAttachment(h textproto.MIMEHeader) bool {
	d, _, err := mime.ParseMediaType(h.Get("Content-Disposition"))
	return err == nil && d == "attachment"
}

// decoded undoes a Content-Transfer-Encoding.
func decoded(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		// The decoder skips the line breaks base64 bodies are folded with.
		return base64.NewDecoder(base64.StdEncoding, r)
	default:
		return r
	}
}
