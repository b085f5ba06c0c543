package metrics

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// TemporalHandler returns a client.MetricsHandler that puts the Temporal SDK's
// metrics (worker task latencies, slots, poll results, request failures) into m's
// registry: counters as <name>_total, timers as <name>_seconds histograms, gauges as
// they are. A nil m gives the SDK's no-op handler.
func (m *Metrics) TemporalHandler() client.MetricsHandler {
	if m == nil {
		return client.MetricsNopHandler
	}
	return &sdkHandler{set: &sdkSet{reg: m.reg, vecs: map[string]*sdkVec{}}}
}

// sdkSet registers one vector per metric name, with the label keys of its first use.
type sdkSet struct {
	reg  *prometheus.Registry
	mu   sync.Mutex
	vecs map[string]*sdkVec
}

type sdkVec struct {
	keys      []string
	counter   *prometheus.CounterVec
	gauge     *prometheus.GaugeVec
	histogram *prometheus.HistogramVec
	broken    bool // registration failed (a name clash); recording is skipped
}

type sdkHandler struct {
	set  *sdkSet
	tags map[string]string
}

func (h *sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &sdkHandler{set: h.set, tags: merged}
}

func (h *sdkHandler) Counter(name string) client.MetricsCounter {
	v := h.set.vec(sanitize(name)+"_total", "counter", h.tags)
	labels := v.labels(h.tags)
	return counterFunc(func(n int64) {
		if !v.broken {
			v.counter.WithLabelValues(labels...).Add(float64(n))
		}
	})
}

func (h *sdkHandler) Gauge(name string) client.MetricsGauge {
	v := h.set.vec(sanitize(name), "gauge", h.tags)
	labels := v.labels(h.tags)
	return gaugeFunc(func(f float64) {
		if !v.broken {
			v.gauge.WithLabelValues(labels...).Set(f)
		}
	})
}

func (h *sdkHandler) Timer(name string) client.MetricsTimer {
	v := h.set.vec(sanitize(name)+"_seconds", "histogram", h.tags)
	labels := v.labels(h.tags)
	return timerFunc(func(d time.Duration) {
		if !v.broken {
			v.histogram.WithLabelValues(labels...).Observe(d.Seconds())
		}
	})
}

func (s *sdkSet) vec(name, kind string, tags map[string]string) *sdkVec {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vecs[name]; ok {
		return v
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, sanitize(k))
	}
	slices.Sort(keys)
	v := &sdkVec{keys: keys}
	help := "Temporal SDK metric " + name + "."
	var c prometheus.Collector
	switch kind {
	case "counter":
		v.counter = prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, keys)
		c = v.counter
	case "gauge":
		v.gauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, keys)
		c = v.gauge
	default:
		v.histogram = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help,
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, keys)
		c = v.histogram
	}
	if err := s.reg.Register(c); err != nil {
		v.broken = true
	}
	s.vecs[name] = v
	return v
}

// labels orders tags by the vector's keys: a key the vector lacks is dropped, one
// the tags lack is empty. Prometheus needs one label set per name; the SDK keeps
// its tags stable per metric, so this rarely drops anything.
func (v *sdkVec) labels(tags map[string]string) []string {
	out := make([]string, len(v.keys))
	for k, val := range tags {
		for i, key := range v.keys {
			if key == sanitize(k) {
				out[i] = val
			}
		}
	}
	return out
}

// sanitize makes a Prometheus name: letters, digits and underscores.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		}
		return '_'
	}, s)
}

type counterFunc func(int64)

func (f counterFunc) Inc(n int64) { f(n) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
