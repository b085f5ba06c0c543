package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/config"
	"github.com/hookflow/hookflow/models"
)

func withRateLimits(perKey, perSource float64) stackOption {
	return func(c *config.Config) { c.APIRateLimit, c.SourceRateLimit = perKey, perSource }
}

// TestRateLimits: an API key over its rate gets 429 with Retry-After and a JSON
// error, without touching other keys; a source over its rate likewise on /hooks.
func TestRateLimits(t *testing.T) {
	s := newStack(t, withRateLimits(2, 1))
	var other struct {
		Key string `json:"key"`
	}
	if code := s.do("POST", "/v1/api-keys", map[string]any{"name": "other"}, &other); code != http.StatusCreated || other.Key == "" {
		t.Fatalf("create key: %d", code)
	}
	src := s.createSource(`{"name":"open","verification":{"scheme":"none"},"event_type":{"value":"x.y"}}`)

	// Burst of 4 (twice the rate), less the two requests above.
	codes := []int{}
	for range 4 {
		codes = append(codes, s.do("GET", "/v1/endpoints", nil, nil))
	}
	if !slices.Contains(codes, http.StatusTooManyRequests) || codes[0] != http.StatusOK {
		t.Fatalf("statuses %v: want 200 first and then 429", codes)
	}
	req, _ := http.NewRequest("GET", s.api.URL+"/v1/endpoints", nil)
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e apiError
	decodeJSON(t, resp, &e)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || e.Error.Code != "rate_limited" {
		t.Errorf("over the limit: %d, Retry-After %q, %+v", resp.StatusCode, resp.Header.Get("Retry-After"), e)
	}
	if code := s.doKey(other.Key, "GET", "/v1/endpoints", nil, nil); code != http.StatusOK {
		t.Errorf("another key got %d: keys must not share a bucket", code)
	}
	time.Sleep(time.Second)
	if code := s.do("GET", "/v1/endpoints", nil, nil); code != http.StatusOK {
		t.Errorf("after waiting as told: %d", code)
	}

	var hookCodes []int
	for range 4 {
		code, _, _ := s.ring("POST", src.ID, "application/json", `{"n":1}`, nil)
		hookCodes = append(hookCodes, code)
	}
	if hookCodes[0] != http.StatusAccepted || hookCodes[3] != http.StatusTooManyRequests {
		t.Errorf("source statuses %v: want 202 first, 429 last", hookCodes)
	}
}

// TestEndpointRateLimitPaces: an endpoint with rate_limit_per_second 4 receives
// every delivery of a burst, never more than 4 in any second.
func TestEndpointRateLimitPaces(t *testing.T) {
	s := newStack(t)
	rcv := newReceiver(t, 200)
	var bad apiError
	if code := s.do("POST", "/v1/endpoints", map[string]any{"url": rcv.URL, "event_types": []string{"*"}, "rate_limit_per_second": -1}, &bad); code != http.StatusBadRequest || !strings.Contains(bad.Error.Message, "rate_limit_per_second") {
		t.Errorf("negative rate: %d %+v", code, bad)
	}
	var ep models.Endpoint
	if code := s.do("POST", "/v1/endpoints", map[string]any{"url": rcv.URL, "event_types": []string{"tick"}, "rate_limit_per_second": 4}, &ep); code != http.StatusCreated || ep.RateLimitPerSecond != 4 {
		t.Fatalf("create: %d %+v", code, ep)
	}
	const n, rate = 28, 4 // 7 s of slots: later ones go back to Temporal to wait
	var evs []string
	for i := range n {
		evs = append(evs, s.sendEvent(map[string]any{"type": "tick", "data": map[string]any{"i": i}}).ID)
	}
	for _, id := range evs {
		if d := s.waitDeliveries(id, 1, 60*time.Second)[0]; d.Status != models.DeliverySucceeded || d.AttemptCount != 1 {
			t.Errorf("delivery %+v: want succeeded at the first attempt (pacing is not a failed attempt)", d)
		}
	}
	got := rcv.requests()
	if len(got) != n {
		t.Fatalf("receiver got %d requests, want %d", len(got), n)
	}
	// Slots are 250 ms apart; allow 50 ms for scheduling on a busy machine.
	for i := rate; i < len(got); i++ {
		if gap := got[i].At.Sub(got[i-rate].At); gap < time.Second-50*time.Millisecond {
			t.Errorf("requests %d and %d came %v apart: more than %d in a second", i-rate, i, gap, rate)
		}
	}
}
