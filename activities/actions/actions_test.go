package actions

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/dispatch"
	"github.com/hookflow/hookflow/internal/netguard"
)

func loopbackClient() dispatch.Dispatcher {
	return dispatch.Dispatcher{Client: netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false).Client(5 * time.Second)}
}

func TestSlackPost(t *testing.T) {
	tests := []struct {
		name       string
		code       int
		body       string
		retryAfter string
		wantFinal  bool
		wantErr    bool
		wantAfter  time.Duration
	}{
		{"ok", 200, "ok", "", false, false, 0},
		{"rate limited", 429, "rate_limited", "3", false, true, 3 * time.Second},
		{"archived channel is final", 410, "channel_is_archived", "", true, true, 0},
		{"bad payload is final", 400, "invalid_payload", "", true, true, 0},
		{"server error retries", 500, "oops", "", false, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got = string(b)
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.code)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			out, err := SlackPost{Dispatcher: loopbackClient()}.Run(context.Background(), StepContext{Key: "run_1:notify"},
				map[string]any{"webhook_url": srv.URL, "text": "Ann reached Gold"})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != `{"text":"Ann reached Gold"}` {
				t.Errorf("Slack got %s", got)
			}
			var fe *finalError
			if errors.As(err, &fe) != tt.wantFinal {
				t.Errorf("final = %v, want %v (%v)", !tt.wantFinal, tt.wantFinal, err)
			}
			if tt.wantFinal && !strings.Contains(err.Error(), tt.body) {
				t.Errorf("error %q does not keep Slack's text %q", err, tt.body)
			}
			var ra *retryAfterError
			if tt.wantAfter > 0 && (!errors.As(err, &ra) || ra.after != tt.wantAfter) {
				t.Errorf("retry after = %v, want %s", err, tt.wantAfter)
			}
			if err == nil && out["status"] != 200 {
				t.Errorf("output %v", out)
			}
		})
	}
	if _, err := (SlackPost{Dispatcher: loopbackClient()}).Run(context.Background(), StepContext{}, map[string]any{"text": "x"}); err == nil {
		t.Error("missing webhook_url accepted")
	}
	// The guard applies: without the allow-list, loopback is refused.
	_, err := SlackPost{Dispatcher: dispatch.Dispatcher{Client: netguard.New(nil, false).Client(time.Second)}}.Run(context.Background(), StepContext{},
		map[string]any{"webhook_url": "http://127.0.0.1:9/hook", "text": "x"})
	if !errors.Is(err, netguard.ErrBlocked) {
		t.Errorf("loopback without allow-list: %v, want blocked", err)
	}
}

// TestHTTPActionsBlockedAreFinal: every HTTP action aimed at an address the SSRF
// guard refuses fails at once (final, not retried on the delivery schedule) with an
// error that says it was blocked, and nothing is sent.
func TestHTTPActionsBlockedAreFinal(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	closed := dispatch.Dispatcher{Client: netguard.New(nil, false).Client(time.Second)} // no allow-list: loopback is blocked
	tests := []struct {
		name   string
		action Action
		params map[string]any
	}{
		{"slack.post", SlackPost{Dispatcher: closed}, map[string]any{"webhook_url": srv.URL, "text": "x"}},
		{"webhook.post", WebhookPost{Dispatcher: closed}, map[string]any{"url": srv.URL}},
		{"slack.post to metadata", SlackPost{Dispatcher: closed}, map[string]any{"webhook_url": "http://169.254.169.254/latest/meta-data/", "text": "x"}},
		{"teams.post", TeamsPost{Dispatcher: closed}, map[string]any{"webhook_url": srv.URL, "text": "x"}},
		{"http.request", HTTPRequest{Dispatcher: closed}, map[string]any{"url": srv.URL, "method": "GET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.action.Run(context.Background(), StepContext{Key: "run_1:s", Attempt: 1, MaxAttempts: 8}, tt.params)
			var fe *finalError
			if !errors.As(err, &fe) || !errors.Is(err, netguard.ErrBlocked) {
				t.Fatalf("err = %v, want a final blocked error", err)
			}
			if !strings.HasPrefix(err.Error(), "blocked:") || !strings.Contains(err.Error(), "HOOKFLOW_ALLOWED_CIDRS") {
				t.Errorf("error %q does not say it was blocked and what to do", err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the blocked receiver got %d requests", n)
	}
}

func TestParseDelay(t *testing.T) {
	if d, err := ParseDelay(map[string]any{"duration": "10m"}); err != nil || d != 10*time.Minute {
		t.Errorf("10m = %v, %v", d, err)
	}
	for _, bad := range []map[string]any{{}, {"duration": "soon"}, {"duration": "-1s"}, {"duration": "9999h"}, {"duration": 5}} {
		if _, err := ParseDelay(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
