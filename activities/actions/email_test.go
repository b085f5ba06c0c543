package actions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/mailer"
	"github.com/hookflow/hookflow/internal/testenv/smtptest"
)

// emailTo is an email.send action aimed at rawURL.
func emailTo(t *testing.T, rawURL string) EmailSend {
	t.Helper()
	srv, err := mailer.ParseURL(rawURL)
	if err != nil {
		t.Fatalf("ParseURL(%s): %v", rawURL, err)
	}
	return EmailSend{Server: srv, Timeout: 5 * time.Second}
}

// welcome is a message with both bodies, a cc and a bcc.
func welcome() map[string]any {
	return map[string]any{
		"from":     "Shop <shop@example.com>",
		"to":       []any{"Ann <ann@example.com>", "bob@example.com"},
		"cc":       "carol@example.com",
		"bcc":      "audit@example.com",
		"reply_to": "help@example.com",
		"subject":  "Order 1001 is confirmed",
		"text":     "Thanks, Ann: order 1001 is on its way.",
		"html":     "<p>Thanks, Ann: order <b>1001</b> is on its way.</p>",
	}
}

// TestEmailSendTransports: over plain SMTP, opportunistic and mandatory
// STARTTLS (with a login the server checks) and implicit TLS, the message
// arrives with its headers, both bodies as multipart/alternative, the bcc in the
// envelope only, and the Message-ID of the step; the output says so.
func TestEmailSendTransports(t *testing.T) {
	tests := []struct {
		name    string
		opts    smtptest.Options
		scheme  string
		wantTLS bool
	}{
		{"plain", smtptest.Options{}, "smtp", false},
		{"opportunistic STARTTLS upgrades", smtptest.Options{TLS: smtptest.StartTLS}, "smtp", true},
		{"STARTTLS required, AUTH PLAIN", smtptest.Options{TLS: smtptest.StartTLS, Username: "hook", Password: "s3cret pass"}, "smtp+starttls", true},
		{"implicit TLS, AUTH PLAIN", smtptest.Options{TLS: smtptest.Implicit, Username: "hook", Password: "pw"}, "smtps", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.opts)
			out, err := emailTo(t, srv.URL(tt.scheme)).Run(context.Background(), StepContext{Key: "run_01ABC:confirm"}, welcome())
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("server got %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if m.TLS != tt.wantTLS || m.User != tt.opts.Username {
				t.Errorf("TLS %v user %q, want TLS %v user %q", m.TLS, m.User, tt.wantTLS, tt.opts.Username)
			}
			checkWelcome(t, m)
			if out["message_id"] != "<run_01ABC.confirm@hookflow>" || out["accepted"] != true ||
				fmt.Sprint(out["to"]) != "[ann@example.com bob@example.com]" {
				t.Errorf("output %v", out)
			}
		})
	}
}

// checkWelcome checks what the receiver of welcome() sees.
func checkWelcome(t *testing.T, m smtptest.Message) {
	t.Helper()
	if m.From != "shop@example.com" || strings.Join(m.To, ",") != "ann@example.com,bob@example.com,carol@example.com,audit@example.com" {
		t.Errorf("envelope from %q to %q", m.From, m.To)
	}
	h := m.Header
	for name, want := range map[string]string{
		"From":       `"Shop" <shop@example.com>`,
		"To":         `"Ann" <ann@example.com>, <bob@example.com>`,
		"Cc":         "<carol@example.com>",
		"Reply-To":   "<help@example.com>",
		"Subject":    "Order 1001 is confirmed",
		"Message-Id": "<run_01ABC.confirm@hookflow>",
		"Bcc":        "",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative;") {
		t.Errorf("Content-Type %q, want multipart/alternative", ct)
	}
	body := string(m.Data)
	for _, part := range []string{"Content-Type: text/plain", "Thanks, Ann: order 1001 is on its way.", "Content-Type: text/html", "<b>1001</b>"} {
		if !strings.Contains(body, part) {
			t.Errorf("message lacks %q:\n%s", part, body)
		}
	}
	if strings.Contains(body, "audit@example.com") {
		t.Errorf("the bcc recipient is in the message itself:\n%s", body)
	}
}

