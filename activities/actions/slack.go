package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hookflow/hookflow/internal/dispatch"
	"github.com/hookflow/hookflow/internal/netguard"
)

// SlackPost is `slack.post` {"webhook_url","text","blocks"?}: a message through a
// Slack incoming webhook. A 429 waits for Retry-After; 400, 403, 404 and 410 are
// final and keep Slack's error text (invalid_payload, no_service,
// channel_is_archived...); other failures follow the delivery schedule.
type SlackPost struct {
	Dispatcher dispatch.Dispatcher
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
	resp, err := post(ctx, a.Dispatcher, dispatch.Request{URL: url, Body: body})
	if err != nil {
		return nil, err
	}
	status, answer := resp.Status, resp.Excerpt
	switch {
	case resp.OK():
		return map[string]any{"status": status, "response": answer}, nil
	case status == http.StatusTooManyRequests:
		return nil, RetryAfter(fmt.Errorf("slack: HTTP 429 rate limited"), resp.RetryAfter)
	case status == 400 || status == 403 || status == 404 || status == 410:
		return nil, Final(fmt.Errorf("slack: HTTP %d %s", status, strings.TrimSpace(answer)))
	default:
		return nil, fmt.Errorf("slack: HTTP %d %s", status, strings.TrimSpace(answer))
	}
}

// post sends req as the dispatcher's Post does, through send.
func post(ctx context.Context, d dispatch.Dispatcher, req dispatch.Request) (dispatch.Response, error) {
	req.Method = http.MethodPost
	if req.Body == nil {
		req.Body = []byte{}
	}
	return send(ctx, d, req)
}

// send sends req through the dispatcher, as every HTTP action does, so a
// destination the SSRF guard refuses fails every one of them at once (see
// guardFinal), and a URL that cannot make a request is final.
func send(ctx context.Context, d dispatch.Dispatcher, req dispatch.Request) (dispatch.Response, error) {
	resp, err := d.Do(ctx, req)
	if dispatch.IsBadRequest(err) {
		return resp, Final(fmt.Errorf("bad URL: %w", err))
	}
	if err != nil {
		return resp, guardFinal(err)
	}
	return resp, nil
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
