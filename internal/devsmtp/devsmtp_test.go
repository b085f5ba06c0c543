package devsmtp

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/hookflow/hookflow/internal/mailer"
)

// box is a Recorder in memory; full makes it refuse.
type box struct {
	mu   sync.Mutex
	msgs []Message
	full bool
}

func (b *box) RecordMail(m Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.full {
		return errors.New("inbox full")
	}
	b.msgs = append(b.msgs, m)
	return nil
}

func (b *box) all() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Message{}, b.msgs...)
}

// startSink runs a sink on a free loopback port into b.
func startSink(t *testing.T, b *box) mailer.Server {
	t.Helper()
	s, err := Start("127.0.0.1:0", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	srv, err := mailer.ParseURL("smtp://" + s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// send submits a message with the given bodies through go-mail, as email.send does.
func send(t *testing.T, srv mailer.Server, subject, text, html string) error {
	t.Helper()
	m := gomail.NewMsg()
	if err := m.From("Shop <shop@example.com>"); err != nil {
		t.Fatal(err)
	}
	if err := m.To("ann@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := m.Bcc("audit@example.com"); err != nil {
		t.Fatal(err)
	}
	m.Subject(subject)
	m.SetMessageIDWithValue("run_1.mail@hookflow")
	m.SetBodyString(gomail.TypeTextPlain, text)
	if html != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, html)
	}
	return srv.Send(context.Background(), 5*time.Second, m)
}

// TestSinkRecords: a message sent to the sink is recorded with its envelope
// (bcc too), decoded subject and bodies, Message-ID and headers as sent.
func TestSinkRecords(t *testing.T) {
	b := &box{}
	srv := startSink(t, b)
	text := "Grüße, Ann — " + strings.Repeat("a long line of text ", 10)
	if err := send(t, srv, "Bestellung 1001 bestätigt ✓", text, "<p>Grüße, <b>Ann</b></p>"); err != nil {
		t.Fatal(err)
	}
	msgs := b.all()
	if len(msgs) != 1 {
		t.Fatalf("recorded %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "shop@example.com" || strings.Join(m.To, ",") != "ann@example.com,audit@example.com" {
		t.Errorf("envelope %q → %q", m.From, m.To)
	}
	if m.Subject != "Bestellung 1001 bestätigt ✓" || m.MessageID != "<run_1.mail@hookflow>" {
		t.Errorf("subject %q message-id %q", m.Subject, m.MessageID)
	}
	if m.Text != text || m.HTML != "<p>Grüße, <b>Ann</b></p>" {
		t.Errorf("text %q html %q", m.Text, m.HTML)
	}
	if raw := m.Header.Get("Subject"); !strings.HasPrefix(raw, "=?UTF-8?") {
		t.Errorf("raw Subject header %q, want it as sent (encoded)", raw)
	}
	if !strings.HasPrefix(m.Header.Get("Content-Type"), "multipart/alternative") {
		t.Errorf("Content-Type %q", m.Header.Get("Content-Type"))
	}
}

// TestSinkRefuses: when the recorder is full the sender is told to try again
// later (452, not a permanent failure); a message over MaxMessageBytes is 552.
func TestSinkRefuses(t *testing.T) {
	b := &box{full: true}
	srv := startSink(t, b)
	err := send(t, srv, "Hi", "Hello", "")
	var se *gomail.SendError
	if !errors.As(err, &se) || se.ErrorCode() != 452 || !se.IsTemp() {
		t.Errorf("full recorder: %v, want a temporary 452", err)
	}
	b.mu.Lock()
	b.full = false
	b.mu.Unlock()
	err = send(t, srv, "Big", strings.Repeat("x", MaxMessageBytes), "")
	if !errors.As(err, &se) || se.ErrorCode() != 552 {
		t.Errorf("message over %d bytes: %v, want 552", MaxMessageBytes, err)
	}
	if n := len(b.all()); n != 0 {
		t.Errorf("recorded %d messages, want none", n)
	}
}

// TestParse: the bodies are found in single parts and in multipart trees, in
// quoted-printable, base64 or as is, and attachments are left out.
func TestParse(t *testing.T) {
	tests := []struct {
		name, raw, text, html string
	}{
		{"no content type", "Subject: hi\r\n\r\nplain body\r\n", "plain body\r\n", ""},
		{"quoted-printable text", "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe, a soft=\r\n break\r\n", "Grüße, a soft break\r\n", ""},
		{"base64 html", "Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPHA+SGk8\r\nL3A+\r\n", "", "<p>Hi</p>"},
		{"mixed with alternative and attachment", "Content-Type: multipart/mixed; boundary=OUT\r\n\r\n" +
			"--OUT\r\nContent-Type: text/plain; name=first.txt\r\nContent-Disposition: attachment; filename=first.txt\r\n\r\nattached first\r\n" +
			"--OUT\r\nContent-Type: multipart/alternative; boundary=IN\r\n\r\n" +
			"--IN\r\nContent-Type: text/plain\r\n\r\nthe text\r\n--IN\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>the =3D html</p>\r\n--IN--\r\n" +
			"--OUT\r\nContent-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment\r\n\r\nattached\r\n--OUT--\r\n",
			"the text", "<p>the = html</p>"},
	}
	for _, tt := range tests {
		m, err := Parse("a@example.com", []string{"b@example.com"}, []byte(tt.raw))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if m.Text != tt.text || m.HTML != tt.html {
			t.Errorf("%s: text %q html %q, want %q and %q", tt.name, m.Text, m.HTML, tt.text, tt.html)
		}
	}
	if _, err := Parse("", nil, []byte("no headers here")); err == nil {
		t.Error("a message without a header block was parsed")
	}
}
