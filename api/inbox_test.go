package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"testing"

	"github.com/hookflow/hookflow/internal/devsmtp"
)

// inboxServer is the API with only the dev inbox in use.
func inboxServer() http.Handler {
	return New(nil, nil, nil, nil, nil, Config{DevInbox: true}).Handler()
}

func inboxCall(t *testing.T, h http.Handler, method, path, body string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
	return w.Code, w.Body.String()
}

// errorCode reads the code of an error body, or "" when it is not one.
func errorCode(body string) string {
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.Error.Code
}

// TestInboxBounds: a body over 1 MiB is 413, a name over 100 characters is 400, the
// 101st box is 507 until one is deleted, a box keeps its last 500 requests, and the
// boxes together hold at most 64 MiB: the oldest requests of a box make room, and a
// box whose own requests cannot make room is refused (507) without anything lost.
func TestInboxBounds(t *testing.T) {
	t.Run("request limits", func(t *testing.T) {
		h := inboxServer()
		tests := []struct {
			name, path, body string
			want             int
			code             string
		}{
			{"1 MiB body", "/dev/inbox/crm", strings.Repeat("a", 1<<20), 200, ""},
			{"1 MiB + 1 body", "/dev/inbox/crm", strings.Repeat("a", 1<<20+1), 413, "payload_too_large"},
			{"long name", "/dev/inbox/" + strings.Repeat("n", 101), "{}", 400, "invalid_request"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, body := inboxCall(t, h, "POST", tt.path, tt.body)
				if code != tt.want || errorCode(body) != tt.code {
					t.Errorf("%d %s, want %d %s", code, body, tt.want, tt.code)
				}
			})
		}
	})
	t.Run("boxes", func(t *testing.T) {
		h := inboxServer()
		for i := range maxInboxBoxes {
			if code, body := inboxCall(t, h, "POST", fmt.Sprintf("/dev/inbox/b%d", i), "{}"); code != 200 {
				t.Fatalf("box %d: %d %s", i, code, body)
			}
		}
		code, body := inboxCall(t, h, "POST", "/dev/inbox/one-too-many", "{}")
		if code != http.StatusInsufficientStorage || errorCode(body) != "inbox_full" || !strings.Contains(body, "DELETE") {
			t.Errorf("box 101: %d %s, want 507 inbox_full saying what to delete", code, body)
		}
		if code, _ := inboxCall(t, h, "POST", "/dev/inbox/b0", "{}"); code != 200 {
			t.Errorf("an existing box refused: %d", code)
		}
		inboxCall(t, h, "DELETE", "/dev/inbox/b1", "")
		if code, body := inboxCall(t, h, "POST", "/dev/inbox/one-too-many", "{}"); code != 200 {
			t.Errorf("after a DELETE: %d %s", code, body)
		}
	})
	t.Run("requests per box", func(t *testing.T) {
		h := inboxServer()
		for i := range 510 {
			inboxCall(t, h, "POST", "/dev/inbox/crm", fmt.Sprintf(`{"n":%d}`, i))
		}
		_, body := inboxCall(t, h, "GET", "/dev/inbox/crm", "")
		var got struct{ Requests []inboxRequest }
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Requests) != 500 || got.Requests[0].Body != `{"n":10}` {
			t.Errorf("kept %d requests from %q, want the last 500", len(got.Requests), got.Requests[0].Body)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		h := inboxServer()
		mib := strings.Repeat("a", 1<<20-64) // headers take the rest
		for i := range 40 {
			if code, _ := inboxCall(t, h, "POST", "/dev/inbox/big", mib); code != 200 {
				t.Fatalf("big %d: %d", i, code)
			}
		}
		for i := range 40 { // 80 MiB sent in all; the oldest of this box make room
			if code, body := inboxCall(t, h, "POST", "/dev/inbox/more", mib); code != 200 {
				t.Fatalf("more %d: %d %s", i, code, body)
			}
		}
		var big, more struct{ Requests []inboxRequest }
		_, b := inboxCall(t, h, "GET", "/dev/inbox/big", "")
		_ = json.Unmarshal([]byte(b), &big)
		_, b = inboxCall(t, h, "GET", "/dev/inbox/more", "")
		_ = json.Unmarshal([]byte(b), &more)
		if n := len(big.Requests) + len(more.Requests); n > 64 || len(more.Requests) != 24 {
			t.Errorf("holding %d + %d MiB, want at most 64 in all, the later box trimmed to 24", len(big.Requests), len(more.Requests))
		}
		// A third box has nothing of its own to drop: refused, and nothing else lost.
		code, body := inboxCall(t, h, "POST", "/dev/inbox/third", mib)
		if code != http.StatusInsufficientStorage || errorCode(body) != "inbox_full" {
			t.Errorf("third box: %d %s, want 507 inbox_full", code, body)
		}
		inboxCall(t, h, "DELETE", "/dev/inbox/big", "")
		if code, body := inboxCall(t, h, "POST", "/dev/inbox/third", mib); code != 200 {
			t.Errorf("after deleting a box: %d %s", code, body)
		}
	})
}

// TestInboxRecordMail: a message of the dev SMTP sink is listed at
// /dev/inbox/email with its envelope, decoded subject and bodies, Message-ID and
// headers as sent, counts against the inbox's bytes, and is refused when the
// API has no dev inbox.
func TestInboxRecordMail(t *testing.T) {
	srv := New(nil, nil, nil, nil, nil, Config{DevInbox: true})
	hdr := mail.Header{"Subject": {"=?UTF-8?q?Gr=C3=BC=C3=9Fe?="}, "Message-Id": {"<run_1.mail@hookflow>"}}
	m := devsmtp.Message{From: "shop@example.com", To: []string{"ann@example.com", "audit@example.com"}, Subject: "Grüße",
		MessageID: "<run_1.mail@hookflow>", Text: "Hello Ann", HTML: "<p>Hello Ann</p>", Header: hdr}
	if err := srv.RecordMail(m); err != nil {
		t.Fatal(err)
	}
	code, body := inboxCall(t, srv.Handler(), "GET", "/dev/inbox/email", "")
	var got struct{ Requests []inboxRequest }
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 || len(got.Requests) != 1 {
		t.Fatalf("GET /dev/inbox/email: %d %s", code, body)
	}
	r := got.Requests[0]
	want := inboxEmail{From: "shop@example.com", To: []string{"ann@example.com", "audit@example.com"}, Subject: "Grüße",
		MessageID: "<run_1.mail@hookflow>", Text: "Hello Ann", HTML: "<p>Hello Ann</p>"}
	if r.Method != "SMTP" || r.Email == nil || fmt.Sprint(*r.Email) != fmt.Sprint(want) || r.Headers["Subject"] != hdr.Get("Subject") {
		t.Errorf("recorded %+v (email %+v), want %+v with the raw headers", r, r.Email, want)
	}
	if n := srv.inbox.bytes; n < len(m.Text)+len(m.HTML)+len(m.Subject) {
		t.Errorf("the inbox counts %d bytes for the message", n)
	}
	if err := New(nil, nil, nil, nil, nil, Config{}).RecordMail(m); err == nil {
		t.Error("recorded without a dev inbox")
	}
}
