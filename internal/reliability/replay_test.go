//go:build reliability

package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hookflow/hookflow/workflows"
)

// TestReplayHistories replays every saved history in workflows/testdata with the
// SDK's replayer and the workflows as this commit registers them: a change that
// would break workflows already running fails here.
func TestReplayHistories(t *testing.T) {
	rep := scenario(t, 8, "Replay of saved workflow histories")
	files, err := filepath.Glob(filepath.Join("..", "..", "workflows", "testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no saved histories in workflows/testdata")
	}
	var failed []string
	for _, f := range files {
		r := worker.NewWorkflowReplayer()
		for _, wf := range workflows.Workflows() {
			r.RegisterWorkflowWithOptions(wf.Func, workflow.RegisterOptions{Name: wf.Name})
		}
		raw, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		h, err := client.HistoryFromJSON(raw, client.HistoryJSONOptions{})
		raw.Close()
		if err == nil {
			err = r.ReplayWorkflowHistory(nil, h)
		}
		if err != nil {
			failed = append(failed, filepath.Base(f))
			t.Errorf("replay %s: %v", filepath.Base(f), err)
		}
	}
	rep.Sent = fmt.Sprintf("%d histories", len(files))
	rep.Delivered = fmt.Sprintf("%d replayed", len(files)-len(failed))
	rep.Lost = "n/a"
	rep.Checks = fmt.Sprintf("%d failed to replay", len(failed))
	if len(failed) > 0 {
		rep.Checks += ": " + strings.Join(failed, ", ")
	}
}
