package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNilIsSafe(t *testing.T) {
	var m *Metrics
	m.EventAccepted(IngressAPI, "api", "x")
	m.DeliveryAttempt("succeeded", 200, time.Millisecond)
	m.HTTPRequest("GET", "/x", 200, time.Millisecond)
	m.TemporalHandler().WithTags(map[string]string{"a": "b"}).Counter("c").Inc(1)
}

func TestSDKHandler(t *testing.T) {
	m := New(Options{})
	h := m.TemporalHandler().WithTags(map[string]string{"namespace": "default", "task-queue": "q"})
	h.Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"extra": "dropped"}).Counter("temporal_request").Inc(1)
	h.Timer("temporal_activity_execution_latency").Record(20 * time.Millisecond)
	h.Gauge("temporal_worker_task_slots_available").Update(7)
	n, err := testutil.GatherAndCount(m.reg, "temporal_request_total", "temporal_activity_execution_latency_seconds", "temporal_worker_task_slots_available")
	if err != nil || n != 3 {
		t.Fatalf("gathered %d series (%v), want 3", n, err)
	}
}

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{0: "none", 200: "2xx", 302: "3xx", 410: "4xx", 503: "5xx", 999: "none"} {
		if got := StatusClass(status); got != want {
			t.Errorf("StatusClass(%d) = %q, want %q", status, got, want)
		}
	}
}

// scrape serves m's /metrics once with the given Authorization header.
func scrape(t *testing.T, m *Metrics, auth string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("GET", "/metrics", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

// TestEventLabels: by default the accepted-events counter names no source and no
// event type, only the ingress; with tenant labels it does, for the first
// LabelLimit values of each label, and later values read "other".
func TestEventLabels(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		want    []string
		notWant []string
	}{
		{"default", Options{}, []string{`hookflow_events_accepted_total{ingress="hooks"} 4`, `hookflow_events_accepted_total{ingress="api"} 1`},
			[]string{"src_a", "src_b", "src_c", "order.refunded", "order.paid", "shop.x", "other"}},
		{"tenant labels, limit 2", Options{TenantLabels: true, LabelLimit: 2}, []string{
			`hookflow_events_accepted_total{ingress="hooks",source="src_a",type="order.paid"} 2`,
			`hookflow_events_accepted_total{ingress="hooks",source="src_b",type="order.refunded"} 1`,
			`hookflow_events_accepted_total{ingress="hooks",source="other",type="other"} 1`,
			`hookflow_events_accepted_total{ingress="api",source="api",type="order.paid"} 1`,
		}, []string{"src_c", "shop.x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(tt.opts)
			m.EventAccepted(IngressHooks, "src_a", "order.paid")
			m.EventAccepted(IngressHooks, "src_b", "order.refunded")
			m.EventAccepted(IngressHooks, "src_a", "order.paid")
			m.EventAccepted(IngressHooks, "src_c", "shop.x") // past the limit of 2
			m.EventAccepted(IngressAPI, IngressAPI, "order.paid")
			code, body := scrape(t, m, "")
			if code != http.StatusOK {
				t.Fatalf("/metrics: %d", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("/metrics lacks %s", w)
				}
			}
			for _, line := range strings.Split(body, "\n") {
				if !strings.HasPrefix(line, "hookflow_events_accepted_total") {
					continue
				}
				for _, nw := range tt.notWant {
					if strings.Contains(line, nw) {
						t.Errorf("/metrics shows %q: %s", nw, line)
					}
				}
			}
		})
	}
}

// TestMetricsToken: with a token, /metrics answers 401 in the API's error shape
// without it or with a wrong one, and serves the series with it.
func TestMetricsToken(t *testing.T) {
	m := New(Options{Token: "s3cret"})
	tests := []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Basic s3cret", 401}, {"Bearer s3cret", 200}}
	for _, tt := range tests {
		code, body := scrape(t, m, tt.auth)
		if code != tt.want {
			t.Errorf("Authorization %q: %d, want %d", tt.auth, code, tt.want)
		}
		if code == 401 && !strings.Contains(body, `"code":"unauthorized"`) {
			t.Errorf("401 body %s", body)
		}
		if code == 200 && !strings.Contains(body, "go_goroutines") {
			t.Errorf("authorized scrape lacks the series")
		}
	}
	if code, _ := scrape(t, New(Options{}), ""); code != 200 {
		t.Errorf("no token configured: %d, want 200", code)
	}
}
