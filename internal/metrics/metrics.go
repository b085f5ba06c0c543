// Package metrics is hookflow's Prometheus instrumentation: the platform's own
// counters and histograms, and an adapter that exposes the Temporal SDK's worker and
// client metrics (task latencies, slots, poll results) in the same registry.
//
// Every method is safe on a nil *Metrics, so packages record unconditionally and
// tests that do not care pass nil.
package metrics

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options choose what /metrics may reveal. The zero value reveals no tenant: no
// source or workspace ids, and no strings chosen by senders (event types), as label
// values, because /metrics is often scraped without authentication and every
// distinct label value is a series kept for ever.
type Options struct {
	// TenantLabels labels accepted events by source and event type too
	// (HOOKFLOW_METRICS_TENANT_LABELS), for a single-tenant install that wants them.
	TenantLabels bool
	// LabelLimit bounds the distinct values of each tenant label; past it, new values
	// are counted as "other" (HOOKFLOW_METRICS_LABEL_LIMIT; DefaultLabelLimit when 0).
	LabelLimit int
	// Token, when set, is the bearer token Handler requires (HOOKFLOW_METRICS_TOKEN).
	Token string
}

// DefaultLabelLimit is Options.LabelLimit when unset: enough for a shop's sources and
// event types, few enough that a sender inventing types cannot swell the registry.
const DefaultLabelLimit = 100

// Other is the label value counted once a tenant label has LabelLimit values.
const Other = "other"

// Metrics holds the registry and hookflow's own series.
type Metrics struct {
	reg  *prometheus.Registry
	opts Options

	// sources and types bound the tenant labels (nil unless Options.TenantLabels).
	sources, types *capped

	eventsAccepted    *prometheus.CounterVec
	deliveryAttempts  *prometheus.CounterVec
	deliveryDuration  *prometheus.HistogramVec
	eventToDelivery   prometheus.Histogram
	automationRuns    *prometheus.CounterVec
	endpointsDisabled *prometheus.CounterVec
	httpRequests      *prometheus.CounterVec
	httpDuration      *prometheus.HistogramVec
	batchEvents       *prometheus.HistogramVec
	batchesSwept      prometheus.Counter
	waitsTaken        *prometheus.CounterVec
	flowEvents        *prometheus.CounterVec
}

// latencyBuckets span a fast loopback receiver (ms) to the HTTP timeout (15 s).
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15}

// New makes a registry with hookflow's series and the Go runtime and process
// collectors.
func New(opts Options) *Metrics {
	if opts.LabelLimit <= 0 {
		opts.LabelLimit = DefaultLabelLimit
	}
	reg := prometheus.NewRegistry()
	accepted := prometheus.CounterOpts{
		Name: "hookflow_events_accepted_total",
		Help: "Events accepted (202), by ingress (api: POST /v1/events; hooks: /hooks/{source_id}); duplicates are not counted.",
	}
	acceptedLabels := []string{"ingress"}
	if opts.TenantLabels {
		accepted.Help = "Events accepted (202), by ingress (api, hooks), source (api or the src_ id) and event type, each source and type label " +
			"bounded to HOOKFLOW_METRICS_LABEL_LIMIT values (then other); duplicates are not counted."
		acceptedLabels = append(acceptedLabels, "source", "type")
	}
	m := &Metrics{
		reg:            reg,
		opts:           opts,
		eventsAccepted: prometheus.NewCounterVec(accepted, acceptedLabels),
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
			Help: "Automation runs that finished, by outcome (succeeded, failed, skipped: a rate limit, cancelled: cancel_on or a cancel request).",
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
		batchEvents: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookflow_batch_events",
			Help:    "Events per batch recorded by micro-batching at ingest, by outcome (started; abandoned: the start failed and the batch was undone; failed: not recorded).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}, []string{"outcome"}),
		batchesSwept: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookflow_batches_swept_total",
			Help: "Batches a worker's sweep started because the API server that recorded them died before starting them.",
		}),
		waitsTaken: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookflow_waits_taken_total",
			Help: "Waits an incoming event matched, by kind (event: a wait_for_event step resumed; cancel: a run cancelled by cancel_on).",
		}, []string{"kind"}),
		flowEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookflow_flow_events_total",
			Help: "Events handed to an automation's per-key flow-control workflow, by kind (count, debounce, concurrency, throttle).",
		}, []string{"kind"}),
	}
	reg.MustRegister(m.eventsAccepted, m.deliveryAttempts, m.deliveryDuration, m.eventToDelivery,
		m.automationRuns, m.endpointsDisabled, m.httpRequests, m.httpDuration, m.batchEvents, m.batchesSwept,
		m.waitsTaken, m.flowEvents, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if opts.TenantLabels {
		m.sources, m.types = newCapped(opts.LabelLimit), newCapped(opts.LabelLimit)
	}
	return m
}

// Registry is where the series live (tests read it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus's text format, behind the bearer token
// when Options.Token is set.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
	if m.opts.Token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !m.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthorized","message":"/metrics needs Authorization: Bearer <HOOKFLOW_METRICS_TOKEN>; give Prometheus the token (authorization.credentials in its scrape config)"}}`))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// authorized reports whether r carries the metrics token. The comparison is
// constant-time so the token cannot be guessed byte by byte.
func (m *Metrics) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(m.opts.Token)) == 1
}

// Ingress kinds of EventAccepted.
const (
	IngressAPI   = "api"
	IngressHooks = "hooks"
)

// EventAccepted counts an accepted event by ingress; source (IngressAPI for the
// API) and eventType become labels only with Options.TenantLabels, and then bounded.
func (m *Metrics) EventAccepted(ingress, source, eventType string) {
	if m == nil {
		return
	}
	if !m.opts.TenantLabels {
		m.eventsAccepted.WithLabelValues(ingress).Inc()
		return
	}
	if ingress != IngressAPI { // "api" is the one source label hookflow, not a tenant, picks
		source = m.sources.value(source)
	}
	m.eventsAccepted.WithLabelValues(ingress, source, m.types.value(eventType)).Inc()
}

// capped admits the first limit distinct values of a label and maps the rest to
// Other, so the series a label can make are bounded whoever picks the values.
type capped struct {
	mu    sync.Mutex
	limit int
	seen  map[string]struct{}
}

func newCapped(limit int) *capped { return &capped{limit: limit, seen: map[string]struct{}{}} }

func (c *capped) value(v string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[v]; ok {
		return v
	}
	if len(c.seen) >= c.limit {
		return Other
	}
	c.seen[v] = struct{}{}
	return v
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

// Batch records one batch of n events and how its recording and start ended.
func (m *Metrics) Batch(outcome string, n int) {
	if m == nil {
		return
	}
	m.batchEvents.WithLabelValues(outcome).Observe(float64(n))
}

// BatchesSwept counts batches the sweep started.
func (m *Metrics) BatchesSwept(n int) {
	if m == nil || n == 0 {
		return
	}
	m.batchesSwept.Add(float64(n))
}

// WaitTaken counts a wait an event matched (kind: event or cancel).
func (m *Metrics) WaitTaken(kind string) {
	if m == nil {
		return
	}
	m.waitsTaken.WithLabelValues(kind).Inc()
}

// FlowEvent counts an event handed to a flow-control entity of kind.
func (m *Metrics) FlowEvent(kind string) {
	if m == nil {
		return
	}
	m.flowEvents.WithLabelValues(kind).Inc()
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
