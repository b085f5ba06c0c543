// Package fulfilment is a complete developer worker, as a developer with their
// own service would write it: an order fulfilment workflow on task queue
// "orders" that an automation's workflow.run step starts for order.created,
// reserves the order at a (fake) warehouse, emits order.shipped back into
// hookflow and returns the shipment. It uses only the Temporal SDK and
// hookflow's public sdk/hookflow package. docs/WORKFLOWS.md walks through it.
package fulfilment

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hookflow/hookflow/sdk/hookflow"
)

// TaskQueue is where the worker polls, and what the automation's step names.
const TaskQueue = "orders"

// WorkflowName is the workflow type the step names.
const WorkflowName = "FulfilOrder"

// Params is the step's params.input: where the warehouse is.
type Params struct {
	WarehouseURL string `json:"warehouse_url"`
}

// Order is what the workflow reads of the event's data.
type Order struct {
	OrderID string `json:"order_id"`
}

// Shipment is the workflow's result: the step's output in hookflow
// (steps.<id>.shipment_id).
type Shipment struct {
	OrderID    string `json:"order_id"`
	ShipmentID string `json:"shipment_id"`
	EventID    string `json:"shipped_event_id"`
}

// FulfilOrder reserves the order at the warehouse (an activity on this
// worker, retried until the warehouse answers), then emits order.shipped
// (an activity on hookflow's workers, deduplicated) and returns the shipment.
func FulfilOrder(ctx workflow.Context, in hookflow.Input) (Shipment, error) {
	var order Order
	if err := json.Unmarshal(in.Event.Data, &order); err != nil || order.OrderID == "" {
		return Shipment{}, temporal.NewNonRetryableApplicationError("the event has no data.order_id", "BadOrder", err)
	}
	var p Params
	if len(in.Params) > 0 {
		if err := json.Unmarshal(in.Params, &p); err != nil {
			return Shipment{}, temporal.NewNonRetryableApplicationError("input: "+err.Error(), "BadInput", err)
		}
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 20 * time.Second,
		HeartbeatTimeout:    0,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 500 * time.Millisecond, MaximumInterval: 5 * time.Second},
	})
	var reserved Reservation
	if err := workflow.ExecuteActivity(actx, ReserveActivity, ReserveInput{WarehouseURL: p.WarehouseURL, OrderID: order.OrderID}).Get(ctx, &reserved); err != nil {
		return Shipment{}, err
	}
	ev, err := hookflow.EmitEvent(ctx, in, "shipped", "order.shipped", map[string]any{
		"order_id": order.OrderID, "shipment_id": reserved.ShipmentID})
	if err != nil {
		return Shipment{}, err
	}
	return Shipment{OrderID: order.OrderID, ShipmentID: reserved.ShipmentID, EventID: ev.EventID}, nil
}

// ReserveActivity is the activity's registered name.
const ReserveActivity = "ReserveAtWarehouse"

// ReserveInput is an order to reserve.
type ReserveInput struct {
	WarehouseURL string
	OrderID      string
}

// Reservation is the warehouse's answer.
type Reservation struct {
	ShipmentID string `json:"shipment_id"`
}

// Reserve asks the warehouse to reserve the order: a POST the warehouse
// deduplicates by order id (Idempotency-Key), so an attempt made again after
// a crash reserves nothing twice.
func Reserve(ctx context.Context, in ReserveInput) (Reservation, error) {
	body, _ := json.Marshal(map[string]string{"order_id": in.OrderID})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.WarehouseURL, bytes.NewReader(body))
	if err != nil {
		return Reservation{}, temporal.NewNonRetryableApplicationError("warehouse URL: "+err.Error(), "BadInput", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "reserve-"+in.OrderID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Reservation{}, fmt.Errorf("warehouse: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return Reservation{}, fmt.Errorf("warehouse: HTTP %d %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	var r Reservation
	if err := json.Unmarshal(b, &r); err != nil || r.ShipmentID == "" {
		return Reservation{}, fmt.Errorf("warehouse: answer %q has no shipment_id", b)
	}
	return r, nil
}
