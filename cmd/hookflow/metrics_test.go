package main

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// scrape reads /metrics and returns the value of the series matching pattern
// (a regexp over the whole line before the value), or -1.
func (s *stack) scrape(pattern string) float64 {
	s.t.Helper()
	resp, err := http.Get(s.api.URL + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	m := regexp.MustCompile(`(?m)^` + pattern + ` ([0-9.e+-]+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// TestMetricsMove: /metrics shows the counters moving as an event is accepted and
// delivered, a failing endpoint's attempts counted by status class, and the
// Temporal SDK's own worker metrics.
func TestMetricsMove(t *testing.T) {
	s := newStack(t, withSchedule("0s,50ms"))
	ok := newReceiver(t, 200)
	bad := newReceiver(t, 503)
	s.createEndpoint(ok.URL, "metrics.test")
	s.createEndpoint(bad.URL, "metrics.test")
	if v := s.scrape(`hookflow_events_accepted_total\{source="api",type="metrics.test"\}`); v != -1 {
		t.Fatalf("events accepted before any event: %v", v)
	}
	for range 3 {
		ev := s.sendEvent(map[string]any{"type": "metrics.test", "data": map[string]any{}})
		s.waitDeliveries(ev.ID, 2, 20*time.Second)
	}
	checks := []struct {
		series string
		want   float64
	}{
		{`hookflow_events_accepted_total\{source="api",type="metrics.test"\}`, 3},
		{`hookflow_delivery_attempts_total\{outcome="succeeded",status_class="2xx"\}`, 3},
		{`hookflow_delivery_attempts_total\{outcome="retrying",status_class="5xx"\}`, 3},
		{`hookflow_delivery_attempts_total\{outcome="failed",status_class="5xx"\}`, 3},
		{`hookflow_event_to_delivery_seconds_count`, 3},
		{`hookflow_http_requests_total\{code="202",method="POST",route="/v1/events"\}`, 3},
	}
	for _, c := range checks {
		if got := s.scrape(c.series); got != c.want {
			t.Errorf("%s = %v, want %v", c.series, got, c.want)
		}
	}
	// The SDK's worker metrics, through its metrics handler.
	for _, series := range []string{
		`temporal_activity_execution_latency_seconds_count\{.*activity_type="Deliver".*\}`,
		`temporal_workflow_failed_total\{.*workflow_type="EventWorkflow".*\}`,
		`temporal_worker_task_slots_available\{.*worker_type="ActivityWorker".*\}`,
	} {
		if got := s.scrape(series); got <= 0 {
			t.Errorf("%s = %v, want > 0", series, got)
		}
	}
}
