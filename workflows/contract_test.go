package workflows_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hookflow/hookflow/activities/delivery"
	"github.com/hookflow/hookflow/activities/runs"
	"github.com/hookflow/hookflow/models"
	"github.com/hookflow/hookflow/workflows"
)

// nameRecorder is a worker.Registry that keeps the names things are registered
// under. Registering without a name would leave the SDK to derive one from the Go
// function, which is what the contract forbids, so those calls are recorded as such.
type nameRecorder struct {
	worker.Registry
	workflows, activities []string
}

func (r *nameRecorder) RegisterWorkflow(any) { r.workflows = append(r.workflows, "(unnamed)") }
func (r *nameRecorder) RegisterWorkflowWithOptions(_ any, o workflow.RegisterOptions) {
	r.workflows = append(r.workflows, o.Name)
}
func (r *nameRecorder) RegisterActivity(any) { r.activities = append(r.activities, "(unnamed)") }
func (r *nameRecorder) RegisterActivityWithOptions(_ any, o activity.RegisterOptions) {
	r.activities = append(r.activities, o.Name)
}

// registerAll registers what the worker does (cmd/hookflow's newWorker): the
// workflows and both activity packages.
func registerAll(r worker.Registry) {
	workflows.Register(r)
	delivery.New(nil, nil, nil, nil, delivery.Config{}).Register(r)
	runs.New(nil, nil, nil, runs.Config{}).Register(r)
}

// TestRegisteredNames checks that the worker registers exactly the contract's
// names, each explicitly: a helper method exported on Activities must not become
// an activity, and a rename of a Go function must not change a name.
func TestRegisteredNames(t *testing.T) {
	r := &nameRecorder{}
	registerAll(r)
	tests := []struct {
		kind      string
		got, want []string
	}{
		{"workflows", r.workflows, []string{"AutomationRunWorkflow", "BatchWorkflow", "ConcurrencyWorkflow", "CountWorkflow",
			"DebounceWorkflow", "DeliveryRetryWorkflow", "EventWorkflow", "ThrottleWorkflow"}},
		{"activities", r.activities, []string{"CloseWait", "Deliver", "FinishChildStep", "FinishRun", "LoadRun", "PrepareBatch", "PrepareEvent", "RunStep",
			"StartDelivery", "StartFlowRun"}},
	}
	for _, tt := range tests {
		sort.Strings(tt.got)
		if !slices.Equal(tt.got, tt.want) {
			t.Errorf("%s registered: got %v, want %v", tt.kind, tt.got, tt.want)
		}
	}
}

// TestHistoriesUseRegisteredNames reads every saved history for the workflow,
// child workflow, activity and local activity types it names: each must be one the
// worker registers, or running workflows of that shape would stall on a new worker.
func TestHistoriesUseRegisteredNames(t *testing.T) {
	r := &nameRecorder{}
	registerAll(r)
	known := map[string]bool{}
	for _, n := range append(r.workflows, r.activities...) {
		known[n] = true
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no saved histories: %v", err)
	}
	for _, f := range files {
		for _, name := range typesNamedIn(t, f) {
			if !known[name] {
				t.Errorf("%s names %q, which the worker does not register", filepath.Base(f), name)
			}
		}
	}
}

