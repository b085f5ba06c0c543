package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hookflow/hookflow/internal/netguard"
)

// SlackPost is `slack.post` {"webhook_url","text","blocks"?}: a message through a
// Slack incoming webhook. A 429 waits for Retry-After; 400, 403, 404 and 410 are
// final and keep Slack's error text (invalid_payload, no_service,
// channel_is_archived...); other failures follow the delivery schedule.
type SlackPost struct {
	Client *http.Client
}

// Name implements Action.
func (SlackPost) Name() string { return "slack.post" }

// Retry implements Action.
func (SlackPost) Retry() RetryKind { return RetryHTTP }

// Run implements Action.
func (a SlackPost) Run(ctx context.Context, sc StepContext, params map[string]any) (map[string]any, error) {
	url, err := str(params, "webhook_url", true)
	if err != nil {
		return nil, err
	}
	text, err := str(params, "text", false)
	if err != nil {
		return nil, err
	}
	msg := map[string]any{"text": text}
	if blocks, ok := params["blocks"]; ok && blocks != nil {
		if _, isList := blocks.([]any); !isList {
			return nil, Final(fmt.Errorf("params.blocks must be a list of Slack blocks"))
		}
		msg["blocks"] = blocks
	}
	if text == "" && msg["blocks"] == nil {
		return nil, Final(fmt.Errorf("params.text or params.blocks is required"))
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, Final(fmt.Errorf("encode message: %w", err))
	}
	status, answer, retryAfter, err := post(ctx, a.Client, url, body, nil)
	if err != nil {
		return nil, err
	}
	switch {
	case status >= 200 && status < 300:
		return map[string]any{"status": status, "response": answer}, nil
	case status == http.StatusTooManyRequests:
		return nil, RetryAfter(fmt.Errorf("slack: HTTP 429 rate limited"), retryAfter)
	case status == 400 || status == 403 || status == 404 || status == 410:
		return nil, Final(fmt.Errorf("slack: HTTP %d %s", status, strings.TrimSpace(answer)))
	default:
		return nil, fmt.Errorf("slack: HTTP %d %s", status, strings.TrimSpace(answer))
	}
}

// post sends body as JSON with the guarded client and reads at most the excerpt.
// Every HTTP action sends through it, so a destination the SSRF guard refuses fails
// every one of them at once (see guardFinal).
func post(ctx context.Context, client *http.Client, url string, body []byte, headers http.Header) (int, string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", 0, Final(fmt.Errorf("bad URL: %w", err))
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hookflow/1")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", 0, guardFinal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseExcerpt))
	return resp.StatusCode, string(raw), parseRetryAfter(resp.Header.Get("Retry-After"), start), nil
}

// guardFinal makes a refusal of the SSRF guard final. The guard decides on the
// address and the allow-list, neither of which a retry changes, so retrying only
// keeps a step open for the whole ~33 h delivery schedule before it fails anyway.
func guardFinal(err error) error {
	if !errors.Is(err, netguard.ErrBlocked) {
		return err
	}
	return Final(fmt.Errorf("blocked: the SSRF guard refuses this destination (use a public URL, or allow its range with HOOKFLOW_ALLOWED_CIDRS): %w", err))
}
