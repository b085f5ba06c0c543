package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/hookflow/hookflow/internal/signing"
)

// WebhookPost is `webhook.post` {"url","body"?,"headers"?,"secret"?}: a POST to any
// URL through the SSRF guard, with Standard Webhooks headers (webhook-id is the run
// and step, stable across retries) signed with params.secret when given. The answer
// follows the delivery contract: 2xx succeeds, 4xx other than 408/425/429 is final,
// the rest retries on the delivery schedule.
type WebhookPost struct {
	Client *http.Client
}

// Name implements Action.
func (WebhookPost) Name() string { return "webhook.post" }

// Retry implements Action.
func (WebhookPost) Retry() RetryKind { return RetryHTTP }

// Run implements Action.
func (a WebhookPost) Run(ctx context.Context, sc StepContext, params map[string]any) (map[string]any, error) {
	url, err := str(params, "url", true)
	if err != nil {
		return nil, err
	}
	secret, err := str(params, "secret", false)
	if err != nil {
		return nil, err
	}
	payload := params["body"]
	if payload == nil {
		payload = map[string]any{}
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, Final(fmt.Errorf("encode body: %w", err))
	}
	h := http.Header{}
	if hs, ok := params["headers"].(map[string]any); ok {
		for k, v := range hs {
			s, ok := v.(string)
			if !ok {
				return nil, Final(fmt.Errorf("params.headers.%s must be a string", k))
			}
			h.Set(k, s)
		}
	}
	msgID := "msg_" + sc.Key
	if secret != "" {
		sh, err := signing.Headers([]string{secret}, msgID, time.Now(), body)
		if err != nil {
			return nil, Final(fmt.Errorf("params.secret: %w", err))
		}
		for k, v := range sh {
			h[k] = v
		}
	} else {
		h.Set(signing.HeaderID, msgID)
	}
	status, answer, retryAfter, err := post(ctx, a.Client, url, body, h)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"status": status, "response": answer}
	switch {
	case status >= 200 && status < 300:
		return out, nil
	case isFinalStatus(status):
		return nil, Final(fmt.Errorf("HTTP %d", status))
	case retryAfter > 0:
		return nil, RetryAfter(fmt.Errorf("HTTP %d", status), retryAfter)
	default:
		return nil, fmt.Errorf("HTTP %d", status)
	}
}
