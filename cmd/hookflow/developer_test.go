package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hookflow/hookflow/internal/ids"
	"github.com/hookflow/hookflow/internal/testenv"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/sdk/hookflow"
	"github.com/hookflow/hookflow/workflows"
)

// warehouse is the example's fake warehouse: it holds requests while asked to
// and answers each order with one shipment id, however often it is asked.
type warehouse struct {
	mu       sync.Mutex
	hold     chan struct{}
	asked    map[string]int
	inFlight int
}

func (w *warehouse) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var body struct {
		OrderID string `json:"order_id"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	w.mu.Lock()
	w.asked[body.OrderID]++
	w.inFlight++
	hold := w.hold
	w.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}
	w.mu.Lock()
	w.inFlight--
	w.mu.Unlock()
	_, _ = rw.Write([]byte(`{"shipment_id":"shp_` + body.OrderID + `"}`))
}

func (w *warehouse) state() (asked map[string]int, inFlight int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for k, v := range w.asked {
		out[k] = v
	}
	return out, w.inFlight
}

// TestDeveloperWorkflow: order.created → the automation's workflow.run step →
// the example's FulfilOrder in its own worker process on its own task queue →
// order.shipped emitted back → a second automation tells Slack. The worker is
// SIGKILLed while the warehouse holds its request and started again: the run
// completes once, Slack hears once, and the step's output is the shipment.
func TestDeveloperWorkflow(t *testing.T) {
	s := newStack(t)
	bin := filepath.Join(t.TempDir(), "fulfilment-worker")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/hookflow/hookflow/examples/fulfilment/worker").CombinedOutput(); err != nil {
		t.Fatalf("build the example worker: %v\n%s", err, out)
	}
	queue := "orders-" + ids.New("tq")
	ctx := context.Background()
	dev := testenv.StartProcess(ctx, t, testenv.Command{Path: bin,
		Env:   []string{"TEMPORAL_ADDRESS=" + temporalAddr, "ORDERS_TASK_QUEUE=" + queue},
		Ready: func(out string) bool { return strings.Contains(out, "polling "+queue) }})
	wh := &warehouse{asked: map[string]int{}, hold: make(chan struct{})}
	whSrv := httptest.NewServer(wh)
	t.Cleanup(whSrv.Close)
	slack := testenv.NewSlackReceiver(t, 200)
	s.createAutomation(`{"name":"fulfil","trigger":{"event_type":"order.created"},"steps":[
	 {"id":"fulfil","action":"workflow.run","params":{"workflow_type":"FulfilOrder","task_queue":"` + queue + `",
	   "input":{"warehouse_url":"` + whSrv.URL + `"},"timeout":"5m"}},
	 {"id":"note","action":"event.emit","params":{"type":"order.fulfilled","data":{"shipment":"{{ .steps.fulfil.shipment_id }}"}}}]}`)
	s.createAutomation(`{"name":"tell","trigger":{"event_type":"order.shipped"},"steps":[
	 {"id":"tell","action":"slack.post","params":{"webhook_url":"` + slack.URL + `","text":"shipped {{ .event.data.order_id }} as {{ .event.data.shipment_id }}"}}]}`)
	ev := s.sendEvent(map[string]any{"type": "order.created", "data": map[string]any{"order_id": "o-77"}})

	testenv.Eventually(t, 30*time.Second, func() bool { _, n := wh.state(); return n == 1 }, testenv.Msg("the warehouse holds the reservation"))
	dev.Kill()
	close(wh.hold)
	wh.mu.Lock()
	wh.hold = nil
	wh.mu.Unlock()
	time.Sleep(time.Second)
	dev.Start(ctx)

	r := s.waitRuns(ev.ID, 1, 90*time.Second)[0]
	if r.Status != models.RunSucceeded {
		t.Fatalf("run %s: %+v", r.Status, r.Steps)
	}
	var out map[string]any
	_ = json.Unmarshal(r.Steps[0].Output, &out)
	if out["shipment_id"] != "shp_o-77" || out["order_id"] != "o-77" {
		t.Errorf("step output %s, want the shipment", r.Steps[0].Output)
	}
	testenv.Until(30*time.Second, func() bool { return len(slack.Requests()) >= 1 })
	time.Sleep(time.Second) // a second message would come now
	if got := texts(slack); len(got) != 1 || got[0] != "shipped o-77 as shp_o-77" {
		t.Errorf("slack got %q, want once \"shipped o-77 as shp_o-77\"", got)
	}
	if asked, _ := wh.state(); asked["o-77"] < 1 {
		t.Errorf("warehouse asked %v", asked)
	}
	child := workflows.DeveloperWorkflowID(r.ID, "fulfil")
	desc, err := s.client.DescribeWorkflowExecution(ctx, child, "")
	if err != nil {
		t.Fatalf("describe %s: %v", child, err)
	}
	if tq := desc.GetExecutionConfig().GetTaskQueue().GetName(); tq != queue {
		t.Errorf("the developer's workflow ran on %q, want %q", tq, queue)
	}
	s.recordHistory(r.WorkflowID, "run_developer_workflow")
	if dir := os.Getenv("HOOKFLOW_RECORD_HISTORIES"); dir != "" {
		s.recordHistoryTo(child, filepath.Join("..", "..", "examples", "fulfilment", "testdata", "fulfil_order_worker_killed.json"))
	}
}

// TestDeveloperWorkflowFailsAndCancels: a developer's workflow that fails
// fails its step with the workflow's message; a run cancelled by cancel_on
// while its workflow.run step waits cancels the developer's workflow too.
func TestDeveloperWorkflowFailsAndCancels(t *testing.T) {
	s := newStack(t)
	queue := "dev-" + ids.New("tq")
	w := worker.New(s.client, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context, in hookflow.Input) (map[string]any, error) {
		if in.Event.Type == "job.broken" {
			return nil, temporal.NewApplicationError("the warehouse is on fire", "Fire")
		}
		return nil, workflow.Sleep(ctx, time.Hour)
	}, workflow.RegisterOptions{Name: "SlowJob"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	step := `"steps":[{"id":"job","action":"workflow.run","params":{"workflow_type":"SlowJob","task_queue":"` + queue + `"}}]`
	s.createAutomation(`{"name":"broken","trigger":{"event_type":"job.broken"},` + step + `}`)
	s.createAutomation(`{"name":"slow","trigger":{"event_type":"job.slow"},"cancel_on":[{"event_type":"job.stop","match":"data.id"}],` + step + `}`)

	broken := s.sendEvent(map[string]any{"type": "job.broken", "data": map[string]any{"id": "b"}})
	r := s.waitRuns(broken.ID, 1, 30*time.Second)[0]
	if r.Status != models.RunFailed || !strings.Contains(r.Error, "the warehouse is on fire") ||
		!strings.Contains(r.Steps[0].Error, "the warehouse is on fire") {
		t.Errorf("failed run %s %q, step %+v", r.Status, r.Error, r.Steps[0])
	}

	slow := s.sendEvent(map[string]any{"type": "job.slow", "data": map[string]any{"id": "s"}})
	var child string
	testenv.Eventually(t, 20*time.Second, func() bool {
		r := s.waitingRun(slow.ID)
		if r == nil || r.Steps[0].Status != models.RunRunning {
			return false
		}
		child = workflows.DeveloperWorkflowID(r.ID, "job")
		_, err := s.client.DescribeWorkflowExecution(context.Background(), child, "")
		return err == nil
	}, testenv.Msg("the developer's workflow running"))
	s.sendEvent(map[string]any{"type": "job.stop", "data": map[string]any{"id": "s"}})
	if r := s.waitRuns(slow.ID, 1, 20*time.Second)[0]; r.Status != models.RunCancelled {
		t.Errorf("run %s, want cancelled", r.Status)
	}
	testenv.Eventually(t, 20*time.Second, func() bool {
		d, err := s.client.DescribeWorkflowExecution(context.Background(), child, "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED
	}, testenv.Msg("the developer's workflow cancelled with the run"))
}
