package mailer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want Server
	}{
		{"smtp://mail.example.com", Server{Host: "mail.example.com", Port: 587, Security: Opportunistic}},
		{"smtp://127.0.0.1:2525?from=hookflow%40localhost", Server{Host: "127.0.0.1", Port: 2525, Security: Opportunistic, From: "<hookflow@localhost>"}},
		{"smtp+starttls://apikey:p%40ss%3Aw0rd@smtp.example.com:587", Server{Host: "smtp.example.com", Port: 587, Security: StartTLS, Username: "apikey", Password: "p@ss:w0rd"}},
		{"SMTPS://u:p@[::1]", Server{Host: "::1", Port: 465, Security: ImplicitTLS, Username: "u", Password: "p"}},
		{"smtps://u@mail.example.com:2465/?insecure_skip_verify=true&from=Shop+%3Cshop%40example.com%3E",
			Server{Host: "mail.example.com", Port: 2465, Security: ImplicitTLS, Username: "u", InsecureSkipVerify: true, From: `"Shop" <shop@example.com>`}},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.url)
		if err != nil || got != tt.want {
			t.Errorf("ParseURL(%s) = %+v, %v; want %+v", tt.url, got, err, tt.want)
		}
	}
}

// TestParseURLErrors: each mistake is named, and no error quotes the password.
func TestParseURLErrors(t *testing.T) {
	const pass = "Sup3rS3cret"
	tests := []struct{ url, want string }{
		{"http://u:" + pass + "@mail.example.com", "scheme"},
		{"smtp://u:" + pass + "@", "no host"},
		{"smtp://u:" + pass + "@mail.example.com:99999", "port"},
		{"smtp://u:" + pass + "@mail.example.com:587/inbox", "path"},
		{"smtp://u:" + pass + "@mail.example.com?form=a@b.c", `unknown option "form"`},
		{"smtp://u:" + pass + "@mail.example.com?from=nobody", "from="},
		{"smtp://u:" + pass + "@mail.example.com?insecure_skip_verify=yes please", "insecure_skip_verify"},
		{"smtp://u:" + pass + "%zz@mail.example.com", "percent-encode"},
		{"smtp://u:" + pass + "@mail.example.com?%zz", "query"},
	}
	for _, tt := range tests {
		_, err := ParseURL(tt.url)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseURL(%s) = %v, want an error about %s", tt.url, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), pass) || strings.Contains(err.Error(), "zz") {
			t.Errorf("ParseURL(%s): error %q shows the password", tt.url, err)
		}
	}
}

// TestServerRedacted: printed, logged (text and JSON) or marshalled, a Server
// never shows its password.
func TestServerRedacted(t *testing.T) {
	s, err := ParseURL("smtps://apikey:Sup3rS3cret@smtp.example.com?from=shop%40example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "smtps://apikey:xxxxx@smtp.example.com:465?from=%3Cshop%40example.com%3E"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("mail", "server", s)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("mail", "server", s)
	js, _ := json.Marshal(s)
	for _, out := range []string{buf.String(), string(js), fmt.Sprintf("%v %+v %s %#v", s, s, s, s)} {
		if strings.Contains(out, "Sup3rS3cret") {
			t.Errorf("password shown in %s", out)
		}
	}
	if (Server{}).Configured() || (Server{}).String() != "(none)" {
		t.Error("the zero Server is configured")
	}
}
