package actions

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/hookflow/hookflow/internal/mailer"
)

// Bounds of one email.send step: what a rendered template may make of a message.
const (
	MaxEmailRecipients = 50      // to, cc and bcc together
	MaxEmailSubject    = 998     // bytes: RFC 5322's line limit
	MaxEmailBody       = 1 << 20 // bytes of text and html together
)

// defaultEmailTimeout bounds each exchange with the SMTP server (connect, TLS,
// each command, the message) when EmailSend.Timeout is zero. go-mail sets it
// afresh before each exchange and holds its lock while it waits for a reply, so
// it cannot bound the session as a whole; 10 s lets a server that stops
// answering fail the attempt well within the step's 30 s (AttemptTimeout).
const defaultEmailTimeout = 10 * time.Second

// EmailSend is `email.send` {"from"?, "to", "cc"?, "bcc"?, "reply_to"?, "subject",
// "text"? and/or "html"?}: a message submitted to the SMTP server of
// HOOKFLOW_SMTP_URL. The Message-ID comes from the run and step, so every attempt
// sends the same one and receivers can drop a repeat. A 5xx reply is final and
// keeps the server's text; 4xx replies, refused connections and timeouts follow
// the delivery schedule. The server is the operator's, not the tenant's, so it is
// not subject to the SSRF guard.
type EmailSend struct {
	// Server is where mail goes; unconfigured, every step fails for good.
	Server mailer.Server
	// Timeout bounds each exchange with the server (default 10s).
	Timeout time.Duration
}

// Name implements Action.
func (EmailSend) Name() string { return "email.send" }

// Retry implements Action: a mail server, like a webhook receiver, may be down
// for hours.
func (EmailSend) Retry() RetryKind { return RetryHTTP }

// Run implements Action.
func (a EmailSend) Run(ctx context.Context, sc StepContext, params map[string]any) (map[string]any, error) {
	if !a.Server.Configured() {
		return nil, Final(errors.New("email.send: no SMTP server is configured; set HOOKFLOW_SMTP_URL (e.g. smtp+starttls://user:pass@smtp.example.com:587) on the worker"))
	}
	p, err := readEmail(params, a.Server.From)
	if err != nil {
		return nil, err
	}
	msg := p.message()
	id := messageID(sc.Key)
	if id != "" {
		msg.SetMessageIDWithValue(id)
	} else {
		msg.SetMessageID()
	}
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = defaultEmailTimeout
	}
	if err := a.Server.Send(ctx, timeout, msg); err != nil {
		return nil, sendFailure(err)
	}
	to := make([]any, len(p.to))
	for i, addr := range p.to {
		to[i] = addr.Address
	}
	return map[string]any{"message_id": msg.GetMessageID(), "to": to, "accepted": true}, nil
}

// emailParams are email.send's params, read and checked.
type emailParams struct {
	from, replyTo       *mail.Address
	to, cc, bcc         []*mail.Address
	subject, text, html string
}

// readEmail reads and bounds the params; every failure is final (the same params
// come back on a retry). defaultFrom is the server's ?from=.
func readEmail(params map[string]any, defaultFrom string) (emailParams, error) {
	var p emailParams
	var err error
	if p.from, err = address(params, "from", defaultFrom); err != nil {
		return p, err
	}
	if p.from == nil {
		return p, Final(errors.New("params.from is required (or give HOOKFLOW_SMTP_URL a default: ?from=shop@example.com)"))
	}
	if p.replyTo, err = address(params, "reply_to", ""); err != nil {
		return p, err
	}
	for _, l := range []struct {
		key string
		dst *[]*mail.Address
	}{{"to", &p.to}, {"cc", &p.cc}, {"bcc", &p.bcc}} {
		if *l.dst, err = addressList(params, l.key); err != nil {
			return p, err
		}
	}
	if len(p.to) == 0 {
		return p, Final(errors.New("params.to is required: an address or a list of them"))
	}
	if n := len(p.to) + len(p.cc) + len(p.bcc); n > MaxEmailRecipients {
		return p, Final(fmt.Errorf("%d recipients in to, cc and bcc: at most %d", n, MaxEmailRecipients))
	}
	if err := p.readContent(params); err != nil {
		return p, err
	}
	return p, nil
}

// readContent reads the subject and the text and html bodies.
func (p *emailParams) readContent(params map[string]any) error {
	var err error
	if p.subject, err = str(params, "subject", true); err != nil {
		return err
	}
	if len(p.subject) > MaxEmailSubject {
		return Final(fmt.Errorf("params.subject is %d bytes: at most %d", len(p.subject), MaxEmailSubject))
	}
	if strings.ContainsAny(p.subject, "\r\n") {
		return Final(errors.New("params.subject must be one line (it has a line break)"))
	}
	if p.text, err = str(params, "text", false); err != nil {
		return err
	}
	if p.html, err = str(params, "html", false); err != nil {
		return err
	}
	if p.text == "" && p.html == "" {
		return Final(errors.New("params.text or params.html is required"))
	}
	if n := len(p.text) + len(p.html); n > MaxEmailBody {
		return Final(fmt.Errorf("params.text and params.html are %d bytes together: at most %d (1 MiB)", n, MaxEmailBody))
	}
	return nil
}

