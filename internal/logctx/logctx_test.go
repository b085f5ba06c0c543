package logctx

import (
	"bytes"
	"context"
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
