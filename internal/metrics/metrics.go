// Package metrics is hookflow's Prometheus instrumentation: the platform's own
// counters and histograms, and an adapter that exposes the Temporal SDK's worker and
// client metrics (task latencies, slots, poll results) in the same registry.
//
// Every method is safe on a nil *Metrics, so packages record unconditionally and
// tests that do not care pass nil.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the registry and hookflow's own series.
type Metrics struct {
	reg *prometheus.Registry

	eventsAccepted    *prometheus.CounterVec
	deliveryAttempts  *prometheus.CounterVec
	deliveryDuration  *prometheus.HistogramVec
	eventToDelivery   prometheus.Histogram
	automationRuns    *prometheus.CounterVec
	endpointsDisabled *prometheus.CounterVec
	httpRequests      *prometheus.CounterVec
	httpDuration      *prometheus.HistogramVec
}

// latencyBuckets span a fast loopback receiver (ms) to the HTTP timeout (15 s).
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15}

// New makes a registry with hookflow's series and the Go runtime and process
// collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		eventsAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookflow_events_accepted_total",
			Help: "Events accepted (202), by source (api or the src_ id) and event type; duplicates are not counted.",
		}, []string{"source", "type"}),
		deliveryAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookflow_delivery_attempts_total",
			Help: "Delivery attempts by outcome (succeeded, retrying, failed, blocked) and HTTP status class (2xx..5xx, or none when no answer came).",
		}, []string{"outcome", "status_class"}),
		deliveryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookflow_delivery_attempt_duration_seconds",
			Help:    "Duration of one delivery attempt, from dial to the last byte read, by outcome.",
			Buckets: latencyBuckets,
		}, []string{"outcome"}),
		eventToDelivery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookflow_event_to_delivery_seconds",
			Help:    "Time from an event's acceptance to its successful delivery at an endpoint (retries included).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000},
		}),
		automationRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookflow_automation_runs_total",
			Help: "Automation runs that finished, by outcome (succeeded, failed, skipped).",
		}, []string{"outcome"}),
		endpointsDisabled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookflow_endpoints_disabled_total",
			Help: "Endpoints disabled automatically, by reason (gone: a 410 answer; failing: failing continuously for HOOKFLOW_DISABLE_AFTER).",
		}, []string{"reason"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookflow_http_requests_total",
			Help: "API requests by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookflow_http_request_duration_seconds",
			Help:    "API request duration by method and route pattern.",
			Buckets: latencyBuckets,
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.eventsAccepted, m.deliveryAttempts, m.deliveryDuration, m.eventToDelivery,
		m.automationRuns, m.endpointsDisabled, m.httpRequests, m.httpDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the series live (tests read it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// EventAccepted counts an accepted event.
func (m *Metrics) EventAccepted(source, eventType string) {
	if m == nil {
		return
	}
	m.eventsAccepted.WithLabelValues(source, eventType).Inc()
}

// DeliveryAttempt records one attempt.
func (m *Metrics) DeliveryAttempt(outcome string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.deliveryAttempts.WithLabelValues(outcome, StatusClass(status)).Inc()
	m.deliveryDuration.WithLabelValues(outcome).Observe(d.Seconds())
}

// Delivered records the time from an event's acceptance to its delivery.
func (m *Metrics) Delivered(since time.Duration) {
	if m == nil {
		return
	}
	m.eventToDelivery.Observe(since.Seconds())
}

// RunFinished counts a finished automation run.
func (m *Metrics) RunFinished(outcome string) {
	if m == nil {
		return
	}
	m.automationRuns.WithLabelValues(outcome).Inc()
}

// EndpointDisabled counts an automatic disable.
func (m *Metrics) EndpointDisabled(reason string) {
	if m == nil {
		return
	}
	m.endpointsDisabled.WithLabelValues(reason).Inc()
}

// HTTPRequest records one API request; route is the pattern ("/v1/events/:id"),
// never the raw path, to keep the series few.
func (m *Metrics) HTTPRequest(method, route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.httpRequests.WithLabelValues(method, route, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(method, route).Observe(d.Seconds())
}

// StatusClass is "2xx".."5xx", or "none" when there was no answer.
func StatusClass(status int) string {
	if status < 100 || status > 599 {
		return "none"
	}
	return strconv.Itoa(status/100) + "xx"
}
