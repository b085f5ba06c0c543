package redact

import (
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		`Post "https://crm.example.com/hook?token=tok_SECRET&x=1": dial tcp: refused`:   `Post "https://crm.example.com/hook?token=[redacted]&x=[redacted]": dial tcp: refused`,
		"https://user:pa55@api.example.com/v1":                                          "https://[redacted]@api.example.com/v1",
		"slack: https://hooks.slack.com/services/T000/B000/XXXXSECRET failed":           "slack: https://hooks.slack.com/services/[redacted] failed",
		"http://127.0.0.1:1/services/T0/B0/deadsecret":                                  "http://127.0.0.1:1/services/[redacted]",
		"https://acme.webhook.office.com/webhookb2/abc@def/IncomingWebhook/ghi/jkl":     "https://acme.webhook.office.com/[redacted]",
		"https://prod-1.westus.logic.azure.com:443/workflows/w/triggers/manual?sig=S1G": "https://prod-1.westus.logic.azure.com:443/workflows/w/triggers/manual?sig=[redacted]",
		"no url here":               "no url here",
		"https://example.com/plain": "https://example.com/plain",
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q)\n = %q\nwant %q", in, got, want)
		}
	}
	if got := Text("see https://u:p@[bad/x?t=s3cret now"); strings.Contains(got, "s3cret") || strings.Contains(got, ":p@") {
		t.Errorf("an unparsable URL kept its secrets: %q", got)
	}
}
