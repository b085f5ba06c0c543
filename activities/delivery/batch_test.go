package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/hookflow/hookflow/activities/delivery"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// handOffs records the deliveries batches hand on, as the starter of their
// workflows would receive them.
type handOffs struct {
	mu  sync.Mutex
	got []workflows.StartDeliveryInput
}

func (h *handOffs) StartDelivery(_ context.Context, in workflows.StartDeliveryInput) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, in)
	return nil
}

func (h *handOffs) use(c *delivery.Config) { c.Deliveries = h }

// batchOf puts n events of type typ into st as batch batchID and returns their ids.
func batchOf(st *memStore, batchID, typ string, n int) []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	ids := make([]string, n)
	for i := range ids {
		ev := testEvent()
		ev.ID, ev.Type, ev.BatchID = fmt.Sprintf("evt_%s_%03d", typ, i), typ, batchID
		ev.DedupKey = "evt:" + ev.ID
		st.events[ev.ID] = &ev
		ids[i] = ev.ID
	}
	return ids
}

// TestBatchWorkflowOutcomes: one batch whose deliveries succeed at once, fail once
// and are handed on to their own workflow (due when the attempt said, tagged
// with its endpoint), and fail for good. The batch completes after the first
// attempts, naming the delivery that failed for good.
func TestBatchWorkflowOutcomes(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		id := r.Header.Get("webhook-id")
		seen[id]++
		switch {
		case r.URL.Path == "/bad":
			w.WriteHeader(http.StatusBadRequest)
		case r.URL.Path == "/flaky" && seen[id] == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer rcv.Close()
	ok, flaky, bad := testEndpoint(rcv.URL+"/ok"), testEndpoint(rcv.URL+"/flaky"), testEndpoint(rcv.URL+"/bad")
	ok.ID, ok.EventTypes = "ep_ok", []string{"order.placed"}
	flaky.ID, flaky.EventTypes = "ep_flaky", []string{"order.paid"}
	bad.ID, bad.EventTypes = "ep_bad", []string{"order.bad"}
	st := newMemStore(ok, flaky, bad)
	ids := append(append(batchOf(st, "bat_1", "order.placed", 3), batchOf(st, "bat_1", "order.paid", 1)...), batchOf(st, "bat_1", "order.bad", 1)...)
	ids = append(ids, "evt_of_another_batch")

	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	var h handOffs
	register(env, newActivities(t, st, []time.Duration{0, time.Second, time.Second}, env.Now, h.use))
	start := env.Now()
	env.ExecuteWorkflow(workflows.BatchWorkflow, workflows.BatchWorkflowInput{WorkspaceID: "ws_1", BatchID: "bat_1", EventIDs: ids})
	if !env.IsWorkflowCompleted() {
		t.Fatal("batch did not complete")
	}
	if len(h.got) != 1 || h.got[0].EndpointID != "ep_flaky" || h.got[0].EventType != "order.paid" || h.got[0].WorkspaceID != "ws_1" ||
		h.got[0].NotBefore.Before(start.Add(time.Second)) {
		t.Errorf("handed on %+v: want the flaky delivery, tagged, due a second after its first attempt", h.got)
	}
	var app *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &app) || app.Type() != workflows.ErrTypeDeliveriesFailed {
		t.Fatalf("batch ended with %v, want DeliveriesFailed naming the 400", err)
	}
	var res workflows.BatchWorkflowResult
	if err := app.Details(&res); err != nil {
		t.Fatal(err)
	}
	if res.Events != 5 || res.Delivered != 3 || len(res.Retrying) != 1 || len(res.Failed) != 1 || res.Failed[0].EndpointID != "ep_bad" {
		t.Errorf("result %+v: want 5 events, 3 delivered, 1 handed on, ep_bad failed", res)
	}
	for _, d := range st.deliveries {
		want := map[string]models.DeliveryStatus{"ep_ok": models.DeliverySucceeded, "ep_flaky": models.DeliveryPending, "ep_bad": models.DeliveryFailed}[d.EndpointID]
		if d.Status != want {
			t.Errorf("delivery to %s: %s, want %s", d.EndpointID, d.Status, want)
		}
	}
	if flakyID := "evt_order.paid_000"; seen[flakyID] != 1 {
		t.Errorf("flaky endpoint saw %s %d times, want 1 (the first attempt; the rest is its own workflow's)", flakyID, seen[flakyID])
	}
}

// TestBatchWorkflowBoundsFirstAttempts: a batch with more deliveries than
// MaxBatchFirstAttempts makes that many first attempts itself and hands the rest
// on at once to workflows of their own.
func TestBatchWorkflowBoundsFirstAttempts(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	defer rcv.Close()
	st := newMemStore(testEndpoint(rcv.URL))
	n := workflows.MaxBatchFirstAttempts + 20
	ids := batchOf(st, "bat_1", "order.placed", n)
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	var h handOffs
	register(env, newActivities(t, st, []time.Duration{0, time.Second}, env.Now, h.use))
	env.ExecuteWorkflow(workflows.BatchWorkflow, workflows.BatchWorkflowInput{WorkspaceID: "ws_1", BatchID: "bat_1", EventIDs: ids})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("batch: completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	var res workflows.BatchWorkflowResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Delivered != workflows.MaxBatchFirstAttempts || len(res.Retrying) != 20 {
		t.Errorf("delivered %d in the batch, %d handed on; want %d and 20", res.Delivered, len(res.Retrying), workflows.MaxBatchFirstAttempts)
	}
	if len(seen) != workflows.MaxBatchFirstAttempts || len(h.got) != 20 {
		t.Errorf("%d events attempted in the batch, %d handed on; want %d and 20", len(seen), len(h.got), workflows.MaxBatchFirstAttempts)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s arrived %d times", id, k)
		}
	}
	for _, in := range h.got {
		if d := st.deliveries[in.DeliveryID]; !in.NotBefore.IsZero() || d == nil || seen[d.EventID] > 0 {
			t.Errorf("handed on %+v: want a delivery the batch did not attempt, due at once", in)
		}
	}
}
