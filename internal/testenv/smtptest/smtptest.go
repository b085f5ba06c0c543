// Package smtptest is a real SMTP server on loopback for tests (go-smtp): it
// records the messages it accepts, can require a login, speaks STARTTLS or
// implicit TLS with a self-signed certificate made on the spot, and answers
// what a test scripts (a 451 first, a 550 on RCPT...). It is a package of its
// own, apart from testenv, so the action tests that use it do not link
// Temporal's server.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/mail"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLSMode is how the server protects connections.
type TLSMode int

// TLS modes.
const (
	// NoTLS: plain text, no STARTTLS offered.
	NoTLS TLSMode = iota
	// StartTLS: plain text at first, STARTTLS offered.
	StartTLS
	// Implicit: TLS from the first byte, as on port 465.
	Implicit
)

// Options shape the server.
type Options struct {
	TLS TLSMode
	// Username and Password, when Username is set, are the only login accepted
	// (AUTH PLAIN, offered over TLS only); MAIL without it is refused.
	Username, Password string
	// Script, when set, is asked at each command ("MAIL", "RCPT", "DATA") for
	// the reply to give instead of accepting: nil accepts, Reply(451, …) defers.
	Script func(cmd string) error
}

// Message is one accepted message.
type Message struct {
	From string   // MAIL FROM
	To   []string // RCPT TO, in order
	// Data is the message as sent (headers and MIME body); Header its headers.
	Data   []byte
	Header mail.Header
	// User is who logged in to send it ("" without AUTH); TLS whether the
	// connection was encrypted by then.
	User string
	TLS  bool
}

// Server is a running test server.
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	opts Options
	mu   sync.Mutex
	msgs []Message
}

// Reply is an SMTP error reply for Script to return.
func Reply(code int, text string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: text}
}

// Start runs a server until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "smtptest.local"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 8 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	switch opts.TLS {
	case StartTLS:
		srv.TLSConfig = SelfSigned(t)
	case Implicit:
		ln = tls.NewListener(ln, SelfSigned(t))
	}
	s.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// URL is HOOKFLOW_SMTP_URL for this server with the given scheme: the login of
// Options, if any, and the test certificate accepted (insecure_skip_verify).
func (s *Server) URL(scheme string) string {
	u := url.URL{Scheme: scheme, Host: s.Addr, RawQuery: "insecure_skip_verify=true"}
	if s.opts.Username != "" {
		u.User = url.UserPassword(s.opts.Username, s.opts.Password)
	}
	return u.String()
}

// Messages copies the accepted messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message{}, s.msgs...)
}

// SelfSigned is a TLS config with a fresh self-signed certificate for
// 127.0.0.1 and localhost.
func SelfSigned(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("smtptest: key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smtptest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("smtptest: certificate: %v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: s, conn: c}, nil
}

// session is one SMTP conversation.
type session struct {
	srv  *Server
	conn *smtp.Conn
	user string
	msg  Message
}

// script asks Options.Script about cmd.
func (se *session) script(cmd string) error {
	if se.srv.opts.Script == nil {
		return nil
	}
	return se.srv.opts.Script(cmd)
}

// AuthMechanisms implements smtp.AuthSession: PLAIN when a login is required.
func (se *session) AuthMechanisms() []string {
	if se.srv.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth implements smtp.AuthSession.
func (se *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != se.srv.opts.Username || pass != se.srv.opts.Password {
			return smtp.ErrAuthFailed
		}
		se.user = user
		return nil
	}), nil
}

// Mail implements smtp.Session.
func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.srv.opts.Username != "" && se.user == "" {
		return smtp.ErrAuthRequired
	}
	if err := se.script("MAIL"); err != nil {
		return err
	}
	_, encrypted := se.conn.TLSConnectionState()
	se.msg = Message{From: from, User: se.user, TLS: encrypted}
	return nil
}

// Rcpt implements smtp.Session.
func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := se.script("RCPT"); err != nil {
		return err
	}
	se.msg.To = append(se.msg.To, to)
	return nil
}

// Data implements smtp.Session.
func (se *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := se.script("DATA"); err != nil {
		return err
	}
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("smtptest: not a message: %w", err)
	}
	se.msg.Data, se.msg.Header = data, m.Header
	se.srv.mu.Lock()
	se.srv.msgs = append(se.srv.msgs, se.msg)
	se.srv.mu.Unlock()
	return nil
}

// Reset implements smtp.Session.
func (se *session) Reset() { se.msg = Message{} }

// Logout implements smtp.Session.
func (se *session) Logout() error { return nil }
