// Package mailer is where `email.send` submits mail: the SMTP server named by
// HOOKFLOW_SMTP_URL (how to reach it, which TLS, which account) and the go-mail
// client that talks to it. The password it holds never leaves through String,
// LogValue, JSON or an error.
package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Security is how the connection to the server is protected; each is a URL scheme.
type Security string

// The schemes of HOOKFLOW_SMTP_URL.
const (
	// Opportunistic (smtp://) upgrades with STARTTLS when the server offers it and
	// goes on in plain text when it does not; without TLS no password is sent.
	Opportunistic Security = "smtp"
	// StartTLS (smtp+starttls://) requires STARTTLS: a server that does not offer
	// it gets no mail.
	StartTLS Security = "smtp+starttls"
	// ImplicitTLS (smtps://) speaks TLS from the first byte (port 465).
	ImplicitTLS Security = "smtps"
)

// defaultPort is the port of each scheme when the URL names none: submission
// (587) for the two that start in plain text, 465 for implicit TLS.
var defaultPort = map[Security]int{Opportunistic: 587, StartTLS: 587, ImplicitTLS: 465}

// Server is an SMTP server to submit mail to. The zero Server is "not configured".
type Server struct {
	Host     string
	Port     int
	Security Security
	// Username and Password log in (AUTH) when Username is set.
	Username string
	Password string `json:"-"`
	// From is the sender of steps that name none (?from=).
	From string
	// InsecureSkipVerify accepts any certificate (?insecure_skip_verify=true):
	// for dev servers and tests with self-signed certificates only.
	InsecureSkipVerify bool
}

// ParseURL reads HOOKFLOW_SMTP_URL, e.g.
// smtp+starttls://user:pass@smtp.example.com:587?from=shop@example.com. Its
// errors never quote the URL: it holds a password.
func ParseURL(raw string) (Server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's own error quotes the URL, or part of it (an invalid escape
		// may be three characters of the password).
		return Server{}, errors.New("not a valid URL (want e.g. smtp+starttls://user:pass@smtp.example.com:587; percent-encode special characters in the user name and password)")
	}
	s := Server{Security: Security(strings.ToLower(u.Scheme)), Host: u.Hostname()}
	if _, ok := defaultPort[s.Security]; !ok {
		return Server{}, fmt.Errorf("scheme %q: want smtp:// (STARTTLS when offered), smtp+starttls:// (STARTTLS required) or smtps:// (implicit TLS)", u.Scheme)
	}
	if s.Host == "" {
		return Server{}, errors.New("no host (want e.g. smtp+starttls://user:pass@smtp.example.com:587)")
	}
	if u.Path != "" && u.Path != "/" {
		return Server{}, errors.New("a path means nothing to SMTP: give scheme://user:pass@host:port?from=…")
	}
	s.Port = defaultPort[s.Security]
	if p := u.Port(); p != "" {
		if s.Port, err = strconv.Atoi(p); err != nil || s.Port < 1 || s.Port > 65535 {
			return Server{}, fmt.Errorf("port %q: want 1 to 65535", p)
		}
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	if err := s.readQuery(u.RawQuery); err != nil {
		return Server{}, err
	}
	return s, nil
}

// readQuery reads the options after "?": from and insecure_skip_verify. Any
// other is refused, so a misspelt option does not go unnoticed.
func (s *Server) readQuery(raw string) error {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return errors.New("the query after ? is not valid (want ?from=addr&insecure_skip_verify=true)")
	}
	for k, v := range q {
		switch k {
		case "from":
			a, err := mail.ParseAddress(v[0])
			if err != nil {
				return fmt.Errorf("from=%q is not an email address: %w", v[0], err)
			}
			s.From = a.String()
		case "insecure_skip_verify":
			if s.InsecureSkipVerify, err = strconv.ParseBool(v[0]); err != nil {
				return fmt.Errorf("insecure_skip_verify=%q: want true or false", v[0])
			}
		default:
			return fmt.Errorf("unknown option %q (known: from, insecure_skip_verify)", k)
		}
	}
	return nil
}

// Configured reports whether a server was given.
func (s Server) Configured() bool { return s.Host != "" }

// Addr is host:port.
func (s Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// String is the URL with the password masked, fit for a banner or a log.
func (s Server) String() string {
	if !s.Configured() {
		return "(none)"
	}
	u := url.URL{Scheme: string(s.Security), Host: s.Addr()}
	if s.Username != "" {
		u.User = url.User(s.Username)
		if s.Password != "" {
			u.User = url.UserPassword(s.Username, "xxxxx")
		}
	}
	q := url.Values{}
	if s.From != "" {
		q.Set("from", s.From)
	}
	if s.InsecureSkipVerify {
		q.Set("insecure_skip_verify", "true")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// LogValue logs the Server as String does, with either slog handler.
func (s Server) LogValue() slog.Value { return slog.StringValue(s.String()) }

// GoString keeps %#v from printing the password.
func (s Server) GoString() string { return "mailer.Server(" + s.String() + ")" }

// Send submits msg in one SMTP session, each exchange bounded by timeout. Its
// error wraps go-mail's: a *gomail.SendError or *textproto.Error carries the
// server's reply.
func (s Server) Send(ctx context.Context, timeout time.Duration, msg *gomail.Msg) error {
	if !s.Configured() {
		return errors.New("no SMTP server configured (set HOOKFLOW_SMTP_URL)")
	}
	opts := []gomail.Option{
		gomail.WithPort(s.Port),
		gomail.WithTimeout(timeout),
		// InsecureSkipVerify is the operator's opt-in, for dev servers and tests.
		gomail.WithTLSConfig(&tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.InsecureSkipVerify}),
	}
	switch s.Security {
	case ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case StartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.Username != "" {
		// The strongest mechanism the server offers; PLAIN and LOGIN only over TLS,
		// so the password never crosses the network in clear.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.Username), gomail.WithPassword(s.Password))
	}
	c, err := gomail.NewClient(s.Host, opts...)
	if err != nil {
		return fmt.Errorf("SMTP client for %s: %w", s.Addr(), err)
	}
	conn, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", s.Addr(), err)
	}
	defer func() {
		// The server took the message at the end of DATA: a QUIT that fails
		// after that must not fail the send (and have a retry send it again),
		// as go-mail's DialAndSend would.
		if c.CloseWithSMTPClient(conn) != nil {
			_ = conn.Close()
		}
	}()
	if err := c.SendWithSMTPClient(conn, msg); err != nil {
		return fmt.Errorf("send to %s: %w", s.Addr(), err)
	}
	return nil
}
