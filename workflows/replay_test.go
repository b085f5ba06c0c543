package workflows

import (
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays every history saved in testdata (recorded from
// real runs on the embedded server; see cmd/hookflow's HOOKFLOW_RECORD_HISTORIES).
// A change to a workflow that would break runs already in flight fails here, before
// it ships: change such workflows by the versioning rule in contract.go (a new input
// flag the Starter sets; the old path stays until no run without it can replay).
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata")
	}
	recorded := map[string]bool{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			for _, wf := range Workflows() {
				r.RegisterWorkflowWithOptions(wf.Func, workflow.RegisterOptions{Name: wf.Name})
			}
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			h, err := client.HistoryFromJSON(fh, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			recorded[h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()] = true
			if err := r.ReplayWorkflowHistory(nil, h); err != nil {
				t.Errorf("replay %s: %v", f, err)
			}
		})
	}
	// A workflow without a saved history is one whose changes nothing checks.
	for _, wf := range Workflows() {
		if !recorded[wf.Name] {
			t.Errorf("no saved history of %s in testdata", wf.Name)
		}
	}
}