// TestEmailSendOneBody: text alone is text/plain, html alone text/html, and a
// step without a from takes the server's ?from=.
func TestEmailSendOneBody(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	a := emailTo(t, srv.URL("smtp")+"&from=noreply%40shop.example")
	for _, tt := range []struct{ key, want string }{{"text", "text/plain"}, {"html", "text/html"}} {
		params := map[string]any{"to": "ann@example.com", "subject": "Hi", tt.key: "Hello"}
		if _, err := a.Run(context.Background(), StepContext{Key: "run_1:" + tt.key}, params); err != nil {
			t.Fatalf("%s: %v", tt.key, err)
		}
	}
	msgs := srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2", len(msgs))
	}
	for i, want := range []string{"text/plain", "text/html"} {
		h := msgs[i].Header
		if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, want) {
			t.Errorf("message %d: Content-Type %q, want %s", i, ct, want)
		}
		if h.Get("From") != "<noreply@shop.example>" || msgs[i].From != "noreply@shop.example" {
			t.Errorf("message %d: From %q (envelope %q), want the server's default", i, h.Get("From"), msgs[i].From)
		}
	}
}

// TestEmailSendSameMessageID: a retried attempt of a step sends the same
// Message-ID, so receivers can drop the repeat; another step sends another.
func TestEmailSendSameMessageID(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	a := emailTo(t, srv.URL("smtp"))
	for i, sc := range []StepContext{
		{Key: "run_9:notify", Attempt: 1}, {Key: "run_9:notify", Attempt: 2}, {Key: "run_9:other", Attempt: 1},
	} {
		if _, err := a.Run(context.Background(), sc, welcome()); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	msgs := srv.Messages()
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want 3", len(msgs))
	}
	ids := []string{msgs[0].Header.Get("Message-Id"), msgs[1].Header.Get("Message-Id"), msgs[2].Header.Get("Message-Id")}
	if ids[0] != "<run_9.notify@hookflow>" || ids[1] != ids[0] || ids[2] == ids[0] {
		t.Errorf("Message-IDs %q: want the first two equal (%s), the third different", ids, "<run_9.notify@hookflow>")
	}
}

// TestEmailSendFailures: a 5xx reply is final and keeps the server's text, and a
// failed login does not show the password; a 4xx reply, a refused connection, a
// server without the STARTTLS it must offer and a certificate that does not
// verify are retried.
func TestEmailSendFailures(t *testing.T) {
	refuse := func(cmd string, code int, text string) smtptest.Options {
		return smtptest.Options{Script: func(c string) error {
			if c == cmd {
				return smtptest.Reply(code, text)
			}
			return nil
		}}
	}
	tests := []struct {
		name      string
		opts      smtptest.Options
		url       func(srv *smtptest.Server) string
		wantFinal bool
		wantText  string
	}{
		{"550 on RCPT", refuse("RCPT", 550, "No such user here"), plainURL, true, "No such user here"},
		{"554 on DATA", refuse("DATA", 554, "Message rejected as spam"), plainURL, true, "rejected as spam"},
		{"451 on RCPT", refuse("RCPT", 451, "Greylisted, try again later"), plainURL, false, "Greylisted"},
		{"421 on MAIL", refuse("MAIL", 421, "Too busy"), plainURL, false, "Too busy"},
		{"wrong password", smtptest.Options{TLS: smtptest.StartTLS, Username: "hook", Password: "right"},
			func(srv *smtptest.Server) string {
				return "smtp+starttls://hook:wr%40ng-s3cret@" + srv.Addr + "?insecure_skip_verify=true"
			}, true, "535"},
		{"connection refused", smtptest.Options{}, func(*smtptest.Server) string { return "smtp://" + closedAddr(t) }, false, "refused"},
		{"STARTTLS required, not offered", smtptest.Options{}, func(srv *smtptest.Server) string { return "smtp+starttls://" + srv.Addr }, false, "STARTTLS"},
		{"self-signed certificate", smtptest.Options{TLS: smtptest.Implicit}, func(srv *smtptest.Server) string { return "smtps://" + srv.Addr }, false, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.opts)
			_, err := emailTo(t, tt.url(srv)).Run(context.Background(), StepContext{Key: "run_1:mail"}, welcome())
			if err == nil {
				t.Fatal("Run succeeded")
			}
			if IsFinal(err) != tt.wantFinal {
				t.Errorf("final = %v, want %v: %v", IsFinal(err), tt.wantFinal, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q lacks %q", err, tt.wantText)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "wr@ng") {
				t.Errorf("error %q shows the password", err)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("server accepted %d messages", n)
			}
		})
	}
}

