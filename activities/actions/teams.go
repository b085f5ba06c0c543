package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hookflow/hookflow/internal/dispatch"
)

// TeamsPost is `teams.post` {"webhook_url", "text" | "card"}: a message to a
// Microsoft Teams channel through a classic Office 365 incoming webhook or a
// Power Automate "Workflows" webhook. Both take the same body, a message with one
// Adaptive Card attachment (teamsMessage); a text is sent as a card with one
// TextBlock, since Workflows webhooks read only attachments. A 429 waits for
// Retry-After; 400, 401, 403, 404, 410 and 413 are final and keep Teams' answer;
// other failures follow the delivery schedule. Classic webhooks answer some
// failures with a 200 whose body names the real status ("Microsoft Teams
// endpoint returned HTTP error 429"): those count as that status.
type TeamsPost struct {
	Dispatcher dispatch.Dispatcher
}

// AdaptiveCardType is the attachment content type Teams reads Adaptive Cards by.
const AdaptiveCardType = "application/vnd.microsoft.card.adaptive"

// adaptiveCardVersion is the schema version a card gets when it names none:
// the newest that Teams renders on every client, desktop and mobile.
const adaptiveCardVersion = "1.4"

// teamsEmbeddedStatus finds the status a classic webhook buries in a 200 body.
var teamsEmbeddedStatus = regexp.MustCompile(`(?i)returned HTTP error (\d{3})`)

// Name implements Action.
func (TeamsPost) Name() string { return "teams.post" }

// Retry implements Action.
func (TeamsPost) Retry() RetryKind { return RetryHTTP }

// Run implements Action.
func (a TeamsPost) Run(ctx context.Context, _ StepContext, params map[string]any) (map[string]any, error) {
	url, err := str(params, "webhook_url", true)
	if err != nil {
		return nil, err
	}
	card, err := teamsCard(params)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(teamsMessage(card))
	if err != nil {
		return nil, Final(fmt.Errorf("encode message: %w", err))
	}
	resp, err := post(ctx, a.Dispatcher, dispatch.Request{URL: url, Body: body})
	if err != nil {
		return nil, err
	}
	answer := strings.TrimSpace(resp.Excerpt)
	status := teamsStatus(resp.Status, answer)
	switch {
	case status >= 200 && status < 300:
		return map[string]any{"status": resp.Status, "response": answer}, nil
	case status == http.StatusTooManyRequests:
		return nil, RetryAfter(fmt.Errorf("teams: HTTP 429 rate limited: %s", excerpt(answer)), resp.RetryAfter)
	case status == 400 || status == 401 || status == 403 || status == 404 || status == 410 || status == 413:
		return nil, Final(fmt.Errorf("teams: HTTP %d %s", status, excerpt(answer)))
	default:
		return nil, fmt.Errorf("teams: HTTP %d %s", status, excerpt(answer))
	}
}

// teamsStatus is what an answer means: its status, unless a 2xx body says that
// Teams itself answered with an error.
func teamsStatus(status int, answer string) int {
	if status < 200 || status >= 300 {
		return status
	}
	if m := teamsEmbeddedStatus.FindStringSubmatch(answer); m != nil {
		if code, err := strconv.Atoi(m[1]); err == nil && code >= 300 {
			return code
		}
	}
	return status
}

// teamsCard is the Adaptive Card to send: params.card as given (type and version
// filled in when missing), or params.text as a card with one wrapping TextBlock.
func teamsCard(params map[string]any) (map[string]any, error) {
	text, err := str(params, "text", false)
	if err != nil {
		return nil, err
	}
	raw, hasCard := params["card"]
	if hasCard && raw == nil {
		hasCard = false
	}
	switch {
	case hasCard && text != "":
		return nil, Final(fmt.Errorf("params.text and params.card: give one, not both"))
	case !hasCard && text == "":
		return nil, Final(fmt.Errorf("params.text or params.card is required"))
	case !hasCard:
		return map[string]any{
			"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "version": adaptiveCardVersion,
			"body": []any{map[string]any{"type": "TextBlock", "text": text, "wrap": true}},
		}, nil
	}
	given, ok := raw.(map[string]any)
	if !ok {
		return nil, Final(fmt.Errorf("params.card must be an Adaptive Card object, not %T", raw))
	}
	if t, ok := given["type"]; ok && t != "AdaptiveCard" {
		return nil, Final(fmt.Errorf("params.card.type must be \"AdaptiveCard\", not %v", t))
	}
	card := make(map[string]any, len(given)+2)
	for k, v := range given {
		card[k] = v
	}
	card["type"] = "AdaptiveCard"
	if _, ok := card["version"]; !ok {
		card["version"] = adaptiveCardVersion
	}
	return card, nil
}

// teamsMessage wraps a card the way both kinds of webhook accept it:
//
//	{"type": "message", "attachments": [{"contentType":
//	 "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": <card>}]}
func teamsMessage(card map[string]any) map[string]any {
	return map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": AdaptiveCardType,
			"contentUrl":  nil,
			"content":     card,
		}},
	}
}

// maxErrorExcerpt is how much of an answer a step's error keeps: enough for an
// API's error message, small enough for a run's record.
const maxErrorExcerpt = 512

// excerpt shortens s to maxErrorExcerpt bytes on a rune boundary, marking the cut.
func excerpt(s string) string {
	if len(s) <= maxErrorExcerpt {
		return s
	}
	cut := maxErrorExcerpt
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