// address reads one address param; def stands in when it is absent or empty.
func address(params map[string]any, key, def string) (*mail.Address, error) {
	s, err := str(params, key, false)
	if err != nil {
		return nil, err
	}
	if s == "" {
		s = def
	}
	if s == "" {
		return nil, nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, Final(fmt.Errorf("params.%s: %q is not an email address: %w", key, s, err))
	}
	return a, nil
}

// addressList reads to, cc or bcc: a string (one address or several separated
// by commas) or a list of such strings.
func addressList(params map[string]any, key string) ([]*mail.Address, error) {
	var parts []string
	switch v := params[key].(type) {
	case nil:
		return nil, nil
	case string:
		parts = []string{v}
	case []any:
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, Final(fmt.Errorf("params.%s[%d] must be a string, not %T", key, i, e))
			}
			parts = append(parts, s)
		}
	default:
		return nil, Final(fmt.Errorf("params.%s must be an address or a list of addresses, not %T", key, v))
	}
	var out []*mail.Address
	for _, s := range parts {
		if strings.TrimSpace(s) == "" {
			continue
		}
		list, err := mail.ParseAddressList(s)
		if err != nil {
			return nil, Final(fmt.Errorf("params.%s: %q is not an email address: %w", key, s, err))
		}
		out = append(out, list...)
		if len(out) > MaxEmailRecipients {
			return nil, Final(fmt.Errorf("params.%s has more than %d addresses: at most %d recipients in to, cc and bcc together", key, MaxEmailRecipients, MaxEmailRecipients))
		}
	}
	return out, nil
}

// message builds the message: plain text, HTML, or both as
// multipart/alternative (the receiver shows the richest it can).
func (p emailParams) message() *gomail.Msg {
	m := gomail.NewMsg()
	m.SetAddrHeaderFromMailAddress(gomail.HeaderFrom, p.from)
	m.SetAddrHeaderFromMailAddress(gomail.HeaderTo, p.to...)
	if len(p.cc) > 0 {
		m.SetAddrHeaderFromMailAddress(gomail.HeaderCc, p.cc...)
	}
	if len(p.bcc) > 0 {
		m.SetAddrHeaderFromMailAddress(gomail.HeaderBcc, p.bcc...)
	}
	if p.replyTo != nil {
		m.SetAddrHeaderFromMailAddress(gomail.HeaderReplyTo, p.replyTo)
	}
	m.Subject(p.subject)
	m.SetUserAgent("hookflow")
	switch {
	case p.text != "" && p.html != "":
		m.SetBodyString(gomail.TypeTextPlain, p.text)
		m.AddAlternativeString(gomail.TypeTextHTML, p.html)
	case p.html != "":
		m.SetBodyString(gomail.TypeTextHTML, p.html)
	default:
		m.SetBodyString(gomail.TypeTextPlain, p.text)
	}
	return m
}

// messageID makes the step's key (run id ":" step id) the left part of a
// Message-ID, without the angle brackets: "run_01J…:welcome" becomes
// "run_01J….welcome@hookflow". Letters, digits, "_" and "-" stay, a colon
// between two of them becomes a dot, and any other byte is written =XX, so two
// keys never share an ID and the result is a valid dot-atom. "" for no key.
func messageID(key string) string {
	if key == "" {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
			b.WriteByte(c)
		case c == ':' && i > 0 && i < len(key)-1 && key[i-1] != ':' && key[i+1] != ':':
			b.WriteByte('.')
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String() + "@hookflow"
}

// sendFailure sorts a failed submission. A 5xx reply is the server's final
// word (a retry gets the same answer), and so is an account the server cannot
// log in safely; a 4xx reply ("try again later"), a refused connection, a
// timeout or a TLS failure retries on the delivery schedule.
func sendFailure(err error) error {
	code := replyCode(err)
	switch {
	case code >= 500:
		return Final(fmt.Errorf("email.send: the SMTP server refused (%d): %w", code, err))
	case errors.Is(err, gomail.ErrNoSupportedAuthDiscovered):
		return Final(fmt.Errorf("email.send: the SMTP server offers no way to log in without sending the password in clear (use smtp+starttls:// or smtps://): %w", err))
	case code >= 400:
		return fmt.Errorf("email.send: the SMTP server deferred (%d): %w", code, err)
	default:
		return fmt.Errorf("email.send: %w", err)
	}
}

// replyCode is the SMTP reply code in err, or 0 when the server did not answer
// with one (the connection failed first). Failures while sending carry it in
// go-mail's SendError, failures while logging in as a textproto.Error.
func replyCode(err error) int {
	var se *gomail.SendError
	if errors.As(err, &se) && se.ErrorCode() != 0 {
		return se.ErrorCode()
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}
