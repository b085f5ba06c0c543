package actions

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// teamsServer answers every request with code, body and Retry-After (when not
// empty), and keeps the last body it got.
func teamsServer(t *testing.T, code int, body, retryAfter string) (*httptest.Server, *[]byte) {
	t.Helper()
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

// TestTeamsPayloads: a text goes as an Adaptive Card with one TextBlock and a
// card as given (type and version filled in), both in the message shape classic
// and Workflows webhooks take.
func TestTeamsPayloads(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		card   string
	}{
		{"text", map[string]any{"text": "Ann reached Gold"},
			`{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4",
			  "body":[{"type":"TextBlock","text":"Ann reached Gold","wrap":true}]}`},
		{"card", map[string]any{"card": map[string]any{"body": []any{map[string]any{"type": "FactSet", "facts": []any{}}}}},
			`{"type":"AdaptiveCard","version":"1.4","body":[{"type":"FactSet","facts":[]}]}`},
		{"card with its own version", map[string]any{"card": map[string]any{"type": "AdaptiveCard", "version": "1.5", "body": []any{}}},
			`{"type":"AdaptiveCard","version":"1.5","body":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, got := teamsServer(t, 200, "1", "")
			tt.params["webhook_url"] = srv.URL
			out, err := TeamsPost{Dispatcher: loopbackClient()}.Run(context.Background(), StepContext{}, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			want := `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":` + tt.card + `}]}`
			if !sameJSON(t, *got, want) {
				t.Errorf("Teams got %s\nwant %s", *got, want)
			}
			if out["status"] != 200 || out["response"] != "1" {
				t.Errorf("output %v, want status 200 and Teams' answer", out)
			}
		})
	}
}

// TestTeamsAnswers: what each answer of Teams makes of the step.
func TestTeamsAnswers(t *testing.T) {
	tests := []struct {
		name       string
		code       int
		body       string
		retryAfter string
		wantErr    string // "" succeeds
		wantFinal  bool
		wantAfter  time.Duration
	}{
		{"classic ok", 200, "1", "", "", false, 0},
		{"workflows accepted", 202, "", "", "", false, 0},
		{"rate limited", 429, "Too many requests", "4", "HTTP 429", false, 4 * time.Second},
		{"429 inside a 200", 200, "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0", "",
			"HTTP 429", false, 0},
		{"400 inside a 200 is final", 200, "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 400 with ContextId tcid=1", "",
			"HTTP 400 Webhook message delivery failed", true, 0},
		{"bad payload is final", 400, "Summary or Text is required.", "", "HTTP 400 Summary or Text is required.", true, 0},
		{"removed webhook is final", 410, "Connector configuration not found", "", "HTTP 410 Connector configuration not found", true, 0},
		{"workflow not authorised is final", 401, `{"error":{"code":"DirectApiAuthorizationRequired"}}`, "", "DirectApiAuthorizationRequired", true, 0},
		{"server error retries", 502, "bad gateway", "", "HTTP 502 bad gateway", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := teamsServer(t, tt.code, tt.body, tt.retryAfter)
			out, err := TeamsPost{Dispatcher: loopbackClient()}.Run(context.Background(), StepContext{},
				map[string]any{"webhook_url": srv.URL, "text": "hi"})
			if tt.wantErr == "" {
				if err != nil || out["status"] != tt.code {
					t.Fatalf("got %v, %v; want status %d", out, err, tt.code)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one naming %q", err, tt.wantErr)
			}
			if IsFinal(err) != tt.wantFinal {
				t.Errorf("final = %v, want %v (%v)", !tt.wantFinal, tt.wantFinal, err)
			}
			if got := RetryAfterOf(err); got != tt.wantAfter {
				t.Errorf("retry after %s, want %s", got, tt.wantAfter)
			}
		})
	}
}

// TestTeamsBadParams: params no retry can fix are final, and nothing is sent.
func TestTeamsBadParams(t *testing.T) {
	srv, got := teamsServer(t, 200, "1", "")
	for name, params := range map[string]map[string]any{
		"no URL":           {"text": "x"},
		"no message":       {"webhook_url": srv.URL},
		"text and card":    {"webhook_url": srv.URL, "text": "x", "card": map[string]any{}},
		"card not object":  {"webhook_url": srv.URL, "card": "{}"},
		"card of a kind":   {"webhook_url": srv.URL, "card": map[string]any{"type": "MessageCard"}},
		"text not string":  {"webhook_url": srv.URL, "text": 5},
		"malformed URL":    {"webhook_url": "http://[::1", "text": "x"},
		"URL not a string": {"webhook_url": true, "text": "x"},
	} {
		if _, err := (TeamsPost{Dispatcher: loopbackClient()}).Run(context.Background(), StepContext{}, params); !IsFinal(err) {
			t.Errorf("%s: err = %v, want final", name, err)
		}
	}
	if *got != nil {
		t.Errorf("Teams got %s from bad params", *got)
	}
}

// sameJSON reports whether got and want are the same JSON value.
func sameJSON(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("not JSON: %s", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %s", want)
	}
	return reflect.DeepEqual(g, w)
}
