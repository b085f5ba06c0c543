package delivery_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

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
// and are handed on to their own workflow, and fail for good. The batch completes
// after the first attempts, naming the delivery that failed for good; the one
// handed on succeeds in its DeliveryRetryWorkflow, same webhook-id.
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
	register(env, newActivities(t, st, []time.Duration{0, time.Second, time.Second}, env.Now))
	env.ExecuteWorkflow(workflows.BatchWorkflow, workflows.BatchWorkflowInput{WorkspaceID: "ws_1", BatchID: "bat_1", EventIDs: ids})
	if !env.IsWorkflowCompleted() {
		t.Fatal("batch did not complete")
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
		want := models.DeliverySucceeded
		if d.EndpointID == "ep_bad" {
			want = models.DeliveryFailed
		}
		if d.Status != want {
			t.Errorf("delivery to %s: %s, want %s", d.EndpointID, d.Status, want)
		}
	}
	if flakyID := "evt_order.paid_000"; seen[flakyID] != 2 {
		t.Errorf("flaky endpoint saw %s %d times, want 2 (first attempt, then its own workflow)", flakyID, seen[flakyID])
	}
}

// TestBatchWorkflowBoundsFirstAttempts: a batch with more deliveries than
// MaxBatchFirstAttempts makes that many first attempts itself and starts the rest
// as workflows of their own; every delivery arrives once.
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
	register(env, newActivities(t, st, []time.Duration{0, time.Second}, env.Now))
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
	if len(seen) != n {
		t.Errorf("%d distinct events arrived, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s arrived %d times", id, k)
		}
	}
}