// loadHistory reads a saved history.
func loadHistory(t *testing.T, file string) *historypb.History {
	t.Helper()
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	h, err := client.HistoryFromJSON(fh, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// localActivityType is the activity type a LocalActivity marker records.
func localActivityType(t *testing.T, file string, a *historypb.MarkerRecordedEventAttributes) string {
	t.Helper()
	var m struct{ ActivityType string }
	p := a.GetDetails()["data"].GetPayloads()
	if len(p) == 0 || converter.GetDefaultDataConverter().FromPayload(p[0], &m) != nil {
		t.Fatalf("%s: unreadable local activity marker", file)
	}
	return m.ActivityType
}

// typesNamedIn lists the workflow and activity type names a saved history records.
func typesNamedIn(t *testing.T, file string) []string {
	t.Helper()
	h := loadHistory(t, file)
	var names []string
	for _, ev := range h.GetEvents() {
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			names = append(names, a.GetWorkflowType().GetName())
		}
		if a := ev.GetStartChildWorkflowExecutionInitiatedEventAttributes(); a != nil && !strings.HasPrefix(a.GetWorkflowId(), "wfrun/") {
			// (A workflow.run step's child, wfrun/…, is the developer's
			// workflow on their task queue, not hookflow's to register.)
			names = append(names, a.GetWorkflowType().GetName())
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			names = append(names, a.GetActivityType().GetName())
		}
		if a := ev.GetMarkerRecordedEventAttributes(); a != nil && a.GetMarkerName() == "LocalActivity" {
			names = append(names, localActivityType(t, file, a))
		}
	}
	if len(names) == 0 {
		t.Fatalf("%s names no types", file)
	}
	return names
}

// legacyEventInput is EventWorkflowInput as it was when it embedded models.Event:
// the shape of the payloads the saved histories hold.
type legacyEventInput struct {
	Event             models.Event
	DedupKey          string
	OnlyEndpointID    string
	FirstAttemptLocal bool `json:",omitempty"`
	// Added with the flag (its payloads hold it).
	FirstAttemptsBeforeRunsStart bool `json:",omitempty"`
}

// TestEventPayloadMatchesHistories decodes the input of every saved EventWorkflow
// history into EventWorkflowInput and encodes it again: it must hold the JSON
// recorded, and the JSON the old input (with models.Event) encodes, key for key, so
// runs in flight decode into the workflows' own Event exactly as they did before.
func TestEventPayloadMatchesHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "event_*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no saved EventWorkflow histories: %v", err)
	}
	full := legacyEventInput{Event: models.Event{ID: "evt_1", WorkspaceID: "ws_1", Type: "order.placed",
		ExternalID: "ord-1", IdempotencyKey: "k-1", SourceID: "src_1", Data: json.RawMessage(`{"a":1}`),
		Headers: map[string]string{"x-a": "b"}, Depth: 2, RootID: "evt_0",
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}, DedupKey: "id:ord-1", OnlyEndpointID: "ep_1",
		FirstAttemptLocal: true}
	every, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	payloads := map[string][]byte{"every field set": every}
	for _, f := range files {
		payloads[filepath.Base(f)] = startInput(t, f)
	}
	for name, recorded := range payloads {
		t.Run(name, func(t *testing.T) {
			var in workflows.EventWorkflowInput
			if err := json.Unmarshal(recorded, &in); err != nil {
				t.Fatalf("decode into EventWorkflowInput: %v", err)
			}
			var old legacyEventInput
			if err := json.Unmarshal(recorded, &old); err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(in)
			want, _ := json.Marshal(old)
			if !sameJSON(got, recorded) || !sameJSON(want, recorded) {
				t.Errorf("encoded again:\n new %s\n old %s\nwant %s", got, want, recorded)
			}
			if in.Event.ID == "" || in.Event.WorkspaceID == "" || in.Event.Type == "" || in.DedupKey == "" || in.Event.CreatedAt.IsZero() {
				t.Errorf("decoded %+v: id, workspace, type, dedup key or time missing", in)
			}
			if back := in.Event.Model(in.DedupKey); back.ID != old.Event.ID || back.DedupKey != old.DedupKey || !back.CreatedAt.Equal(old.Event.CreatedAt) {
				t.Errorf("Model() = %+v, want the event %+v with dedup key %q", back, old.Event, old.DedupKey)
			}
		})
	}
}

// startInput is the raw JSON input a saved history's workflow was started with.
func startInput(t *testing.T, file string) []byte {
	t.Helper()
	p := loadHistory(t, file).GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
	if len(p) != 1 {
		t.Fatalf("%s: %d input payloads, want 1", file, len(p))
	}
	return p[0].GetData()
}

// retiredFields are payload fields the workflows no longer read (by activity type):
// they may be in saved histories and are dropped when decoded.
var retiredFields = map[string][]string{
	// Runs that waited on a timer after a local first attempt set it; attempts are
	// now counted on record.
	workflows.RunStepActivity: {"BaseAttempts"},
}

