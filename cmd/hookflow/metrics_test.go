package main

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookflow/hookflow/internal/config"
	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
)

// metricsPage reads /metrics, with a bearer token unless it is empty.
func (s *stack) metricsPage(token string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.api.URL+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// scrape reads /metrics and returns the value of the series matching pattern
// (a regexp over the whole line before the value), or -1.
func (s *stack) scrape(pattern string) float64 {
	s.t.Helper()
	code, body := s.metricsPage(s.cfg.MetricsToken)
	if code != http.StatusOK {
		s.t.Fatalf("/metrics: %d", code)
	}
	m := regexp.MustCompile(`(?m)^` + pattern + ` ([0-9.e+-]+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestMetricsMove: /metrics shows the counters moving as an event is accepted and
// delivered, a failing endpoint's attempts counted by status class, and the
// Temporal SDK's own worker metrics.
func TestMetricsMove(t *testing.T) {
	s := newStack(t, withSchedule("0s,50ms"))
	ok := testenv.NewReceiver(t, 200)
	bad := testenv.NewReceiver(t, 503)
	s.createEndpoint(ok.URL, "metrics.test")
	s.createEndpoint(bad.URL, "metrics.test")
	if v := s.scrape(`hookflow_events_accepted_total\{ingress="api"\}`); v != -1 {
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
		{`hookflow_events_accepted_total\{ingress="api"\}`, 3},
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
		`temporal_workflow_failed_total\{.*workflow_type="DeliveryRetryWorkflow".*\}`,
		`temporal_worker_task_slots_available\{.*worker_type="ActivityWorker".*\}`,
	} {
		if got := s.scrape(series); got <= 0 {
			t.Errorf("%s = %v, want > 0", series, got)
		}
	}
}

// TestMetricsTenantLabels: /metrics, which Prometheus scrapes unauthenticated, names
// no tenant by default: an event from a source is counted under ingress="hooks"
// without the source id or the sender's event type anywhere on the page. With
// HOOKFLOW_METRICS_TENANT_LABELS the source and type are labels, bounded: past the
// limit new values read "other". HOOKFLOW_METRICS_TOKEN puts /metrics behind a
// bearer token.
func TestMetricsTenantLabels(t *testing.T) {
	ring := func(s *stack, types ...string) string {
		src := s.createSource(`{"name":"shop","verification":{"scheme":"none"},"event_type":{"path":"type"}}`)
		for _, typ := range types {
			if code, e, _ := s.ring("POST", src.ID, "application/json", `{"type":"`+typ+`"}`, nil); code != http.StatusAccepted {
				t.Fatalf("ring %s: %d %+v", typ, code, e)
			}
		}
		return src.ID
	}
	t.Run("default", func(t *testing.T) {
		s := newStack(t)
		id := ring(s, "acme.secret_refund")
		if got := s.scrape(`hookflow_events_accepted_total\{ingress="hooks"\}`); got != 1 {
			t.Errorf(`events accepted {ingress="hooks"} = %v, want 1`, got)
		}
		_, page := s.metricsPage("")
		for _, leak := range []string{id, "acme.secret_refund", models.DefaultWorkspaceID} {
			if strings.Contains(page, leak) {
				t.Errorf("/metrics shows %q", leak)
			}
		}
	})
	t.Run("tenant labels, capped, with a token", func(t *testing.T) {
		s := newStack(t, func(c *config.Config) {
			c.MetricsTenantLabels, c.MetricsLabelLimit, c.MetricsToken = true, 2, "metrics-token"
		})
		id := ring(s, "shop.one", "shop.two", "shop.three", "shop.one")
		checks := []struct {
			series string
			want   float64
		}{
			{`hookflow_events_accepted_total\{ingress="hooks",source="` + id + `",type="shop.one"\}`, 2},
			{`hookflow_events_accepted_total\{ingress="hooks",source="` + id + `",type="shop.two"\}`, 1},
			{`hookflow_events_accepted_total\{ingress="hooks",source="` + id + `",type="other"\}`, 1},
		}
		for _, c := range checks {
			if got := s.scrape(c.series); got != c.want {
				t.Errorf("%s = %v, want %v", c.series, got, c.want)
			}
		}
		if _, page := s.metricsPage(s.cfg.MetricsToken); strings.Contains(page, "shop.three") {
			t.Error("a type past the limit has its own series")
		}
		for _, tok := range []string{"", "wrong"} {
			if code, body := s.metricsPage(tok); code != http.StatusUnauthorized || strings.Contains(body, id) {
				t.Errorf("/metrics with token %q: %d, want 401 and no series", tok, code)
			}
		}
	})
}
