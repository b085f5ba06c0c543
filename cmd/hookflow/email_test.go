package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/config"
	"github.com/hookflow/hookflow/internal/mailer"
	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/internal/testenv/smtptest"
	"github.com/hookflow/hookflow/models"
)

// withSMTP points email.send at rawURL (HOOKFLOW_SMTP_URL).
func withSMTP(rawURL string) stackOption {
	return func(c *config.Config) {
		var err error
		if c.SMTP, err = mailer.ParseURL(rawURL); err != nil {
			panic(err)
		}
	}
}

// orderMail is an automation that mails the customer of each order.placed.
const orderMail = `{"name": "Confirm orders by mail", "trigger": {"event_type": "order.placed"},
  "steps": [{"id": "confirm", "action": "email.send", "params": {
    "from": "Shop <shop@example.com>", "to": "{{ .event.data.email }}",
    "subject": "Order {{ .event.data.order_id }} is confirmed",
    "text": "Thanks, {{ .event.data.name }}.", "html": "<p>Thanks, <b>{{ .event.data.name }}</b>.</p>"}}]}`

func placedOrder(id string) map[string]any {
	return map[string]any{"type": "order.placed", "id": id,
		"data": map[string]any{"order_id": id, "email": "ann@example.com", "name": "Ann"}}
}

// TestEmailAutomation: order.placed → email.send on the embedded Temporal
// server: the message arrives with the templated subject and the run's
// Message-ID, over STARTTLS with a login; a server that answers 451 first gets
// the same message again and the step succeeds on its second attempt.
func TestEmailAutomation(t *testing.T) {
	var rcpts atomic.Int32
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.StartTLS, Username: "shop", Password: "pw",
		Script: func(cmd string) error {
			if cmd == "RCPT" && rcpts.Add(1) == 2 { // the second order's first try
				return smtptest.Reply(451, "Greylisted, try again later")
			}
			return nil
		}})
	s := newStack(t, withSMTP(srv.URL("smtp+starttls")), withSchedule("0s,200ms,400ms"))
	s.createAutomation(orderMail)

	for i, id := range []string{"1001", "1002"} {
		ev := s.sendEvent(placedOrder(id))
		runs := s.waitRuns(ev.ID, 1, 30*time.Second)
		st := runs[0].Steps
		if runs[0].Status != models.RunSucceeded || len(st) != 1 || st[0].Status != models.RunSucceeded || st[0].Attempts != i+1 {
			t.Fatalf("order %s: run %s steps %+v, want succeeded after %d attempt(s)", id, runs[0].Status, st, i+1)
		}
		var out struct {
			MessageID string   `json:"message_id"`
			To        []string `json:"to"`
			Accepted  bool     `json:"accepted"`
		}
		if err := json.Unmarshal(st[0].Output, &out); err != nil {
			t.Fatal(err)
		}
		wantID := "<" + runs[0].ID + ".confirm@hookflow>"
		if out.MessageID != wantID || !out.Accepted || fmt.Sprint(out.To) != "[ann@example.com]" {
			t.Errorf("order %s: output %s, want message_id %s", id, st[0].Output, wantID)
		}
		msgs := srv.Messages()
		if len(msgs) != i+1 {
			t.Fatalf("after order %s the server has %d messages, want %d", id, len(msgs), i+1)
		}
		m := msgs[i]
		if got := m.Header.Get("Subject"); got != "Order "+id+" is confirmed" {
			t.Errorf("subject %q", got)
		}
		if m.Header.Get("Message-Id") != wantID || m.User != "shop" || !m.TLS || !strings.Contains(string(m.Data), "<b>Ann</b>") {
			t.Errorf("order %s: Message-Id %q user %q TLS %v, want %s sent by shop over TLS", id, m.Header.Get("Message-Id"), m.User, m.TLS, wantID)
		}
	}
	if n := rcpts.Load(); n != 3 {
		t.Errorf("the server saw %d RCPT commands, want 3 (one refused with 451)", n)
	}
}

// TestEmailNoServer: without HOOKFLOW_SMTP_URL an email.send step fails at once,
// saying what to set.
func TestEmailNoServer(t *testing.T) {
	s := newStack(t)
	s.createAutomation(orderMail)
	ev := s.sendEvent(placedOrder("1003"))
	runs := s.waitRuns(ev.ID, 1, 30*time.Second)
	if st := runs[0].Steps; runs[0].Status != models.RunFailed || len(st) != 1 || st[0].Attempts != 1 || !strings.Contains(st[0].Error, "HOOKFLOW_SMTP_URL") {
		t.Errorf("run %s steps %+v, want failed after one attempt, naming HOOKFLOW_SMTP_URL", runs[0].Status, runs[0].Steps)
	}
}