// TestActivityPayloadsMatchHistories decodes every activity input and every local
// activity result the saved histories hold into the workflows' own payload types
// and encodes it again: every field recorded must come back with its value (but for
// retiredFields), so a type that lost or renamed a field fails here.
func TestActivityPayloadsMatchHistories(t *testing.T) {
	inputs := map[string]func() any{
		workflows.DeliverActivity: func() any { return &workflows.DeliverInput{} },
		workflows.RunStepActivity: func() any { return &workflows.RunStepInput{} },
	}
	results := map[string]func() any{
		workflows.PrepareEventActivity: func() any { return &workflows.PrepareEventResult{} },
		workflows.DeliverActivity:      func() any { return &workflows.DeliverResult{} },
		workflows.LoadRunActivity:      func() any { return &workflows.LoadRunResult{} },
		workflows.RunStepActivity:      func() any { return &workflows.RunStepResult{} },
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no saved histories: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		for _, p := range activityPayloads(t, f) {
			newType := inputs[p.activity]
			if p.result {
				newType = results[p.activity]
			}
			if newType == nil {
				continue
			}
			seen[p.activity] = true
			v := newType()
			if err := json.Unmarshal(p.data, v); err != nil {
				t.Errorf("%s: %s payload does not decode: %v", filepath.Base(f), p.activity, err)
				continue
			}
			again, _ := json.Marshal(v)
			var want, got map[string]any
			_ = json.Unmarshal(p.data, &want)
			_ = json.Unmarshal(again, &got)
			for _, k := range retiredFields[p.activity] {
				delete(want, k)
			}
			for k, w := range want {
				if g, _ := json.Marshal(got[k]); string(g) != mustMarshal(w) {
					t.Errorf("%s: %s payload field %s = %s after decoding, recorded %s", filepath.Base(f), p.activity, k, g, mustMarshal(w))
				}
			}
		}
	}
	for _, a := range []string{workflows.PrepareEventActivity, workflows.DeliverActivity, workflows.LoadRunActivity, workflows.RunStepActivity} {
		if !seen[a] {
			t.Errorf("no saved history holds a %s payload", a)
		}
	}
}

// sameJSON reports whether a and b are the same JSON value (objects compared key
// for key, whatever their order).
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return mustMarshal(x) == mustMarshal(y)
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

type activityPayload struct {
	activity string
	result   bool // a local activity's result, else an activity's input
	data     []byte
}

// activityPayloads lists the activity inputs and local activity results a saved
// history records.
func activityPayloads(t *testing.T, file string) []activityPayload {
	t.Helper()
	h := loadHistory(t, file)
	var out []activityPayload
	for _, ev := range h.GetEvents() {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			for _, p := range a.GetInput().GetPayloads() {
				out = append(out, activityPayload{activity: a.GetActivityType().GetName(), data: p.GetData()})
			}
		}
		if a := ev.GetMarkerRecordedEventAttributes(); a != nil && a.GetMarkerName() == "LocalActivity" {
			name := localActivityType(t, file, a)
			for _, r := range a.GetDetails()["result"].GetPayloads() {
				out = append(out, activityPayload{activity: name, result: true, data: r.GetData()})
			}
		}
	}
	return out
}

// TestFirstAttemptsNeverCloseWithRuns reads the saved EventWorkflow histories
// started with FirstAttemptsBeforeRunsStart: where the event started automation
// runs, no workflow task that records a first attempt's result also closes the
// workflow. Such a task is refused by Temporal when a child run reported meanwhile,
// and its replay would make the attempts again (each receiver would get the event
// twice); histories recorded before the flag show that shape.
func TestFirstAttemptsNeverCloseWithRuns(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "event_*.json"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		var in workflows.EventWorkflowInput
		if err := json.Unmarshal(startInput(t, f), &in); err != nil {
			t.Fatal(err)
		}
		h := loadHistory(t, f)
		children, shape := false, taskShapes(t, f, h)
		for _, ev := range h.GetEvents() {
			children = children || ev.GetStartChildWorkflowExecutionInitiatedEventAttributes() != nil
		}
		if !in.FirstAttemptsBeforeRunsStart || !children {
			continue
		}
		checked++
		for i, s := range shape {
			if s.delivers && s.closes {
				t.Errorf("%s: workflow task %d records a Deliver result and closes the workflow", filepath.Base(f), i+1)
			}
		}
	}
	if checked == 0 {
		t.Error("no saved history of an event with runs started with FirstAttemptsBeforeRunsStart")
	}
}

type taskShape struct{ delivers, closes bool }

// taskShapes is, per completed workflow task, whether its commands recorded a
// Deliver local activity and whether they closed the workflow.
func taskShapes(t *testing.T, file string, h *historypb.History) []taskShape {
	t.Helper()
	var out []taskShape
	open := false // between a task's completion and the next task: its commands
	for _, ev := range h.GetEvents() {
		switch {
		case ev.GetWorkflowTaskCompletedEventAttributes() != nil:
			out, open = append(out, taskShape{}), true
		case ev.GetWorkflowTaskScheduledEventAttributes() != nil:
			open = false
		case !open:
		case ev.GetMarkerRecordedEventAttributes() != nil && ev.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity":
			if localActivityType(t, file, ev.GetMarkerRecordedEventAttributes()) == workflows.DeliverActivity {
				out[len(out)-1].delivers = true
			}
		case ev.GetWorkflowExecutionCompletedEventAttributes() != nil || ev.GetWorkflowExecutionFailedEventAttributes() != nil:
			out[len(out)-1].closes = true
		}
	}
	return out
}