func plainURL(srv *smtptest.Server) string { return "smtp://" + srv.Addr }

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestEmailSendParams: params that cannot make a message, and a worker without
// a server, fail for good and send nothing.
func TestEmailSendParams(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	// with is welcome() with pairs of key and value changed (nil: removed).
	with := func(kv ...any) map[string]any {
		p := welcome()
		for i := 0; i < len(kv); i += 2 {
			if k := kv[i].(string); kv[i+1] == nil {
				delete(p, k)
			} else {
				p[k] = kv[i+1]
			}
		}
		return p
	}
	many := make([]any, 51)
	for i := range many {
		many[i] = fmt.Sprintf("r%d@example.com", i)
	}
	tests := []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"no to", with("to", nil), "params.to is required"},
		{"empty to list", with("to", []any{}), "params.to is required"},
		{"bad to", with("to", "ann at example"), `params.to: "ann at example" is not an email address`},
		{"bad cc in list", with("cc", []any{"ok@example.com", "nope"}), "params.cc"},
		{"to not a string", with("to", 42), "params.to must be an address"},
		{"bad from", with("from", "shop@"), "params.from"},
		{"no from, no default", with("from", nil), "params.from is required"},
		{"bad reply_to", with("reply_to", "<>"), "params.reply_to"},
		{"51 recipients", with("bcc", many), "at most 50"},
		{"no subject", with("subject", nil), "params.subject is required"},
		{"long subject", with("subject", strings.Repeat("s", 999)), "at most 998"},
		{"two-line subject", with("subject", "Hi\r\nBcc: victim@example.com"), "one line"},
		{"no body", with("text", nil, "html", nil), "params.text or params.html is required"},
		{"body over 1 MiB", with("html", strings.Repeat("h", 1<<20)), "1 MiB"},
	}
	a := emailTo(t, plainURL(srv))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Run(context.Background(), StepContext{Key: "run_1:mail"}, tt.params)
			if err == nil || !IsFinal(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want a final error with %q", err, tt.want)
			}
		})
	}
	_, err := EmailSend{}.Run(context.Background(), StepContext{Key: "run_1:mail"}, welcome())
	if !IsFinal(err) || !strings.Contains(err.Error(), "HOOKFLOW_SMTP_URL") {
		t.Errorf("no server: %v, want a final error that says to set HOOKFLOW_SMTP_URL", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server accepted %d messages", n)
	}
}

// TestMessageID: the key's colon becomes a dot, everything else outside
// [A-Za-z0-9_-] is escaped, so distinct keys never share a Message-ID.
func TestMessageID(t *testing.T) {
	tests := []struct{ key, want string }{
		{"run_01J9ZK:welcome", "run_01J9ZK.welcome@hookflow"},
		{"run_1:step.two", "run_1.step=2Etwo@hookflow"},
		{"run_1.step:two", "run_1=2Estep.two@hookflow"},
		{"run_1::x", "run_1=3A=3Ax@hookflow"},
		{":x", "=3Ax@hookflow"},
		{"a b=<c>", "a=20b=3D=3Cc=3E@hookflow"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := messageID(tt.key); got != tt.want {
			t.Errorf("messageID(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
	if !errors.Is(sendFailure(context.DeadlineExceeded), context.DeadlineExceeded) || IsFinal(sendFailure(context.DeadlineExceeded)) {
		t.Error("a timeout is not kept as a retryable error")
	}
}
