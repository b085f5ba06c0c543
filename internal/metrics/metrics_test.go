package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNilIsSafe(t *testing.T) {
	var m *Metrics
	m.EventAccepted("api", "x")
	m.DeliveryAttempt("succeeded", 200, time.Millisecond)
	m.HTTPRequest("GET", "/x", 200, time.Millisecond)
	m.TemporalHandler().WithTags(map[string]string{"a": "b"}).Counter("c").Inc(1)
}

func TestSDKHandler(t *testing.T) {
	m := New()
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
