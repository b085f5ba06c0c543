package fulfilment

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hookflow/hookflow/sdk/hookflow"
)

func input(warehouse string) hookflow.Input {
	params, _ := json.Marshal(Params{WarehouseURL: warehouse})
	return hookflow.Input{
		Event:  hookflow.Event{ID: "evt_1", WorkspaceID: "ws_default", Type: "order.created", Data: json.RawMessage(`{"order_id":"o-1"}`)},
		Run:    hookflow.Run{ID: "run_1", AutomationID: "auto_1", StepID: "fulfil"},
		Params: params, HookflowTaskQueue: "hookflow",
	}
}

// TestFulfilOrder: the workflow reserves the order at the warehouse, emits
// order.shipped into hookflow with the shipment and returns it.
func TestFulfilOrder(t *testing.T) {
	warehouse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Idempotency-Key") != "reserve-o-1" {
			http.Error(w, "no idempotency key", 400)
			return
		}
		_, _ = w.Write([]byte(`{"shipment_id":"shp_9"}`))
	}))
	defer warehouse.Close()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(FulfilOrder, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterActivityWithOptions(Reserve, activity.RegisterOptions{Name: ReserveActivity})
	var emitted hookflow.EmitEventInput
	env.RegisterActivityWithOptions(func(_ context.Context, in hookflow.EmitEventInput) (hookflow.EmitEventResult, error) {
		emitted = in
		return hookflow.EmitEventResult{EventID: "evt_shipped"}, nil
	}, activity.RegisterOptions{Name: hookflow.EmitEventActivity})
	env.ExecuteWorkflow(WorkflowName, input(warehouse.URL))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var got Shipment
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if got != (Shipment{OrderID: "o-1", ShipmentID: "shp_9", EventID: "evt_shipped"}) {
		t.Errorf("result %+v", got)
	}
	if emitted.Type != "order.shipped" || emitted.ParentID != "evt_1" || emitted.WorkspaceID != "ws_default" ||
		emitted.Data["shipment_id"] != "shp_9" || emitted.Key == "" {
		t.Errorf("emitted %+v", emitted)
	}
}

// TestFulfilOrderWithoutOrderID fails for good: retrying cannot find one.
func TestFulfilOrderWithoutOrderID(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(FulfilOrder, workflow.RegisterOptions{Name: WorkflowName})
	in := input("http://127.0.0.1:1")
	in.Event.Data = json.RawMessage(`{}`)
	env.ExecuteWorkflow(WorkflowName, in)
	if err := env.GetWorkflowError(); err == nil {
		t.Fatal("a workflow without an order id succeeded")
	}
}

// TestReplay replays the histories in testdata (recorded from the example
// running against hookflow, see cmd/hookflow's TestDeveloperWorkflow): a
// change to FulfilOrder that breaks them would break running workflows.
func TestReplay(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) == 0 {
		t.Fatal("no saved histories in testdata")
	}
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(FulfilOrder, workflow.RegisterOptions{Name: WorkflowName})
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		h, err := client.HistoryFromJSON(fh, client.HistoryJSONOptions{})
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := r.ReplayWorkflowHistory(nil, h); err != nil {
			t.Errorf("replay %s: %v", f, err)
		}
	}
}
