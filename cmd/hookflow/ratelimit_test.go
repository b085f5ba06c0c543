package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/apikeys"
	"github.com/hookflow/hookflow/internal/config"
	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
)

func withRateLimits(perWorkspace, perSource float64) stackOption {
	return func(c *config.Config) { c.APIRateLimit, c.SourceRateLimit = perWorkspace, perSource }
}

// TestRateLimits: the /v1 limit counts per workspace: once one key has spent the
// workspace's burst, the workspace's three other keys get 429 too (Retry-After, a
// JSON error naming the workspace), while a key of another workspace goes through.
// A source over its rate gets 429 on /hooks likewise.
func TestRateLimits(t *testing.T) {
	s := newStack(t, withRateLimits(1, 1))
	// Made in the store and by the operator: neither spends the workspace's tokens.
	keys := []string{s.key}
	for i := range 3 {
		key, err := apikeys.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.store.CreateAPIKey(context.Background(), apikeys.Record(models.DefaultWorkspaceID, fmt.Sprint("k", i), key, time.Now())); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	_, otherKey := s.newWorkspace("other")
	src := s.createSource(`{"name":"open","verification":{"scheme":"none"},"event_type":{"value":"x.y"}}`)
	time.Sleep(2 * time.Second) // the bucket refills after createSource: burst of 2

	var codes []int
	for range 3 {
		codes = append(codes, s.doKey(keys[0], "GET", "/v1/endpoints", nil, nil))
	}
	if codes[0] != http.StatusOK || codes[2] != http.StatusTooManyRequests {
		t.Fatalf("first key: statuses %v, want 200 first and 429 last (burst 2)", codes)
	}
	for i, key := range keys[1:] {
		req, _ := http.NewRequest("GET", s.api.URL+"/v1/endpoints", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e apiError
		decodeJSON(t, resp, &e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || e.Error.Code != "rate_limited" ||
			!strings.Contains(e.Error.Message, "this workspace") {
			t.Errorf("key %d of the same workspace, never used: %d, Retry-After %q, %+v; want 429 for this workspace",
				i+2, resp.StatusCode, resp.Header.Get("Retry-After"), e)
		}
	}
	if code := s.doKey(otherKey, "GET", "/v1/endpoints", nil, nil); code != http.StatusOK {
		t.Errorf("a key of another workspace got %d: workspaces must not share a bucket", code)
	}
	time.Sleep(time.Second)
	if code := s.doKey(keys[3], "GET", "/v1/endpoints", nil, nil); code != http.StatusOK {
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
	rcv := testenv.NewReceiver(t, 200)
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
	got := rcv.Requests()
	if len(got) != n {
		t.Fatalf("receiver got %d requests, want %d", len(got), n)
	}
	// Slots are 250 ms apart. What the receiver sees also carries each request's
	// scheduling delay after its slot (on a loaded machine under -race, 100 ms and
	// more), which can bring a request nearer to the next: so any 4 in a row span at
	// least 3 slots less one slot of slack, and the burst as a whole keeps the rate.
	slot := time.Second / rate
	for i := rate; i < len(got); i++ {
		if gap := got[i].At.Sub(got[i-rate].At); gap < time.Second-slot {
			t.Errorf("requests %d and %d came %v apart: more than %d in %v", i-rate, i, gap, rate, time.Second-slot)
		}
	}
	if span, want := got[n-1].At.Sub(got[0].At), time.Duration(n-1)*slot-slot; span < want {
		t.Errorf("%d requests came within %v, want at least %v at %d a second", n, span, want, rate)
	}
}
