package main

import (
	"fmt"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/hookflow/hookflow/internal/config"
	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/internal/tracing"
	"github.com/hookflow/hookflow/workflows"
)

// TestTracingSpansRequestToActivities: with tracing on, one trace runs from the
// POST /v1/events request through the event's workflow (its batch's, or its own
// unbatched) to its Deliver activity.
func TestTracingSpansRequestToActivities(t *testing.T) {
	t.Run("batched", func(t *testing.T) { testTracing(t, workflows.BatchWorkflowName) })
	t.Run("unbatched", func(t *testing.T) { testTracing(t, workflows.EventWorkflowName, unbatched) })
}

func testTracing(t *testing.T, workflowType string, opts ...stackOption) {
	rec := tracetest.NewSpanRecorder()
	tracing.Install(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { tracing.Install(sdktrace.NewTracerProvider()) })
	s := newStack(t, append(opts, func(c *config.Config) { c.Tracing = true })...)
	rcv := testenv.NewReceiver(t, 200)
	s.createEndpoint(rcv.URL, "trace.test")
	ev := s.sendEvent(map[string]any{"type": "trace.test", "data": map[string]any{}})
	s.waitDeliveries(ev.ID, 1, 20*time.Second)

	var root sdktrace.ReadOnlySpan
	want := []string{"StartWorkflow:" + workflowType, "RunWorkflow:" + workflowType, "StartActivity:Deliver", "RunActivity:Deliver"}
	var spans []sdktrace.ReadOnlySpan
	var missing []string
	testenv.Eventually(t, 10*time.Second, func() bool {
		spans = rec.Ended()
		for _, sp := range spans {
			if sp.Name() == "HTTP POST" && sp.Parent().TraceID().IsValid() == false {
				for _, a := range sp.Attributes() {
					if a.Value.AsString() == "/v1/events" {
						root = sp
					}
				}
			}
		}
		missing = []string{}
		if root != nil {
			for _, name := range want {
				found := false
				for _, sp := range spans {
					found = found || (sp.Name() == name && sp.SpanContext().TraceID() == root.SpanContext().TraceID())
				}
				if !found {
					missing = append(missing, name)
				}
			}
		}
		return root != nil && len(missing) == 0
	}, func() string {
		var names []string
		for _, sp := range spans {
			names = append(names, sp.Name()+"@"+sp.SpanContext().TraceID().String()[:8])
		}
		return fmt.Sprintf("root span found: %v; missing in its trace: %v; all spans: %v", root != nil, missing, names)
	})
}
