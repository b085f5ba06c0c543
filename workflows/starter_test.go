package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/hookflow/hookflow/models"
)

// startRecorder is a client.Client that keeps the workflows started through it and,
// like the server under WORKFLOW_ID_CONFLICT_POLICY_FAIL, refuses a second start of
// an ID that is still running. Everything else is the nil interface: not called.
type startRecorder struct {
	client.Client
	mu      sync.Mutex
	started map[string]string // workflow ID -> workflow type name
	order   []string
}

func (c *startRecorder) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, wf any, _ ...any) (client.WorkflowRun, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.started[o.ID]; ok {
		return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("already started", "", "")
	}
	if c.started == nil {
		c.started = map[string]string{}
	}
	name, _ := wf.(string)
	c.started[o.ID] = name
	c.order = append(c.order, o.ID)
	return nil, nil
}

// TestRetryRunOncePerFailedState retries runs the way a user clicking "retry" does:
// twice on the same failed state must start one workflow and report no error
// either time; a run that failed again after its retry must start a new one.
func TestRetryRunOncePerFailedState(t *testing.T) {
	failedAt := time.Date(2026, 11, 23, 20, 5, 50, 0, time.UTC)
	failedAgain := failedAt.Add(time.Hour)
	run := func(at time.Time) models.AutomationRun {
		return models.AutomationRun{ID: "run_1", WorkspaceID: "ws_1", AutomationID: "aut_1", WorkflowID: "run/aut_1/evt_1",
			Status: models.RunFailed, FinishedAt: &at, UpdatedAt: at}
	}
	tests := []struct {
		name    string
		retries []models.AutomationRun
		want    []string
	}{
		{"double click", []models.AutomationRun{run(failedAt), run(failedAt)},
			[]string{"run/aut_1/evt_1/retry/1795464350000"}},
		{"failed again after its retry", []models.AutomationRun{run(failedAt), run(failedAt), run(failedAgain)},
			[]string{"run/aut_1/evt_1/retry/1795464350000", "run/aut_1/evt_1/retry/1795467950000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &startRecorder{}
			s := NewStarter(c, "")
			for i, r := range tt.retries {
				if err := s.RetryRun(context.Background(), r); err != nil {
					t.Fatalf("retry %d: %v", i+1, err)
				}
			}
			if len(c.order) != len(tt.want) {
				t.Fatalf("started %v, want %v", c.order, tt.want)
			}
			for i, id := range tt.want {
				if c.order[i] != id {
					t.Errorf("workflow %d: got %s, want %s", i+1, c.order[i], id)
				}
				if got := c.started[id]; got != AutomationRunWorkflowName {
					t.Errorf("workflow %s is a %q, want %q", id, got, AutomationRunWorkflowName)
				}
			}
		})
	}
}

// TestRetryDeliveryOncePerAttemptCount is the delivery's counterpart: the second
// click on the same failed delivery is a conflict, not a second workflow.
func TestRetryDeliveryOncePerAttemptCount(t *testing.T) {
	c := &startRecorder{}
	s := NewStarter(c, "")
	d := models.Delivery{ID: "dlv_1", WorkspaceID: "ws_1", EndpointID: "ep_1", EventType: "order.placed", AttemptCount: 8}
	if err := s.RetryDelivery(context.Background(), d); err != nil {
		t.Fatalf("first retry: %v", err)
	}
	if err := s.RetryDelivery(context.Background(), d); !errors.Is(err, models.ErrConflict) {
		t.Errorf("second retry of the same state: %v, want a conflict", err)
	}
	if want := []string{"delivery-retry/dlv_1/8"}; len(c.order) != 1 || c.order[0] != want[0] {
		t.Errorf("started %v, want %v", c.order, want)
	}
}
