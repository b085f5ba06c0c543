package logctx

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestContextAttrs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(Handler{slog.NewJSONHandler(&buf, nil)})
	ctx := With(context.Background(), slog.String("request_id", "req_1"))
	ctx = With(ctx, slog.String("workspace_id", "ws_1"))
	log.InfoContext(ctx, "hello", "n", 1)
	log.With("component", "x").InfoContext(context.Background(), "bare")
	out := buf.String()
	if !strings.Contains(out, `"request_id":"req_1"`) || !strings.Contains(out, `"workspace_id":"ws_1"`) {
		t.Errorf("context attrs missing: %s", out)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); strings.Contains(lines[1], "request_id") || !strings.Contains(lines[1], `"component":"x"`) {
		t.Errorf("second line %s", lines[1])
	}
}

func TestHandlerRedacts(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(Handler{slog.NewTextHandler(&buf, nil)}).With("endpoint", "https://x.example/h?token=tok_WITH")
	logger.ErrorContext(context.Background(), "post https://u:pw@crm.example/a failed",
		"error", errors.New(`Post "https://hooks.slack.com/services/T1/B1/SLACKSECRET": refused`),
		"url", "https://crm.example/?key=tok_ATTR", slog.Group("g", "u", "https://a.example/?s=tok_GROUP"))
	out := buf.String()
	for _, secret := range []string{"tok_WITH", ":pw@", "SLACKSECRET", "tok_ATTR", "tok_GROUP"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log line holds %q: %s", secret, out)
		}
	}
	if !strings.Contains(out, "[redacted]") || !strings.Contains(out, "crm.example") {
		t.Errorf("log line %s", out)
	}
}