// TestDevEmailSink: under `hookflow dev`, with no SMTP server set, an email.send
// step without a from reaches the dev SMTP sink, and GET /dev/inbox/email lists
// the message with its envelope, subject, bodies and Message-ID.
func TestDevEmailSink(t *testing.T) {
	dir := t.TempDir()
	sink := testenv.FreeAddr(t)
	env := map[string]string{
		"HOOKFLOW_DATA_DIR":      filepath.Join(dir, "data"),
		"HOOKFLOW_HTTP_ADDR":     testenv.FreeAddr(t),
		"TEMPORAL_ADDRESS":       testenv.FreeAddr(t),
		"TEMPORAL_UI_ADDRESS":    testenv.FreeAddr(t),
		"HOOKFLOW_DEV_SMTP_ADDR": sink,
	}
	stop, out := startDev(t, env)
	defer stop()
	if want := "email.send → dev SMTP sink on " + sink; !strings.Contains(out.String(), want) {
		t.Errorf("dev banner lacks %q:\n%s", want, out.String())
	}
	keyBytes, err := os.ReadFile(filepath.Join(env["HOOKFLOW_DATA_DIR"], "api_key"))
	if err != nil {
		t.Fatal(err)
	}
	key, base := strings.TrimSpace(string(keyBytes)), "http://"+env["HOOKFLOW_HTTP_ADDR"]
	noFrom := strings.Replace(orderMail, `"from": "Shop <shop@example.com>", `, "", 1)
	var e apiError
	if code := callAPI(t, key, "POST", base+"/v1/automations", noFrom, &e); code != http.StatusCreated {
		t.Fatalf("create automation: %d %+v", code, e)
	}
	if code := callAPI(t, key, "POST", base+"/v1/events", placedOrder("1004"), nil); code != http.StatusAccepted {
		t.Fatalf("post event: %d", code)
	}
	var inbox struct {
		Requests []struct {
			Method  string
			Headers map[string]string
			Email   struct {
				From, Subject, Text, HTML string
				To                        []string
				MessageID                 string `json:"message_id"`
			}
		}
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		callAPI(t, "", "GET", base+"/dev/inbox/email", nil, &inbox)
		return len(inbox.Requests) > 0
	}, func() string { return "a message in /dev/inbox/email: " + out.String() })
	got := inbox.Requests[0]
	m := got.Email
	if got.Method != "SMTP" || m.From != "hookflow@localhost" || fmt.Sprint(m.To) != "[ann@example.com]" || m.Subject != "Order 1004 is confirmed" ||
		m.Text != "Thanks, Ann." || m.HTML != "<p>Thanks, <b>Ann</b>.</p>" || !strings.HasSuffix(m.MessageID, ".confirm@hookflow>") {
		t.Errorf("recorded %+v", got)
	}
	if got.Headers["Message-Id"] != m.MessageID || !strings.HasPrefix(got.Headers["Content-Type"], "multipart/alternative") {
		t.Errorf("raw headers %v", got.Headers)
	}
}

// TestActionsDocEmailExample: the email.send automation and event that
// docs/ACTIONS.md sends with curl save and run as written: the message arrives.
func TestActionsDocEmailExample(t *testing.T) {
	md, err := os.ReadFile("../../docs/ACTIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(md), "## Built-in: `email.send`")
	bodies := regexp.MustCompile(`(?s)curl -s -X POST \$API/v1/(automations|events) .*?-d '(.*?)'`).FindAllStringSubmatch(section, -1)
	if len(bodies) != 2 || bodies[0][1] != "automations" || bodies[1][1] != "events" {
		t.Fatalf("found %d curl bodies in the email.send section, want an automation then an event", len(bodies))
	}
	srv := smtptest.Start(t, smtptest.Options{})
	s := newStack(t, withSMTP(srv.URL("smtp")+"&from=shop%40example.com"))
	s.createAutomation(bodies[0][2])
	var ev map[string]any
	if err := json.Unmarshal([]byte(bodies[1][2]), &ev); err != nil {
		t.Fatalf("event body: %v", err)
	}
	runs := s.waitRuns(s.sendEvent(ev).ID, 1, 30*time.Second)
	if runs[0].Status != models.RunSucceeded {
		t.Fatalf("run %s: %+v", runs[0].Status, runs[0].Steps)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].Header.Get("Subject") != "Order 1001 is confirmed" || msgs[0].From != "shop@example.com" {
		t.Errorf("messages %+v, want one with subject \"Order 1001 is confirmed\" from the URL's sender", msgs)
	}
}
